#include "relay/spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/thread_priority.h"
#include "spdlog/spdlog.h"

namespace tern::relay::spool {

enum RecordState : uint8_t {
  kUnproduced = 0,  // on disk only: the replayer produces it
  kPending = 1,     // handed to the producer, no report yet
  kAcked = 2,
  kFailed = 3,   // the producer gave up (timeout, purge): replayed
  kDropped = 4,  // refused for good: counted, never retried
};

// One segment file. Created by a writer (or by recovery), adopted by the
// spool thread, which alone deletes it.
struct Segment {
  uint64_t seq = 0;
  std::string path;
  int fd = -1;  // open until sealed and synced
  std::unique_ptr<std::atomic<uint8_t>[]> state;
  // Records in the file; written by the writer (or recovery) only.
  std::atomic<uint32_t> count{0};
  // Records neither acknowledged nor dropped. The segment goes when it is
  // sealed and this is zero.
  std::atomic<int64_t> unacked{0};
  std::atomic<bool> sealed{false};
  // Some record is unproduced or failed: the replayer has work here.
  std::atomic<bool> needs_replay{false};
  std::atomic<uint64_t> written{0};  // bytes in the file
  std::atomic<int64_t> first_ms{0};  // arrival of its first record
  absl::Time opened = absl::Now();
  bool recovered = false;
  // Spool thread only.
  uint64_t synced = 0;
  Segment* next_new = nullptr;  // the writers' lock-free stack

  Segment() : state(new std::atomic<uint8_t>[kMaxRecordsPerSegment]) {
    for (uint32_t i = 0; i < kMaxRecordsPerSegment; ++i) {
      state[i].store(kUnproduced, std::memory_order_relaxed);
    }
  }
};

namespace {

constexpr std::string_view kSuffix = ".seg";
// How long a write or fdatasync error keeps the spool refusing requests.
constexpr int64_t kDiskErrorHoldMs = 1000;
constexpr absl::Duration kDiskCheckEvery = absl::Seconds(1);

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

kafka::DeliveryTag TagFor(Segment* seg, uint32_t index) {
  return (static_cast<uint64_t>(reinterpret_cast<uintptr_t>(seg)) << 16) |
         index;
}

std::string SegmentName(uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".seg", seq);
  return name;
}

// The sequence number of a segment file name, or 0 for another file.
uint64_t SeqOf(std::string_view name) {
  if (name.size() != 16 + kSuffix.size() || !name.ends_with(kSuffix)) return 0;
  uint64_t seq = 0;
  for (char c : name.substr(0, 16)) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return 0;
    }
    seq = seq * 16 + static_cast<uint64_t>(d);
  }
  return seq;
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("spool: cannot open ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("spool: cannot stat ", path, ": ", std::strerror(e)));
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t at = 0;
  while (at < out->size()) {
    const ssize_t n =
        ::pread(fd, out->data() + at, out->size() - at, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : 0;
      ::close(fd);
      if (n == 0) {
        out->resize(at);  // shrank while we read: take what is there
        return absl::OkStatus();
      }
      return absl::UnavailableError(
          absl::StrCat("spool: cannot read ", path, ": ", std::strerror(e)));
    }
    at += static_cast<size_t>(n);
  }
  ::close(fd);
  return absl::OkStatus();
}

uint64_t FreeBytes(const std::string& dir, bool* ok) {
  struct statvfs v;
  if (::statvfs(dir.c_str(), &v) != 0) {
    *ok = false;
    return 0;
  }
  *ok = true;
  return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

}  // namespace

std::string_view SpoolDropName(SpoolDrop d) {
  switch (d) {
    case SpoolDrop::kFull:
      return "full";
    case SpoolDrop::kDiskError:
      return "disk_error";
    case SpoolDrop::kTooLarge:
      return "too_large";
    case SpoolDrop::kRefused:
      return "kafka_refused";
    case SpoolDrop::kCorrupt:
      return "corrupt";
  }
  return "other";
}

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("spool: spool.dir is empty");
  }
  struct stat st;
  if (::stat(options.dir.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: directory ", options.dir, ": ",
                     std::strerror(errno), " (create it, or set spool.dir)"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: ", options.dir, " is not a directory"));
  }
  if (::access(options.dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: directory ", options.dir,
                     " is not writable: ", std::strerror(errno)));
  }
  auto spool = std::unique_ptr<Spool>(new Spool(std::move(options)));
  const std::string lock_path = spool->options_.dir + "/LOCK";
  spool->lock_fd_ =
      ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (spool->lock_fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool: cannot create ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(spool->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool: ", spool->options_.dir, " is in use by another tern-relay (",
        lock_path, " is locked); give each relay its own spool.dir"));
  }
  bool ok = false;
  const uint64_t free_bytes = FreeBytes(spool->options_.dir, &ok);
  if (!ok || free_bytes < spool->options_.min_free_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool: ", spool->options_.dir, " has ", free_bytes,
                     " bytes free, below spool.min_free_bytes (",
                     spool->options_.min_free_bytes, ")"));
  }
  if (absl::Status s = spool->Recover(); !s.ok()) return s;
  return spool;
}

