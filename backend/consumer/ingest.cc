#include "backend/consumer/ingest.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "backend/grouping/enhancers.h"
#include "backend/grouping/fingerprinting.h"
#include "backend/kafka/client.h"
#include "backend/symbolicate/store_source.h"
#include "spdlog/spdlog.h"

namespace tern::backend::consumer {
namespace {

constexpr absl::Duration kLogInterval = absl::Minutes(1);
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kFlushTimeout = absl::Seconds(30);
// How often the project table (and the projects' grouping rules) is re-read
// while events flow: a rule change applies to events consumed after it.
constexpr absl::Duration kProjectRefresh = absl::Seconds(5);

// A project's server-side rules, parsed once per change of their text.
struct ProjectRules {
  std::string fingerprinting_text, stacktrace_text;
  grouping::FingerprintingRules fingerprinting;
  std::optional<grouping::Enhancements> stacktrace;
};

// Errors that say the batch itself is wrong (an event the store cannot take),
// as opposed to the store being down or busy: retrying cannot help.
bool IsPermanent(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct Ingest::Impl {
  config::BackendConfig config;
  storage::Store* store = nullptr;
  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<kafka::DeadLetterProducer> dead_letters;  // may be null
  BatchBuilder builder;
  // JavaScript symbolication before grouping (null when disabled).
  std::unique_ptr<symbolicate::StoreArtifactSource> artifacts;
  std::unique_ptr<symbolicate::Symbolicator> symbolicator;
  IngestStats stats;
  std::atomic<bool> stopping{false};
  std::thread thread;

  // Offsets stored with the last batch, read once at start; assignments
  // begin there (see kafka::ConsumerOptions::start_offset).
  std::vector<storage::PartitionOffset> stored_offsets;
  // Known projects; the value is null for a project without rules.
  absl::flat_hash_map<int64_t, std::shared_ptr<const ProjectRules>> projects;
  absl::Time projects_read = absl::InfinitePast();
  std::array<absl::Time, static_cast<size_t>(DeadLetterReason::kCount)>
      last_logged{};
  std::array<int64_t, static_cast<size_t>(DeadLetterReason::kCount)> unlogged{};

  explicit Impl(const config::BackendConfig& c)
      : config(c),
        builder(TopicNames{c.kafka.topics.events, c.kafka.topics.attachments,
                           c.kafka.topics.transactions,
                           c.kafka.topics.sessions}) {
    last_logged.fill(absl::InfinitePast());
    unlogged.fill(0);
    builder.set_project_grouping([this](int64_t id) {
      grouping::ProjectGrouping g;
      auto it = projects.find(id);
      if (it != projects.end() && it->second != nullptr) {
        g.fingerprinting = &it->second->fingerprinting;
        if (it->second->stacktrace) g.stacktrace = &*it->second->stacktrace;
      }
      return g;
    });
  }

  // Re-reads the project table; rules whose text did not change keep their
  // parse. Rules that no longer parse (the API and CLI refuse such text, so
  // only an edit behind their back) are logged and ignored: the events
  // group as without them rather than stop. False when the store failed.
  bool ReadProjects() {
    absl::StatusOr<std::vector<storage::Project>> all = store->ListProjects();
    if (!all.ok()) return false;
    absl::flat_hash_map<int64_t, std::shared_ptr<const ProjectRules>> next;
    for (const storage::Project& p : *all) {
      std::shared_ptr<const ProjectRules>& slot = next[p.id];
      if (p.fingerprinting_rules.empty() && p.stacktrace_rules.empty()) {
        continue;
      }
      auto old = projects.find(p.id);
      if (old != projects.end() && old->second != nullptr &&
          old->second->fingerprinting_text == p.fingerprinting_rules &&
          old->second->stacktrace_text == p.stacktrace_rules) {
        slot = old->second;
        continue;
      }
      auto rules = std::make_shared<ProjectRules>();
      rules->fingerprinting_text = p.fingerprinting_rules;
      rules->stacktrace_text = p.stacktrace_rules;
      absl::StatusOr<grouping::FingerprintingRules> parsed =
          grouping::FingerprintingRules::Parse(p.fingerprinting_rules);
      if (parsed.ok()) {
        rules->fingerprinting = *std::move(parsed);
      } else {
        spdlog::warn("ingest: project {}: fingerprinting rules ignored: {}",
                     p.slug, std::string(parsed.status().message()));
      }
      if (!p.stacktrace_rules.empty()) {
        absl::StatusOr<grouping::Enhancements> st =
            grouping::ParseProjectStacktraceRules(p.stacktrace_rules);
        if (st.ok()) {
          rules->stacktrace = *std::move(st);
        } else {
          spdlog::warn("ingest: project {}: stack-trace rules ignored: {}",
                       p.slug, std::string(st.status().message()));
        }
      }
      slot = std::move(rules);
    }
    projects = std::move(next);
    projects_read = absl::Now();
    return true;
  }

  // Known projects, re-read from the store at most once per batch on a miss
  // (a project created a moment ago must not be dead-lettered). When the
  // store cannot say, the project counts as known: the batch's write then
  // meets the same store trouble and is retried, and a project that really
  // is unknown is refused there and dead-lettered as store_rejected, instead
  // of a store outage dead-lettering good events as unknown_project.
  enum class Refresh { kNotYet, kDone, kFailed };
  bool ProjectExists(int64_t id, Refresh* refresh) {
    if (projects.contains(id)) return true;
    if (*refresh != Refresh::kNotYet) return *refresh == Refresh::kFailed;
    const bool ok = ReadProjects();
    *refresh = ok ? Refresh::kDone : Refresh::kFailed;
    if (!ok) return true;
    return projects.contains(id);
  }

  void LogDeadLetter(DeadLetterReason reason, std::string_view detail) {
    const size_t r = static_cast<size_t>(reason);
    const absl::Time now = absl::Now();
    if (now - last_logged[r] < kLogInterval) {
      ++unlogged[r];
      return;
    }
    spdlog::warn("ingest: dead letter ({}): {} ({} more since last line)",
                 std::string(DeadLetterReasonName(reason)), std::string(detail),
                 unlogged[r]);
    last_logged[r] = now;
    unlogged[r] = 0;
  }

  // Runs `attempt` until it succeeds or the backend stops, pausing the
  // partitions meanwhile. False when stopping cut it short.
  template <typename F>
  bool Retry(std::string_view what, F attempt) {
    absl::Status status = attempt();
    if (status.ok()) return true;
    consumer->PauseAll();
    absl::Duration backoff = kFirstBackoff;
    while (!status.ok()) {
      ++stats.store_retries;
      spdlog::error("ingest: {} failed, retrying in {}: {}", std::string(what),
                    absl::FormatDuration(backoff),
                    std::string(status.message()));
      const absl::Time until = absl::Now() + backoff;
      while (absl::Now() < until) {
        if (stopping.load()) return false;
        consumer->Idle(std::min(absl::Milliseconds(100), until - absl::Now()));
      }
      backoff = std::min(backoff * 2, config.kafka.consumer.retry_max_backoff);
      status = attempt();
    }
    consumer->ResumeAll();
    return true;
  }

  // Counts, logs and produces `dead` (flushed before returning), so their
  // offsets can be stored. False when stopping cut the retries short.
  bool SendDeadLetters(const kafka::MessageBatch& messages,
                       std::span<const DeadLetter> dead) {
    for (const DeadLetter& d : dead) {
      ++stats.dead_letters[static_cast<size_t>(d.reason)];
      LogDeadLetter(d.reason, d.detail);
    }
    if (dead.empty() || dead_letters == nullptr) return true;
    return Retry("dead-letter produce", [&] {
      for (const DeadLetter& d : dead) {
        absl::Status s = dead_letters->Send(
            config.kafka.topics.dead_letter, messages.messages()[d.index],
            DeadLetterReasonName(d.reason), d.detail);
        if (!s.ok()) return s;
      }
      return dead_letters->Flush(kFlushTimeout);
    });
  }

  // Writes `batch`, retrying transient errors. A permanent refusal (the
  // batch's content is at fault, not the store's health) is returned in
  // `*refused` instead of being retried forever. False when stopping.
  bool Write(const storage::Batch& batch, storage::BatchResult* result,
             absl::Status* refused) {
    *refused = absl::OkStatus();
    return Retry("store write", [&]() -> absl::Status {
      absl::StatusOr<storage::BatchResult> r = store->WriteBatch(batch);
      if (r.ok()) {
        *result = *r;
        return absl::OkStatus();
      }
      if (IsPermanent(r.status())) {
        *refused = r.status();
        return absl::OkStatus();
      }
      return r.status();
    });
  }

  // After the store refused a whole batch: every event on its own, the
  // refused ones to the dead-letter topic, then the sessions and offsets.
  bool StoreOneByOne(const kafka::MessageBatch& messages,
                     const storage::Batch& batch, const absl::Status& why,
                     storage::BatchResult* total) {
    spdlog::warn(
        "ingest: the store refused a batch ({}); storing its {} "
        "event(s) one by one",
        std::string(why.message()), batch.events.size());
    *total = storage::BatchResult();
    storage::Batch one;
    std::vector<DeadLetter> rejected;
    for (size_t i = 0; i < batch.events.size(); ++i) {
      one.events.assign(1, batch.events[i]);
      storage::BatchResult r;
      absl::Status refused;
      if (!Write(one, &r, &refused)) return false;
      if (!refused.ok()) {
        rejected.push_back(DeadLetter{builder.event_sources()[i],
                                      DeadLetterReason::k_store_rejected,
                                      std::string(refused.message())});
        continue;
      }
      total->events_stored += r.events_stored;
      total->duplicates += r.duplicates;
      total->issues_created += r.issues_created;
      total->regressions += r.regressions;
    }
    if (!SendDeadLetters(messages, rejected)) return false;
    one.events.clear();
    one.sessions = batch.sessions;
    one.offsets = batch.offsets;
    storage::BatchResult r;
    absl::Status refused;
    if (!Write(one, &r, &refused)) return false;
    if (!refused.ok()) {
      // Session counts carry no message to dead-letter; they are lost, loudly.
      spdlog::error("ingest: the store refused {} session row(s), dropped: {}",
                    one.sessions.size(), std::string(refused.message()));
      one.sessions.clear();
      if (!Write(one, &r, &refused)) return false;
      if (!refused.ok()) {
        spdlog::error("ingest: offsets refused: {}",
                      std::string(refused.message()));
      }
    }
    return true;
  }

  void Run() {
    kafka::MessageBatch messages;
    storage::Batch batch;
    std::vector<DeadLetter> dead;
    std::vector<kafka::TopicPartitionOffset> commit;
    while (!stopping.load()) {
      consumer->Poll(config.kafka.consumer.batch_max_messages,
                     config.kafka.consumer.batch_max_wait, &messages);
      if (messages.empty()) continue;
      stats.messages += static_cast<int64_t>(messages.messages().size());
      Refresh refresh = Refresh::kNotYet;
      if (absl::Now() - projects_read >= kProjectRefresh) {
        // A failure keeps the table it had; the miss path retries.
        refresh = ReadProjects() ? Refresh::kDone : Refresh::kNotYet;
      }
      builder.Build(
          messages.messages(),
          [&](int64_t id) { return ProjectExists(id, &refresh); }, &batch,
          &dead);
      stats.attachments_incomplete = builder.counts().attachments_incomplete;

      if (!SendDeadLetters(messages, dead)) break;

      storage::BatchResult result;
      absl::Status refused;
      if (!Write(batch, &result, &refused)) break;
      if (!refused.ok() && !StoreOneByOne(messages, batch, refused, &result)) {
        break;
      }
      ++stats.batches;
      stats.events_stored += result.events_stored;
      stats.duplicates += result.duplicates;
      stats.issues_created += result.issues_created;
      stats.regressions += result.regressions;

      commit.clear();
      for (const storage::PartitionOffset& o : batch.offsets) {
        commit.push_back({o.topic, o.partition, o.next_offset});
      }
      // The store holds the truth; a failed Kafka commit only means a
      // replay of an already stored batch after a restart elsewhere.
      if (absl::Status s = consumer->Commit(commit); !s.ok()) {
        ++stats.commit_errors;
        spdlog::warn("ingest: {}", std::string(s.message()));
      }
    }
    consumer->Close();
  }
};

Ingest::Ingest(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Ingest::~Ingest() { Stop(); }

const IngestStats& Ingest::stats() const { return impl_->stats; }

const symbolicate::SymbolicatorStats* Ingest::symbolicator_stats() const {
  return impl_->symbolicator ? &impl_->symbolicator->stats() : nullptr;
}

absl::StatusOr<std::unique_ptr<Ingest>> Ingest::Start(
    const config::BackendConfig& config, storage::Store* store) {
  auto impl = std::make_unique<Impl>(config);
  impl->store = store;
  if (config.sourcemaps.enabled) {
    impl->artifacts = std::make_unique<symbolicate::StoreArtifactSource>(
        store, config.sourcemaps.max_file_bytes);
    symbolicate::SymbolicatorOptions options;
    options.cache_bytes = config.sourcemaps.cache_bytes;
    options.max_artifact_bytes = config.sourcemaps.max_file_bytes;
    impl->symbolicator = std::make_unique<symbolicate::Symbolicator>(
        impl->artifacts.get(), options);
    symbolicate::Symbolicator* s = impl->symbolicator.get();
    impl->builder.SetPreprocessor(
        [s](int64_t project, std::string_view payload) {
          return s->Process(project, payload);
        });
  }
  absl::StatusOr<std::vector<storage::PartitionOffset>> stored =
      store->LoadOffsets();
  if (!stored.ok()) return stored.status();
  impl->stored_offsets = *std::move(stored);

  kafka::ConsumerOptions options;
  options.bootstrap_servers = config.kafka.bootstrap_servers;
  options.group_id = config.kafka.consumer.group_id;
  options.topics = {config.kafka.topics.events, config.kafka.topics.attachments,
                    config.kafka.topics.transactions,
                    config.kafka.topics.sessions};
  std::sort(options.topics.begin(), options.topics.end());
  options.topics.erase(
      std::unique(options.topics.begin(), options.topics.end()),
      options.topics.end());
  options.extra = config.kafka.consumer.extra;
  Impl* raw = impl.get();
  options.start_offset = [raw](std::string_view topic,
                               int32_t partition) -> std::optional<int64_t> {
    for (const storage::PartitionOffset& o : raw->stored_offsets) {
      if (o.topic == topic && o.partition == partition) return o.next_offset;
    }
    return std::nullopt;
  };
  absl::StatusOr<std::unique_ptr<kafka::Consumer>> consumer =
      kafka::Consumer::Create(options);
  if (!consumer.ok()) return consumer.status();
  impl->consumer = *std::move(consumer);
  if (!config.kafka.topics.dead_letter.empty()) {
    absl::StatusOr<std::unique_ptr<kafka::DeadLetterProducer>> producer =
        kafka::DeadLetterProducer::Create(config.kafka.bootstrap_servers,
                                          config.kafka.consumer.extra);
    if (!producer.ok()) return producer.status();
    impl->dead_letters = *std::move(producer);
  }
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<Ingest>(new Ingest(std::move(impl)));
}

void Ingest::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stopping.store(true);
  impl_->thread.join();
}

}  // namespace tern::backend::consumer
