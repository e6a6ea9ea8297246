#include "net/file_watcher.h"

#include <uv.h>

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "net/timer.h"

namespace tern::net {
namespace {

// The name the kubelet swaps (by rename) when a ConfigMap volume changes.
constexpr std::string_view kConfigMapData = "..data";

absl::Status WatchError(const std::string& dir, int rc) {
  const std::string message =
      absl::StrCat("watch ", dir, ": ", uv_strerror(rc));
  switch (rc) {
    case UV_ENOENT:
    case UV_ENOTDIR:
      return absl::NotFoundError(message);
    case UV_EACCES:
    case UV_EPERM:
      return absl::PermissionDeniedError(message);
    case UV_ENOSPC:  // fs.inotify.max_user_watches reached
    case UV_EMFILE:  // fs.inotify.max_user_instances reached
      return absl::ResourceExhaustedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

// "a/b/c" -> "a/b", "/c" -> "/", "c" -> ".".
std::string DirOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return std::string(".");
  return std::string(slash == 0 ? path.substr(0, 1) : path.substr(0, slash));
}

// "a/b/c" -> "c".
std::string BaseOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path
                                                     : path.substr(slash + 1));
}

}  // namespace

class FileWatcher::Impl {
 public:
  Impl(Worker* worker, std::string_view path,
       absl::AnyInvocable<void()> on_change, uint64_t debounce_ms)
      : worker_(worker),
        on_change_(std::move(on_change)),
        debounce_ms_(debounce_ms),
        debounce_(worker),
        dir_(DirOf(path)),
        name_(BaseOf(path)) {}

  absl::Status StartOnLoop() {
    if (started_)
      return absl::FailedPreconditionError("watcher already started");
    if (int rc = uv_fs_event_init(worker_->loop(), &event_); rc != 0) {
      return WatchError(dir_, rc);
    }
    event_.data = this;
    if (int rc = uv_fs_event_start(&event_, &OnEvent, dir_.c_str(), 0);
        rc != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&event_), nullptr);
      return WatchError(dir_, rc);
    }
    started_ = true;
    worker_->AddStopHook(
        [this] { uv_close(reinterpret_cast<uv_handle_t*>(&event_), nullptr); });
    return absl::OkStatus();
  }

  Worker* worker() const { return worker_; }

 private:
  static void OnEvent(uv_fs_event_t* handle, const char* filename, int events,
                      int status) {
    auto* self = static_cast<Impl*>(handle->data);
    // An error on the watch (the directory went away) has no file name; a
    // reload then reports what is wrong with the file.
    if (status == 0 && filename != nullptr) {
      const std::string_view name(filename);
      if (name != self->name_ && name != kConfigMapData) return;
    }
    // Trailing debounce: every event pushes the callback back, so it runs
    // once the burst is over.
    self->debounce_.Start(self->debounce_ms_, 0,
                          [self] { self->on_change_(); });
  }

  Worker* worker_;
  absl::AnyInvocable<void()> on_change_;
  uint64_t debounce_ms_;
  Timer debounce_;
  std::string dir_;
  std::string name_;
  uv_fs_event_t event_{};
  bool started_ = false;
};

FileWatcher::FileWatcher(Worker* worker, std::string path,
                         absl::AnyInvocable<void()> on_change,
                         uint64_t debounce_ms)
    : impl_(std::make_unique<Impl>(worker, std::move(path),
                                   std::move(on_change), debounce_ms)) {}

FileWatcher::~FileWatcher() = default;

absl::Status FileWatcher::Start() {
  // impl_ is stable for the watcher's life, and RunSync waits.
  Impl* impl = impl_.get();
  return impl->worker()->RunSync([impl] { return impl->StartOnLoop(); });
}

}  // namespace tern::net
