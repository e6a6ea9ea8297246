// The embedded store: one SQLite file in WAL mode, the default of
// tern-backend (no server to run).
//
// Two connections, each behind its own mutex: the writer (the consumer's
// WriteBatch, the CLI, status changes) and the reader (the API). WAL lets the
// reader see the last committed state while the writer is inside a
// transaction, so API requests never wait for a batch. Each connection keeps
// its prepared statements for its whole life. synchronous=NORMAL: a commit is
// durable once the WAL is synced at checkpoint; a power cut can lose the last
// batches, which the consumer then replays from the Kafka offsets stored with
// them (the offsets roll back together with the batches).
//
// Errors as in store.h; SQLITE_BUSY past busy_timeout (another process holds
// the file) and I/O errors are Unavailable.
#ifndef TERN_BACKEND_STORAGE_SQLITE_STORE_H_
#define TERN_BACKEND_STORAGE_SQLITE_STORE_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "backend/storage/store.h"

namespace tern::storage {

class SqliteStore {
 public:
  // Opens or creates the database at `path` and applies the migrations it
  // lacks. Unavailable when the file cannot be opened or is locked.
  static absl::StatusOr<std::unique_ptr<Store>> Open(std::string_view path);
};

}  // namespace tern::storage

#endif  // TERN_BACKEND_STORAGE_SQLITE_STORE_H_
