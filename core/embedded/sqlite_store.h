// SqliteStore: the embedded durable Store, one SQLite database file that several processes may
// open at once.
//
// Durability: the file runs in WAL mode with synchronous=FULL, so once Run returns OK the
// transaction is on stable storage and survives kill -9 and OS crash/power loss; after a crash
// SQLite's WAL recovery discards any torn, unacknowledged tail on the next open.
//
// Layout: table `kv(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID` holds the data;
// table `meta(key, value)` holds the marker `format = task-sentinel` and `schema_version`, checked
// on every Open so a foreign SQLite file or a newer schema is refused rather than modified; so is
// an empty or damaged file (PRAGMA quick_check at Open).
//
// Thread safety: safe for concurrent use. Each SqliteStore owns one SQLite connection guarded by
// a mutex, so transactions of one SqliteStore run one at a time; across connections and processes
// every transaction is BEGIN IMMEDIATE (takes the database's single write lock up front), so all
// transactions are serializable. A body must not call Run on the same SqliteStore (it would
// deadlock), and the Transaction it receives must not be used after Run returns. A SqliteStore
// must not be used across fork(): a child process opens its own (and the parent should not have
// the file open at the moment it forks, per SQLite's rules on POSIX locks).
#ifndef TASK_SENTINEL_CORE_EMBEDDED_SQLITE_STORE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_SQLITE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/embedded/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tasksentinel {

// A durable Store in one SQLite file, shareable between processes.
class SqliteStore final : public Store {
 public:
  // The schema version this code writes and reads. Open refuses files with a newer version.
  static constexpr int kSchemaVersion = 1;

  struct Options {
    // How long a transaction (or Open) waits for another connection's write lock before giving
    // up with UNAVAILABLE.
    absl::Duration busy_timeout = absl::Seconds(10);
    // Open checks the file's integrity (PRAGMA quick_check, which reads every page) when it is at
    // most this large, so that start-up stays within seconds; a larger file is not checked.
    int64_t integrity_check_max_bytes = int64_t{4} << 30;
  };

  // Opens the store at `path`, creating the file and schema only if no file exists there (the
  // parent directory must already exist; a new store appears at `path` complete, so concurrent
  // first opens agree). Then checks the file's integrity (PRAGMA quick_check, for files up to
  // Options::integrity_check_max_bytes). Errors name `path`, are one line, and leave the file as it
  // was: FAILED_PRECONDITION when the file is a SQLite database but not a Task Sentinel store,
  // or has a newer schema; DATA_LOSS when it is empty (0 bytes), not a SQLite database, or
  // damaged; UNAVAILABLE when it cannot be opened or created (missing directory, permissions)
  // or stays locked for longer than the busy timeout.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const Options& options);

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  // Closes the connection. Committed transactions are already durable; closing only checkpoints.
  ~SqliteStore() override;

  // Runs `body` in one BEGIN IMMEDIATE transaction and commits it; see Store::Run. Waits up to
  // the busy timeout for other connections' write transactions, then returns UNAVAILABLE. On a
  // body error, a failed store operation (even one the body ignored), or a failed commit, the
  // transaction is rolled back and the error returned. SQLite errors map to UNAVAILABLE
  // (busy/locked/I/O/full), DATA_LOSS (corrupt/not a database) or INTERNAL, with SQLite's message.
  absl::Status Run(absl::FunctionRef<absl::Status(Transaction&)> body) override;

  // The path this store was opened with.
  const std::string& path() const { return path_; }

 private:
  class SqliteTransaction;
  struct Statements;

  SqliteStore(std::string path, sqlite3* db);

  // Opening steps; `db_` is set, mu_ is not needed (the object is not yet shared).
  absl::Status Configure(const Options& options);
  // Refuses a file that is not a Task Sentinel store (or is damaged), then switches it to WAL.
  absl::Status CheckSchema(const Options& options);
  // PRAGMA quick_check unless the file is larger than `max_bytes`; DATA_LOSS naming the file
  // when it finds damage.
  absl::Status CheckIntegrity(int64_t max_bytes);
  absl::Status PrepareStatements();

  // Executes `sql` (no result rows needed) on the connection.
  absl::Status Exec(const char* sql, absl::string_view what);
  // A status for SQLite result code `rc` from operation `what`, including sqlite3_errmsg.
  absl::Status SqliteError(int rc, absl::string_view what) const;
  // Rolls back the open transaction, if any. Errors are ignored: on failure SQLite has already
  // rolled back or the next Run retries.
  void RollbackQuietly() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  sqlite3* const db_;                  // Owned. Used under mu_ once the store is shared.
  std::unique_ptr<Statements> stmts_;  // Prepared once at Open; used under mu_.
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_SQLITE_STORE_H_
