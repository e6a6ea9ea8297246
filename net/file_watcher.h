// Watches one file for changes on a worker's loop (inotify through libuv's
// uv_fs_event), so the relay can reload its projects file without a SIGHUP.
//
// The watch is on the file's DIRECTORY, filtered by the file's name, not on
// the file itself: editors (vim, sed -i), `mv new projects.yml` and config
// management all replace a file by renaming a new one over it, and an inotify
// watch on the old inode would see nothing after the first such save. Events
// are debounced (one callback `debounce_ms` after the last event of a burst),
// so one save, which is several events (create, write, close, rename), gives
// one callback, and the callback sees the finished file.
//
// What is caught: writes in place, truncation, rename over the file, delete
// and re-create, touch/chmod (attribute changes), and a Kubernetes ConfigMap
// update: the volume holds `projects.yml -> ..data/projects.yml` and the
// kubelet swaps the `..data` symlink by rename, so an event on `..data` in
// the watched directory counts as a change of the file too.
// What is not caught (send SIGHUP): a file that is a symlink into another
// directory and is edited there (only the link's directory is watched), a
// directory that is itself renamed or replaced (the watch follows the old
// directory inode), and filesystems without inotify events for remote
// changes (NFS, some FUSE mounts). The callback may also fire when nothing
// changed (touch, or an editor's swap file dance); reloading an unchanged
// file is harmless.
#ifndef TERN_NET_FILE_WATCHER_H_
#define TERN_NET_FILE_WATCHER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "net/worker.h"

namespace tern::net {

class FileWatcher {
 public:
  // `on_change` runs on `worker`'s loop thread, `debounce_ms` after the last
  // of a burst of events for `path`. `worker` must outlive the watcher;
  // destroy the watcher only after worker->Stop() returned (its handles live
  // in this object and are closed by the worker's stop hook).
  FileWatcher(Worker* worker, std::string path,
              absl::AnyInvocable<void()> on_change, uint64_t debounce_ms = 50);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Starts watching `path`'s directory (the current directory for a bare
  // name). The file itself need not exist yet; its directory must. Runs on
  // the loop (RunSync), so any thread but the loop's own may call it, before
  // or after Worker::Start(). Errors: NotFound / PermissionDenied / ...
  // "watch DIR: reason" from inotify, FailedPrecondition when called twice.
  absl::Status Start();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::net

#endif  // TERN_NET_FILE_WATCHER_H_