absl::Status Spool::Recover() {
  DIR* d = ::opendir(options_.dir.c_str());
  if (d == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spool: cannot list ", options_.dir, ": ", std::strerror(errno)));
  }
  std::vector<uint64_t> seqs;
  while (const dirent* e = ::readdir(d)) {
    if (const uint64_t seq = SeqOf(e->d_name); seq != 0) seqs.push_back(seq);
  }
  ::closedir(d);
  std::sort(seqs.begin(), seqs.end());
  std::string data;
  uint64_t total = 0;
  for (const uint64_t seq : seqs) {
    const std::string path = options_.dir + "/" + SegmentName(seq);
    next_seq_.store(std::max(next_seq_.load(), seq + 1));
    if (absl::Status s = ReadFile(path, &data); !s.ok()) {
      // An unreadable file stays where it is for the operator; the other
      // segments replay.
      spdlog::error("{} (left in place)", std::string(s.message()));
      dropped_[static_cast<int>(SpoolDrop::kCorrupt)].fetch_add(1);
      continue;
    }
    auto seg = std::make_unique<Segment>();
    seg->seq = seq;
    seg->path = path;
    seg->recovered = true;
    int64_t first_ms = 0;
    uint32_t n = 0;
    uint64_t over = 0;
    const ScanStats scan =
        ScanSegment(data, [&](uint64_t, size_t, const Record& r) {
          if (n == kMaxRecordsPerSegment) {
            ++over;
            return true;
          }
          ++n;
          if (first_ms == 0 || r.meta.received_ms < first_ms) {
            first_ms = r.meta.received_ms;
          }
          return true;
        });
    if (scan.bad_header || scan.bad_regions > 0 || over > 0) {
      corrupt_regions_.fetch_add(scan.bad_regions + (scan.bad_header ? 1 : 0));
      corrupt_bytes_.fetch_add(scan.bad_bytes);
      dropped_[static_cast<int>(SpoolDrop::kCorrupt)].fetch_add(
          scan.bad_regions + over);
      spdlog::warn(
          "spool: {}: {} damaged region(s), {} bytes{}{}; {} good records "
          "kept",
          path, scan.bad_regions, scan.bad_bytes,
          scan.bad_header ? ", bad file header" : "",
          scan.damage_at_end ? ", torn tail truncated" : "", n);
    }
    uint64_t size = data.size();
    if (scan.damage_at_end && scan.good_end < data.size() && n > 0) {
      if (::truncate(path.c_str(), static_cast<off_t>(scan.good_end)) == 0) {
        size = scan.good_end;
      } else {
        spdlog::warn("spool: cannot truncate {}: {}", path,
                     std::strerror(errno));
      }
    }
    if (n == 0) {
      if (::unlink(path.c_str()) != 0) {
        spdlog::warn("spool: cannot remove empty {}: {}", path,
                     std::strerror(errno));
      }
      continue;
    }
    seg->count.store(n);
    seg->unacked.store(n);
    seg->written.store(size);
    seg->synced = size;
    seg->first_ms.store(first_ms);
    seg->needs_replay.store(true);
    seg->sealed.store(true);
    recovered_.fetch_add(n);
    records_.fetch_add(n);
    bytes_.fetch_add(size);
    segments_.fetch_add(1);
    recovered_left_.fetch_add(1);
    total += n;
    segments_list_.push_back(seg.release());
  }
  if (!segments_list_.empty()) {
    spdlog::info("spool: {} records in {} segments of {} to replay", total,
                 segments_list_.size(), options_.dir);
  }
  return absl::OkStatus();
}

