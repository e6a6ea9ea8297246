#include "backend/consumer/batch_builder.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "backend/grouping/grouping.h"
#include "protocol/json_value.h"

namespace tern::backend::consumer {
namespace {

constexpr int64_t kHour = 3600;

std::string Truncated(std::string_view s, size_t max = 200) {
  return std::string(s.substr(0, std::min(s.size(), max)));
}

// Which column a session message's status counts in, besides "started";
// nullptr for "ok" (an update of a running session). seq 0 marks a
// session's first update (Relay writes init updates so) and an aggregate
// group's message, which stands for sessions that started and ended: both
// count as started. The terminal status counts once per session (the SDK
// sends it once): exited without errors is healthy, exited with errors or
// errored is errored, crashed and abnormal count as themselves.
absl::StatusOr<int64_t storage::SessionDelta::*> StatusColumn(
    std::string_view status, int64_t errors) {
  if (status == "exited") {
    return errors > 0 ? &storage::SessionDelta::errored
                      : &storage::SessionDelta::healthy;
  }
  if (status == "errored") return &storage::SessionDelta::errored;
  if (status == "crashed") return &storage::SessionDelta::crashed;
  if (status == "abnormal") return &storage::SessionDelta::abnormal;
  if (status == "ok") return nullptr;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown session status \"", Truncated(status), "\""));
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
      if (absl::Status s = AddSession(message, project_exists, batch);
          !s.ok()) {
        drop(absl::IsNotFound(s) ? DeadLetterReason::k_unknown_project
                                 : DeadLetterReason::k_bad_session,
             std::string(s.message()));
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
        const std::string event_id = event->event_id.ToHex();
        for (const protocol::ChunkedAttachment& a : event->attachments) {
          auto it = pending_.find({project, event_id, std::string(a.id)});
          if (it != pending_.end()) ErasePending(it);
        }
        continue;
      }
      if (absl::Status s =
              AddEvent(*event, message.topic == topics_.transactions, batch);
          !s.ok()) {
        drop(DeadLetterReason::k_bad_payload, std::string(s.message()));
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

absl::Status BatchBuilder::AddEvent(const protocol::EventMessage& event,
                                    bool transaction_topic,
                                    storage::Batch* batch) {
  const int64_t project = static_cast<int64_t>(event.project_id);
  std::optional<std::string> rewritten;
  if (preprocess_) rewritten = preprocess_(project, event.payload);
  const std::string_view payload = rewritten ? std::string_view(*rewritten)
                                             : std::string_view(event.payload);
  absl::StatusOr<grouping::EventFacts> facts = grouping::Analyze(
      payload, project_grouping_ ? project_grouping_(project)
                                 : grouping::ProjectGrouping{});
  if (!facts.ok()) return facts.status();
  storage::EventRecord& record = batch->events.emplace_back();
  record.project_id = project;
  record.event_id = event.event_id.ToHex();
  const std::string& event_id = record.event_id;
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
  record.received_ms = facts->received_ms.value_or(
      static_cast<int64_t>(event.start_time) * 1000);
  record.timestamp_ms = facts->timestamp_ms.value_or(record.received_ms);
  record.level = std::move(facts->level);
  record.release = std::move(facts->release);
  record.environment = std::move(facts->environment);
  record.platform = std::move(facts->platform);
  record.tags_json = std::move(facts->tags_json);
  record.user_key = std::move(facts->user_key);
  record.payload.assign(payload);

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
    if (it != pending_.end()) ErasePending(it);
  }
  return absl::OkStatus();
}

void BatchBuilder::ErasePending(
    std::map<PendingKey, PendingAttachment>::iterator it) {
  for (const auto& [index, data] : it->second.chunks) {
    pending_bytes_ -= data.size();
  }
  pending_.erase(it);
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

absl::Status BatchBuilder::AddSession(
    const kafka::Message& message,
    const std::function<bool(int64_t)>& project_exists, storage::Batch* batch) {
  absl::StatusOr<protocol::JsonValue> json = protocol::ParseJson(message.value);
  if (!json.ok()) return json.status();
  const protocol::JsonValue& m = *json;
  const std::optional<int64_t> project = m["project_id"].integer();
  const protocol::JsonValue& started = m["started"];
  if (!project.has_value() || *project <= 0 || !started.is_number() ||
      !m["status"].is_string() || !m["release"].is_string()) {
    return absl::InvalidArgumentError(
        "missing or invalid project_id, started, status or release");
  }
  if (!project_exists(*project)) {
    return absl::NotFoundError(absl::StrCat("project ", *project));
  }
  const int64_t quantity = m["quantity"].integer().value_or(1);
  if (quantity < 0) return absl::InvalidArgumentError("negative quantity");
  const double started_s = started.number();
  if (!std::isfinite(started_s) || started_s < 0 || started_s > 1e11) {
    return absl::InvalidArgumentError("started out of range");
  }
  // Checked before anything is counted: a refused message counts nothing.
  absl::StatusOr<int64_t storage::SessionDelta::*> column =
      StatusColumn(m["status"].string(), m["errors"].integer().value_or(0));
  if (!column.ok()) return column.status();

  const int64_t hour =
      static_cast<int64_t>(std::floor(started_s / kHour)) * kHour;
  const std::string_view release = m["release"].string();
  const std::string_view environment = m["environment"].string();
  auto row = std::find_if(batch->sessions.begin(), batch->sessions.end(),
                          [&](const storage::SessionDelta& d) {
                            return d.project_id == *project &&
                                   d.hour_s == hour && d.release == release &&
                                   d.environment == environment;
                          });
  if (row == batch->sessions.end()) {
    storage::SessionDelta& d = batch->sessions.emplace_back();
    d.project_id = *project;
    d.release = std::string(release);
    d.environment = std::string(environment);
    d.hour_s = hour;
    row = batch->sessions.end() - 1;
  }
  if (m["seq"].integer().value_or(0) == 0) row->started += quantity;
  if (*column != nullptr) (*row).*(*column) += quantity;
  return absl::OkStatus();
}

void BatchBuilder::EvictIfNeeded() {
  while (pending_bytes_ > kMaxPendingChunkBytes && !pending_.empty()) {
    auto oldest = std::min_element(
        pending_.begin(), pending_.end(), [](const auto& a, const auto& b) {
          return a.second.sequence < b.second.sequence;
        });
    ++counts_.chunks_evicted;
    ErasePending(oldest);
  }
}

}  // namespace tern::backend::consumer
