// The server store: PostgreSQL through libpq, for a backend whose data
// should live on a database server (several API hosts, managed backups).
//
// Two connections, each behind its own mutex: the writer (the consumer's
// WriteBatch, the CLI, status changes) and the reader (the API), so API
// requests never queue behind a batch. WriteBatch is one transaction that
// inserts the batch's events with multi-row INSERT ... ON CONFLICT DO
// NOTHING RETURNING, which tells which events were new. Every value is a
// bound parameter (PQexecParams).
//
// A lost connection makes the call fail with Unavailable (the consumer
// retries the batch, the API answers 503); the next call reconnects.
#ifndef TERN_BACKEND_STORAGE_POSTGRES_STORE_H_
#define TERN_BACKEND_STORAGE_POSTGRES_STORE_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "backend/storage/store.h"

namespace tern::storage {

class PostgresStore {
 public:
  // Connects to the libpq connection URI `uri` and applies the migrations
  // the database lacks (under an advisory lock, so two backends starting at
  // once do not race). Unavailable when the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<Store>> Open(std::string_view uri);
};

}  // namespace tern::storage

#endif  // TERN_BACKEND_STORAGE_POSTGRES_STORE_H_