Spool::~Spool() {
  Stop();
  AdoptNew();
  for (Segment* seg : segments_list_) {
    if (seg->fd >= 0) {
      if (options_.fsync != FsyncMode::kNever &&
          seg->written.load() > seg->synced) {
        ::fdatasync(seg->fd);
      }
      ::close(seg->fd);
    }
    delete seg;
  }
  segments_list_.clear();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void Spool::Start(kafka::Producer* producer) {
  producer_.store(producer, std::memory_order_release);
  if (started_.exchange(true)) return;
  thread_ = std::thread([this] {
    NameThisThread("tern-spool");
    if (options_.on_thread_start) options_.on_thread_start();
    Run();
  });
}

void Spool::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<Writer> Spool::NewWriter() {
  return std::unique_ptr<Writer>(new Writer(this));
}

bool Spool::Accepting() const {
  return bytes_.load(std::memory_order_relaxed) < options_.max_bytes &&
         !full_.load(std::memory_order_relaxed) &&
         disk_ok_.load(std::memory_order_relaxed) &&
         !disk_error_recent_.load(std::memory_order_relaxed);
}

bool Spool::BacklogReplayed() const {
  return recovered_left_.load(std::memory_order_relaxed) == 0;
}

void Spool::OnDelivery(kafka::DeliveryTag tag, const absl::Status& status) {
  Segment* seg = reinterpret_cast<Segment*>(static_cast<uintptr_t>(tag >> 16));
  const uint32_t index = static_cast<uint32_t>(tag & 0xffff);
  if (seg == nullptr) return;
  if (status.ok()) {
    seg->state[index].store(kAcked, std::memory_order_relaxed);
  } else if (absl::IsInvalidArgument(status)) {
    seg->state[index].store(kDropped, std::memory_order_relaxed);
    dropped_[static_cast<int>(SpoolDrop::kRefused)].fetch_add(
        1, std::memory_order_relaxed);
  } else {
    // Timed out or purged: still on disk, so the replayer tries again.
    seg->state[index].store(kFailed, std::memory_order_release);
    seg->needs_replay.store(true, std::memory_order_release);
    return;
  }
  // The last touch of `seg`: once unacked is zero the spool thread may free
  // it.
  seg->unacked.fetch_sub(1, std::memory_order_acq_rel);
}

void Spool::Push(Segment* seg) {
  Segment* head = new_head_.load(std::memory_order_relaxed);
  do {
    seg->next_new = head;
  } while (!new_head_.compare_exchange_weak(
      head, seg, std::memory_order_release, std::memory_order_relaxed));
}

void Spool::NoteDiskError(std::string_view what, int err) {
  disk_error_ms_.store(NowMs(), std::memory_order_relaxed);
  disk_error_recent_.store(true, std::memory_order_relaxed);
  // Rare by nature; and a failing disk fails every turn, so rate-limit.
  static std::atomic<int64_t> last_log_ms{0};
  const int64_t now = NowMs();
  if (now - last_log_ms.load(std::memory_order_relaxed) > 10000) {
    last_log_ms.store(now, std::memory_order_relaxed);
    spdlog::error("spool: {} failed in {}: {}; answering 503", what,
                  options_.dir, std::strerror(err));
  }
}

void Spool::NoteFsync(absl::Duration took) {
  const double ms = absl::ToDoubleMilliseconds(took);
  size_t b = 0;
  while (b < kFsyncBucketsMs.size() && ms > kFsyncBucketsMs[b]) ++b;
  fsync_hist_[b].fetch_add(1, std::memory_order_relaxed);
  fsync_count_.fetch_add(1, std::memory_order_relaxed);
  fsync_ns_sum_.fetch_add(static_cast<uint64_t>(absl::ToInt64Nanoseconds(took)),
                          std::memory_order_relaxed);
}

void Spool::Run() {
  const absl::Duration tick =
      std::min(absl::Milliseconds(10), options_.fsync_interval);
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    l.unlock();
    AdoptNew();
    const absl::Time now = absl::Now();
    if (options_.fsync == FsyncMode::kInterval &&
        now - last_sync_ >= options_.fsync_interval) {
      last_sync_ = now;
      SyncDirty(/*final_only=*/false);
    } else {
      SyncDirty(/*final_only=*/true);
    }
    if (now - last_disk_check_ >= kDiskCheckEvery) {
      last_disk_check_ = now;
      CheckDisk();
    }
    if (disk_error_recent_.load(std::memory_order_relaxed) &&
        NowMs() - disk_error_ms_.load(std::memory_order_relaxed) >
            kDiskErrorHoldMs) {
      disk_error_recent_.store(false, std::memory_order_relaxed);
    }
    Collect();
    Replay();
    l.lock();
    cv_.wait_for(l, absl::ToChronoMilliseconds(tick));
  }
}

