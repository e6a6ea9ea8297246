#include "backend/consumer/batch_builder.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "backend/grouping/grouping.h"
#include "protocol/json_value.h"

namespace tern::backend::consumer {
namespace {

constexpr int64_t kHour = 3600;

std::string Truncated(std::string_view s, size_t max = 200) {
  return std::string(s.substr(0, std::min(s.size(), max)));
}

// Adds one session message (Relay's SessionKafkaMessage) to `delta`.
// seq 0 marks a session's first update (Relay writes init updates so), and
// an aggregate group's message, which stands for sessions that started and
// ended: both count as started. The terminal status counts once per session
// (the SDK sends it once): exited without errors is healthy, exited with
// errors or errored is errored, crashed and abnormal count as themselves.
// "ok" is an update of a running session and counts nothing more.
bool AddSessionCounts(const protocol::JsonValue& m, int64_t quantity,
                      storage::SessionDelta* delta, std::string* error) {
  const std::string_view status = m["status"].string();
  const int64_t errors = m["errors"].integer().value_or(0);
  const int64_t seq = m["seq"].integer().value_or(0);
  if (seq == 0) delta->started += quantity;
  if (status == "exited") {
    (errors > 0 ? delta->errored : delta->healthy) += quantity;
  } else if (status == "errored") {
    delta->errored += quantity;
  } else if (status == "crashed") {
    delta->crashed += quantity;
  } else if (status == "abnormal") {
    delta->abnormal += quantity;
  } else if (status != "ok") {
    *error = absl::StrCat("unknown session status \"", Truncated(status), "\"");
    return false;
  }
  return true;
}

}  // namespace

std::string_view DeadLetterReasonName(DeadLetterReason reason) {
  static constexpr std::string_view kNames[] = {
#define TERN_X(name, help) #name,
      TERN_DEAD_LETTER_REASONS(TERN_X)
#undef TERN_X
  };
  return kNames[static_cast<size_t>(reason)];
}

BatchBuilder::BatchBuilder(TopicNames topics) : topics_(std::move(topics)) {}
BatchBuilder::~BatchBuilder() = default;

void BatchBuilder::Build(std::span<const kafka::Message> messages,
                         const std::function<bool(int64_t)>& project_exists,
                         storage::Batch* batch, std::vector<DeadLetter>* dead) {
  batch->events.clear();
  batch->sessions.clear();
  batch->offsets.clear();
  dead->clear();
  event_sources_.clear();
  // (topic, partition) -> the offset after the last message seen.
  std::map<std::pair<std::string_view, int32_t>, int64_t> next;

  for (size_t i = 0; i < messages.size(); ++i) {
    const kafka::Message& message = messages[i];
    int64_t& next_offset = next[{message.topic, message.partition}];
    next_offset = std::max(next_offset, message.offset + 1);
    auto drop = [&](DeadLetterReason reason, std::string detail) {
      dead->push_back(DeadLetter{i, reason, std::move(detail)});
    };

    if (message.topic == topics_.sessions) {
      std::string error;
      bool unknown = false;
      if (!AddSession(message, project_exists, batch, &error, &unknown)) {
        drop(unknown ? DeadLetterReason::k_unknown_project
                     : DeadLetterReason::k_bad_session,
             std::move(error));
      }
      continue;
    }

    if (absl::Status s = decoder_.Decode(message.value, &decoded_); !s.ok()) {
      drop(DeadLetterReason::k_bad_message, std::string(s.message()));
      continue;
    }
    if (auto* event = std::get_if<protocol::EventMessage>(&decoded_)) {
      const int64_t project = static_cast<int64_t>(event->project_id);
      if (!project_exists(project)) {
        drop(DeadLetterReason::k_unknown_project,
             absl::StrCat("project ", project));
        // Its chunks will never be stored either.
        for (const protocol::ChunkedAttachment& a : event->attachments) {
          auto it = pending_.find(
              {project, event->event_id.ToHex(), std::string(a.id)});
          if (it == pending_.end()) continue;
          for (const auto& [index, data] : it->second.chunks) {
            pending_bytes_ -= data.size();
          }
          pending_.erase(it);
        }
        continue;
      }
      const size_t before = batch->events.size();
      AddEvent(*event, message.topic == topics_.transactions, batch);
      if (batch->events.size() == before) {
        drop(DeadLetterReason::k_bad_payload, last_error_);
      } else {
        event_sources_.push_back(i);
      }
    } else if (auto* chunk =
                   std::get_if<protocol::AttachmentChunkMessage>(&decoded_)) {
      AddChunk(message, *chunk);
    } else if (std::holds_alternative<protocol::AttachmentMessage>(decoded_)) {
      drop(DeadLetterReason::k_unsupported,
           "attachment without an event is not stored");
    } else if (std::holds_alternative<protocol::UserReportMessage>(decoded_)) {
      drop(DeadLetterReason::k_unsupported, "user reports are not stored");
    } else {
      drop(DeadLetterReason::k_unsupported, "forwarded items are not stored");
    }
  }
  EvictIfNeeded();

  // A partition's offset must not pass a chunk still waiting for its event.
  for (const auto& [key, pending] : pending_) {
    auto it = next.find({pending.topic, pending.partition});
    if (it != next.end()) {
      it->second = std::min(it->second, pending.first_offset);
    }
  }
  for (const auto& [tp, offset] : next) {
    batch->offsets.push_back(
        storage::PartitionOffset{std::string(tp.first), tp.second, offset});
  }
}

void BatchBuilder::AddEvent(const protocol::EventMessage& event,
                            bool transaction_topic, storage::Batch* batch) {
  absl::StatusOr<grouping::EventFacts> facts = grouping::Analyze(event.payload);
  const int64_t project = static_cast<int64_t>(event.project_id);
  const std::string event_id = event.event_id.ToHex();
  if (!facts.ok()) {
    last_error_ = std::string(facts.status().message());
    return;
  }
  storage::EventRecord& record = batch->events.emplace_back();
  record.project_id = project;
  record.event_id = event_id;
  record.is_transaction = transaction_topic || facts->is_transaction;
  if (!record.is_transaction) {
    record.hashes = facts->hashes.ordered;
    record.issue.title = std::move(facts->title);
    record.issue.culprit = std::move(facts->culprit);
    record.issue.level = facts->level;
    record.issue.metadata_type = std::move(facts->metadata_type);
    record.issue.metadata_value = std::move(facts->metadata_value);
    record.issue.metadata_filename = std::move(facts->metadata_filename);
    record.issue.metadata_function = std::move(facts->metadata_function);
  }
  record.received_ms = static_cast<int64_t>(event.start_time) * 1000;
  record.timestamp_ms = facts->timestamp_ms.value_or(record.received_ms);
  record.level = std::move(facts->level);
  record.release = std::move(facts->release);
  record.environment = std::move(facts->environment);
  record.platform = std::move(facts->platform);
  record.tags_json = std::move(facts->tags_json);
  record.payload.assign(event.payload);

  for (const protocol::ChunkedAttachment& a : event.attachments) {
    auto it = pending_.find({project, event_id, std::string(a.id)});
    const bool complete =
        it != pending_.end() && it->second.chunks.size() == a.chunks &&
        (a.chunks == 0 || it->second.chunks.rbegin()->first == a.chunks - 1);
    if (a.chunks == 0 || complete) {
      storage::Attachment& out = record.attachments.emplace_back();
      out.attachment_id = std::string(a.id);
      out.name = std::string(a.name);
      out.content_type = std::string(a.content_type.value_or(""));
      out.attachment_type = std::string(a.attachment_type);
      if (it != pending_.end()) {
        for (auto& [index, data] : it->second.chunks) out.data.append(data);
      }
    } else {
      ++counts_.attachments_incomplete;
    }
    if (it != pending_.end()) {
      for (const auto& [index, data] : it->second.chunks) {
        pending_bytes_ -= data.size();
      }
      pending_.erase(it);
    }
  }
}

void BatchBuilder::AddChunk(const kafka::Message& message,
                            const protocol::AttachmentChunkMessage& chunk) {
  PendingKey key{static_cast<int64_t>(chunk.project_id), chunk.event_id.ToHex(),
                 std::string(chunk.id)};
  auto [it, inserted] = pending_.try_emplace(std::move(key));
  PendingAttachment& pending = it->second;
  if (inserted) {
    pending.topic = std::string(message.topic);
    pending.partition = message.partition;
    pending.first_offset = message.offset;
    pending.sequence = sequence_++;
  }
  auto [chunk_it, new_chunk] =
      pending.chunks.try_emplace(chunk.chunk_index, chunk.payload);
  // A chunk read twice (a replay) replaces itself; count its bytes once.
  if (new_chunk) pending_bytes_ += chunk_it->second.size();
}

bool BatchBuilder::AddSession(
    const kafka::Message& message,
    const std::function<bool(int64_t)>& project_exists, storage::Batch* batch,
    std::string* error, bool* unknown_project) {
  absl::StatusOr<protocol::JsonValue> json = protocol::ParseJson(message.value);
  if (!json.ok()) {
    *error = std::string(json.status().message());
    return false;
  }
  const protocol::JsonValue& m = *json;
  const std::optional<int64_t> project = m["project_id"].integer();
  const protocol::JsonValue& started = m["started"];
  if (!project.has_value() || *project <= 0 || !started.is_number() ||
      !m["status"].is_string() || !m["release"].is_string()) {
    *error = "missing or invalid project_id, started, status or release";
    return false;
  }
  if (!project_exists(*project)) {
    *unknown_project = true;
    *error = absl::StrCat("project ", *project);
    return false;
  }
  const int64_t quantity = m["quantity"].integer().value_or(1);
  if (quantity < 0) {
    *error = "negative quantity";
    return false;
  }
  const double started_s = started.number();
  if (!std::isfinite(started_s) || started_s < 0 || started_s > 1e11) {
    *error = "started out of range";
    return false;
  }
  const int64_t hour =
      static_cast<int64_t>(std::floor(started_s / kHour)) * kHour;
  const std::string_view release = m["release"].string();
  const std::string_view environment = m["environment"].string();
  storage::SessionDelta* delta = nullptr;
  for (storage::SessionDelta& d : batch->sessions) {
    if (d.project_id == *project && d.hour_s == hour && d.release == release &&
        d.environment == environment) {
      delta = &d;
      break;
    }
  }
  storage::SessionDelta candidate;
  candidate.project_id = *project;
  candidate.release = std::string(release);
  candidate.environment = std::string(environment);
  candidate.hour_s = hour;
  if (!AddSessionCounts(m, quantity, delta != nullptr ? delta : &candidate,
                        error)) {
    return false;
  }
  if (delta == nullptr) batch->sessions.push_back(std::move(candidate));
  return true;
}

void BatchBuilder::EvictIfNeeded() {
  while (pending_bytes_ > kMaxPendingChunkBytes && !pending_.empty()) {
    auto oldest = std::min_element(
        pending_.begin(), pending_.end(), [](const auto& a, const auto& b) {
          return a.second.sequence < b.second.sequence;
        });
    for (const auto& [index, data] : oldest->second.chunks) {
      pending_bytes_ -= data.size();
    }
    ++counts_.chunks_evicted;
    pending_.erase(oldest);
  }
}

}  // namespace tern::backend::consumer