void Spool::AdoptNew() {
  Segment* head = new_head_.exchange(nullptr, std::memory_order_acquire);
  std::vector<Segment*> fresh;
  for (; head != nullptr; head = head->next_new) fresh.push_back(head);
  if (fresh.empty()) return;
  segments_list_.insert(segments_list_.end(), fresh.begin(), fresh.end());
  std::sort(segments_list_.begin(), segments_list_.end(),
            [](const Segment* a, const Segment* b) { return a->seq < b->seq; });
}

void Spool::SyncDirty(bool final_only) {
  for (Segment* seg : segments_list_) {
    if (seg->fd < 0) continue;
    const bool sealed = seg->sealed.load(std::memory_order_acquire);
    if (final_only && !sealed) continue;
    const uint64_t written = seg->written.load(std::memory_order_acquire);
    if (options_.fsync != FsyncMode::kNever && written > seg->synced) {
      const absl::Time t0 = absl::Now();
      if (::fdatasync(seg->fd) != 0) {
        NoteDiskError("fdatasync", errno);
      } else {
        seg->synced = written;
      }
      NoteFsync(absl::Now() - t0);
    }
    if (sealed) {
      // The writer is done with it: no more appends, so no more syncs.
      ::close(seg->fd);
      seg->fd = -1;
    }
  }
}

void Spool::CheckDisk() {
  bool ok = false;
  const uint64_t free_bytes = FreeBytes(options_.dir, &ok);
  const bool good = ok && free_bytes >= options_.min_free_bytes;
  if (good != disk_ok_.load(std::memory_order_relaxed)) {
    if (good) {
      spdlog::info("spool: {} has {} bytes free again", options_.dir,
                   free_bytes);
    } else {
      spdlog::warn(
          "spool: {} has {} bytes free, below spool.min_free_bytes ({}); "
          "answering 503",
          options_.dir, free_bytes, options_.min_free_bytes);
    }
  }
  disk_ok_.store(good, std::memory_order_relaxed);
}

void Spool::Collect() {
  int64_t oldest = 0;
  auto keep = segments_list_.begin();
  for (Segment* seg : segments_list_) {
    const bool done = seg->sealed.load(std::memory_order_acquire) &&
                      seg->fd < 0 &&
                      seg->unacked.load(std::memory_order_acquire) == 0;
    if (!done) {
      const int64_t first = seg->first_ms.load(std::memory_order_relaxed);
      if (first != 0 && (oldest == 0 || first < oldest)) oldest = first;
      *keep++ = seg;
      continue;
    }
    if (seg == replay_seg_) {
      replay_seg_ = nullptr;
      replay_buf_.clear();
      replay_index_.clear();
    }
    if (::unlink(seg->path.c_str()) != 0 && errno != ENOENT) {
      spdlog::warn("spool: cannot remove {}: {}", seg->path,
                   std::strerror(errno));
    }
    bytes_.fetch_sub(seg->written.load(), std::memory_order_relaxed);
    records_.fetch_sub(seg->count.load(), std::memory_order_relaxed);
    segments_.fetch_sub(1, std::memory_order_relaxed);
    if (seg->recovered) recovered_left_.fetch_sub(1, std::memory_order_relaxed);
    delete seg;
  }
  segments_list_.erase(keep, segments_list_.end());
  oldest_ms_.store(oldest, std::memory_order_relaxed);
  if (full_.load(std::memory_order_relaxed) &&
      bytes_.load(std::memory_order_relaxed) <
          full_at_bytes_.load(std::memory_order_relaxed)) {
    full_.store(false, std::memory_order_relaxed);
  }
}

bool Spool::ProduceRecord(Segment* seg, uint32_t index, const Record& r) {
  kafka::Producer* producer = producer_.load(std::memory_order_acquire);
  seg->state[index].store(kPending, std::memory_order_relaxed);
  return NoteProduced(
      seg, index,
      producer->Produce(r.topic, r.key, r.value, TagFor(seg, index)));
}

bool Spool::NoteProduced(Segment* seg, uint32_t index, const absl::Status& s) {
  if (s.ok()) return true;
  if (absl::IsUnavailable(s)) {
    seg->state[index].store(kUnproduced, std::memory_order_relaxed);
    seg->needs_replay.store(true, std::memory_order_release);
    return false;
  }
  // The cluster's limits refuse it (say a topic that does not exist, or a
  // message over message.max.bytes): retrying cannot help.
  seg->state[index].store(kDropped, std::memory_order_relaxed);
  dropped_[static_cast<int>(SpoolDrop::kRefused)].fetch_add(1);
  seg->unacked.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

void Spool::Replay() {
  kafka::Producer* producer = producer_.load(std::memory_order_acquire);
  if (producer == nullptr || !producer->Ready()) return;
  while (true) {
    if (!producer->Accepting() ||
        producer->InFlight() >= options_.replay_window) {
      return;
    }
    if (replay_seg_ == nullptr) {
      // Oldest first: the first sealed segment with work.
      for (Segment* seg : segments_list_) {
        if (seg->sealed.load(std::memory_order_acquire) &&
            seg->needs_replay.exchange(false, std::memory_order_acq_rel)) {
          replay_seg_ = seg;
          break;
        }
      }
      if (replay_seg_ == nullptr) return;
      replay_index_.clear();
      replay_pos_ = 0;
      if (absl::Status s = ReadFile(replay_seg_->path, &replay_buf_); !s.ok()) {
        NoteDiskError("read", EIO);
        replay_seg_->needs_replay.store(true);
        replay_seg_ = nullptr;
        return;
      }
      const uint32_t count = replay_seg_->count.load();
      ScanSegment(replay_buf_, [&](uint64_t index, size_t, const Record& r) {
        if (index >= count) return false;
        replay_index_.push_back(
            ReplayItem{static_cast<uint32_t>(index), r.topic, r.key, r.value});
        return true;
      });
    }
    Segment* seg = replay_seg_;
    int64_t room = options_.replay_window - producer->InFlight();
    while (replay_pos_ < replay_index_.size() && room > 0) {
      const ReplayItem& item = replay_index_[replay_pos_];
      const uint8_t st = seg->state[item.index].load(std::memory_order_acquire);
      if (st == kUnproduced || st == kFailed) {
        Record r;
        r.topic = item.topic;
        r.key = item.key;
        r.value = item.value;
        // The producer is full: resume here next tick.
        if (!ProduceRecord(seg, item.index, r)) return;
        replayed_.fetch_add(1, std::memory_order_relaxed);
        --room;
      }
      ++replay_pos_;
    }
    if (replay_pos_ < replay_index_.size()) return;
    replay_seg_ = nullptr;
    replay_buf_.clear();
    replay_buf_.shrink_to_fit();
    replay_index_.clear();
  }
}

absl::Status Spool::WaitDrained(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    // Segments go only once sealed and acknowledged, so a writer's open
    // segment with records keeps this waiting: seal the writers first.
    const uint64_t left = records_.load(std::memory_order_relaxed);
    if (left == 0) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          left, " spooled records not yet acknowledged by Kafka (kept in ",
          options_.dir, " for the next start)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

SpoolStats Spool::Stats() const {
  SpoolStats s;
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.records = records_.load(std::memory_order_relaxed);
  s.segments = segments_.load(std::memory_order_relaxed);
  s.appended = appended_.load(std::memory_order_relaxed);
  s.replayed = replayed_.load(std::memory_order_relaxed);
  s.spooled_only = spooled_only_.load(std::memory_order_relaxed);
  s.recovered = recovered_.load(std::memory_order_relaxed);
  s.corrupt_regions = corrupt_regions_.load(std::memory_order_relaxed);
  s.corrupt_bytes = corrupt_bytes_.load(std::memory_order_relaxed);
  for (int i = 0; i < kSpoolDropCount; ++i) {
    s.dropped[i] = dropped_[i].load(std::memory_order_relaxed);
  }
  const int64_t oldest = oldest_ms_.load(std::memory_order_relaxed);
  if (oldest != 0) {
    s.oldest_age_seconds =
        std::max<double>(0, static_cast<double>(NowMs() - oldest) / 1000.0);
  }
  s.accepting = Accepting();
  s.backlog_replayed = BacklogReplayed();
  uint64_t cum = 0;
  for (size_t i = 0; i < s.fsync_buckets.size(); ++i) {
    cum += fsync_hist_[i].load(std::memory_order_relaxed);
    s.fsync_buckets[i] = cum;
  }
  s.fsync_count = fsync_count_.load(std::memory_order_relaxed);
  s.fsync_seconds_sum =
      static_cast<double>(fsync_ns_sum_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

// --- Writer ----------------------------------------------------------------

Writer::~Writer() { Seal(); }

absl::Status Writer::Send(std::string_view topic, std::string_view key,
                          std::string_view value,
                          const pipeline::MessageMeta& meta) {
  Record r;
  r.meta.received_ms = absl::ToUnixMillis(meta.received);
  r.meta.project_id = meta.project_id;
  r.meta.key_id = meta.key_id;
  r.meta.quantity = meta.quantity;
  r.meta.category = meta.category;
  r.topic = topic;
  r.key = key;
  r.value = value;
  const size_t at = batch_.size();
  if (!AppendRecord(r, &batch_)) {
    spool_->dropped_[static_cast<int>(SpoolDrop::kTooLarge)].fetch_add(1);
    return absl::OutOfRangeError("message too large for the spool");
  }
  Pending p;
  p.topic_at = at + kFrameBytes + kBodyFixedBytes;
  p.topic_len = topic.size();
  p.key_at = p.topic_at + topic.size();
  p.key_len = key.size();
  p.value_at = p.key_at + key.size();
  p.value_len = value.size();
  if (batch_records_.empty()) batch_first_ms_ = r.meta.received_ms;
  batch_records_.push_back(p);
  return absl::OkStatus();
}

absl::Status Writer::WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n =
        spool_->options_.write_fn
            ? spool_->options_.write_fn(fd, data.data(), data.size())
            : ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : ENOSPC;
      return absl::UnavailableError(
          absl::StrCat("the relay cannot write its spool: ", std::strerror(e)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status Writer::OpenSegment() {
  auto seg = std::make_unique<Segment>();
  seg->seq = spool_->next_seq_.fetch_add(1);
  seg->path = spool_->options_.dir + "/" + SegmentName(seg->seq);
  seg->fd = ::open(seg->path.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (seg->fd < 0) {
    const int e = errno;
    spool_->NoteDiskError("open", e);
    return absl::UnavailableError(
        absl::StrCat("the relay cannot write its spool: ", std::strerror(e)));
  }
  if (absl::Status s = WriteAll(seg->fd, kFileHeader); !s.ok()) {
    spool_->NoteDiskError("write", ENOSPC);
    ::close(seg->fd);
    ::unlink(seg->path.c_str());
    return s;
  }
  seg->written.store(kFileHeader.size());
  spool_->bytes_.fetch_add(kFileHeader.size(), std::memory_order_relaxed);
  spool_->segments_.fetch_add(1, std::memory_order_relaxed);
  seg_ = seg.release();
  seg_has_unproduced_ = false;
  spool_->Push(seg_);
  return absl::OkStatus();
}

void Writer::Fail() {
  spool_->dropped_[static_cast<int>(SpoolDrop::kDiskError)].fetch_add(
      batch_records_.size(), std::memory_order_relaxed);
}

absl::Status Writer::Commit() {
  if (batch_records_.empty()) return absl::OkStatus();
  struct Clear {
    Writer* w;
    ~Clear() {
      w->batch_.clear();
      w->batch_records_.clear();
    }
  } clear{this};
  const uint32_t n = static_cast<uint32_t>(batch_records_.size());
  const SpoolOptions& o = spool_->options_;
  if (spool_->bytes_.load(std::memory_order_relaxed) + batch_.size() >
          o.max_bytes ||
      !spool_->disk_ok_.load(std::memory_order_relaxed)) {
    spool_->dropped_[static_cast<int>(SpoolDrop::kFull)].fetch_add(n);
    spool_->full_at_bytes_.store(spool_->bytes_.load(std::memory_order_relaxed),
                                 std::memory_order_relaxed);
    spool_->full_.store(true, std::memory_order_relaxed);
    return absl::UnavailableError("the relay's spool is full");
  }
  if (seg_ != nullptr &&
      (seg_->written.load(std::memory_order_relaxed) + batch_.size() >
           o.segment_bytes ||
       seg_->count.load(std::memory_order_relaxed) + n >
           kMaxRecordsPerSegment)) {
    Seal();
  }
  if (n > kMaxRecordsPerSegment) {
    spool_->dropped_[static_cast<int>(SpoolDrop::kTooLarge)].fetch_add(n);
    return absl::UnavailableError("too many messages in one loop turn");
  }
  if (seg_ == nullptr) {
    if (absl::Status s = OpenSegment(); !s.ok()) {
      Fail();
      return s;
    }
  }
  Segment* seg = seg_;
  const uint64_t before = seg->written.load(std::memory_order_relaxed);
  absl::Status s = WriteAll(seg->fd, batch_);
  int err = EIO;
  if (s.ok() && o.fsync == FsyncMode::kAlways) {
    const absl::Time t0 = absl::Now();
    if (::fdatasync(seg->fd) != 0) {
      err = errno;
      s = absl::UnavailableError(absl::StrCat(
          "the relay cannot sync its spool: ", std::strerror(err)));
    } else {
      spool_->NoteFsync(absl::Now() - t0);
    }
  } else if (!s.ok()) {
    err = errno != 0 ? errno : EIO;
  }
  if (!s.ok()) {
    // Nothing of this batch may be replayed later: cut the file back to the
    // last committed record. If even that fails, the segment is sealed; a
    // torn tail is found by its checksum at the next start.
    spool_->NoteDiskError("write", err);
    Fail();
    if (::ftruncate(seg->fd, static_cast<off_t>(before)) != 0) Seal();
    return s;
  }
  const uint64_t after = before + batch_.size();
  spool_->bytes_.fetch_add(batch_.size(), std::memory_order_relaxed);
  spool_->records_.fetch_add(n, std::memory_order_relaxed);
  spool_->appended_.fetch_add(n, std::memory_order_relaxed);
  if (seg->first_ms.load(std::memory_order_relaxed) == 0) {
    seg->first_ms.store(batch_first_ms_, std::memory_order_relaxed);
  }
  const uint32_t base = seg->count.load(std::memory_order_relaxed);
  // Counted before any produce: a delivery report may come back at once.
  seg->unacked.fetch_add(n, std::memory_order_acq_rel);
  seg->count.store(base + n, std::memory_order_release);
  seg->written.store(after, std::memory_order_release);

  kafka::Producer* producer = spool_->producer_.load(std::memory_order_acquire);
  uint64_t only = n;
  if (producer != nullptr && producer->Accepting()) {
    // The whole turn in one ProduceBatch (one librdkafka call per topic).
    // Pending first: a delivery report may come back before it returns.
    out_.resize(n);
    results_.resize(n);
    const std::string_view b(batch_);
    for (uint32_t i = 0; i < n; ++i) {
      const Pending& p = batch_records_[i];
      out_[i].topic = b.substr(p.topic_at, p.topic_len);
      out_[i].key = b.substr(p.key_at, p.key_len);
      out_[i].value = b.substr(p.value_at, p.value_len);
      out_[i].tag = TagFor(seg, base + i);
      seg->state[base + i].store(kPending, std::memory_order_relaxed);
    }
    producer->ProduceBatch(out_, results_);
    only = 0;
    for (uint32_t i = 0; i < n; ++i) {
      // A full queue leaves the record on disk for the replayer.
      if (!spool_->NoteProduced(seg, base + i, results_[i])) ++only;
    }
  }
  if (only > 0) {
    spool_->spooled_only_.fetch_add(only, std::memory_order_relaxed);
    seg_has_unproduced_ = true;
  }
  if (after >= o.segment_bytes) Seal();
  return absl::OkStatus();
}

void Writer::Tick() {
  if (seg_ == nullptr) return;
  const bool old =
      seg_->count.load(std::memory_order_relaxed) > 0 &&
      absl::Now() - seg_->opened >= spool_->options_.max_segment_age;
  bool resume = false;
  if (seg_has_unproduced_) {
    kafka::Producer* p = spool_->producer_.load(std::memory_order_acquire);
    resume = p != nullptr && p->Ready() && p->Accepting();
  }
  if (old || resume) Seal();
}

void Writer::Seal() {
  if (seg_ == nullptr) return;
  if (seg_has_unproduced_) {
    seg_->needs_replay.store(true, std::memory_order_release);
  }
  seg_->sealed.store(true, std::memory_order_release);
  seg_ = nullptr;
  seg_has_unproduced_ = false;
}

}  // namespace tern::relay::spool
