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
// Writes (group commit): each SqliteStore has one write connection. Concurrent Run calls queue
// up; one of the callers leads a batch: it runs every queued body in order inside one
// BEGIN IMMEDIATE transaction, each body inside its own SAVEPOINT (a body that fails is rolled
// back to its savepoint alone and does not fail the others), then commits once, so the batch
// shares one fsync. Every caller of the batch returns only after that commit, so an
// acknowledged write is on disk exactly as before. Across connections and processes every
// write transaction takes the database's single write lock up front, so writes are
// serializable; a batch is a serial run of its bodies.
//
// Reads: Read runs on a small pool of read-only connections, each in its own WAL read
// transaction (a snapshot of the last commit, taken at the body's first read), beside the writer
// and beside each other; no store-wide lock is taken on the read path.
//
// Thread safety: safe for concurrent use. A body must not call Run or Read on the same
// SqliteStore (it could deadlock), must not rely on running on its caller's thread (a batch
// runs on its leader's), and the Transaction it receives must not be used after the call
// returns. A SqliteStore must not be used across fork(): a child process opens its own (and the
// parent should not have the file open at the moment it forks, per SQLite's rules on POSIX
// locks).
#ifndef TASK_SENTINEL_CORE_EMBEDDED_SQLITE_STORE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_SQLITE_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
    // How many read connections Read shares out (at least 1).
    int read_connections = 4;
    // The most writes one batch (one commit) takes.
    int max_batch = 128;
  };

  // Counters of the write path since Open.
  struct WriteStats {
    // Run calls that returned OK (acknowledged writes).
    uint64_t writes = 0;
    // Commits that changed the file. In WAL mode with synchronous=FULL each is one fsync of
    // the WAL (a checkpoint, every ~1000 pages, adds its own), so commits / writes is the
    // syncs per write that group commit brings below 1.
    uint64_t commits = 0;
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

  // Runs `body` in a BEGIN IMMEDIATE transaction, possibly shared with concurrent Run calls
  // (group commit, above), and returns once that transaction is committed; see Store::Run.
  // Waits up to the busy timeout for other connections' write transactions, then returns
  // UNAVAILABLE. On a body error or a failed store operation (even one the body ignored) the
  // body's writes are rolled back (to its savepoint) and the error returned; the other writes of
  // the batch are unaffected. A failed commit, or an error after which SQLite rolled back the
  // whole transaction (I/O error, disk full), fails every write of the batch that it undid.
  // SQLite errors map to UNAVAILABLE (busy/locked/I/O/full), DATA_LOSS (corrupt/not a database)
  // or INTERNAL, with SQLite's message.
  absl::Status Run(absl::FunctionRef<absl::Status(Transaction&)> body) override;

  // Runs `body` in a read transaction on one of the read connections; see Store::Read. Waits for
  // a free read connection when every one is busy; never waits for the writer.
  absl::Status Read(absl::FunctionRef<absl::Status(Transaction&)> body) override;

  // The write path's counters.
  WriteStats write_stats() const;

  // How many writes wait for a batch (queued, not yet taken by a leader): a gauge of the write
  // backlog, and how tests line writes up into one batch.
  size_t queued_writes();

  // The path this store was opened with.
  const std::string& path() const { return path_; }

 private:
  class SqliteTransaction;
  struct Statements;
  struct Reader;
  struct PendingWrite;

  SqliteStore(std::string path, sqlite3* db, int max_batch);

  // Opening steps; `db_` is set, mu_ is not needed (the object is not yet shared).
  absl::Status Configure(const Options& options);
  // Refuses a file that is not a Task Sentinel store (or is damaged), then switches it to WAL.
  absl::Status CheckSchema(const Options& options);
  // PRAGMA quick_check unless the file is larger than `max_bytes`; DATA_LOSS naming the file
  // when it finds damage.
  absl::Status CheckIntegrity(int64_t max_bytes);
  absl::Status PrepareStatements();
  // The cached statements for connection `db`: the write connection's (`writer`) or a reader's
  // (no writes, savepoints or BEGIN IMMEDIATE).
  absl::StatusOr<std::unique_ptr<Statements>> Prepare(sqlite3* db, bool writer) const;
  // Opens the `n` read connections.
  absl::Status OpenReaders(int n, const Options& options);

  // Runs the bodies of `batch` in as few transactions as it can (one unless SQLite rolls one
  // back) and sets each write's status.
  void CommitBatch(const std::vector<PendingWrite*>& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A free read connection, locked (waits for one when all are busy).
  Reader& LockReader();

  // Executes `sql` (no result rows needed) on the write connection.
  absl::Status Exec(const char* sql, absl::string_view what);
  // A status for SQLite result code `rc` from operation `what` on connection `db`, including
  // sqlite3_errmsg.
  absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) const;
  // The same on the write connection.
  absl::Status SqliteError(int rc, absl::string_view what) const {
    return SqliteError(db_, rc, what);
  }

  const std::string path_;
  const size_t max_batch_;

  // Writes waiting for a batch, and whether a caller is leading one.
  absl::Mutex queue_mu_;
  std::vector<PendingWrite*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool leading_ ABSL_GUARDED_BY(queue_mu_) = false;

  // The write connection, used by the batch's leader.
  absl::Mutex mu_;
  sqlite3* const db_;                  // Owned. Used under mu_ once the store is shared.
  std::unique_ptr<Statements> stmts_;  // Prepared once at Open; used under mu_.

  // The read connections, each with its own lock; fixed after Open.
  std::vector<std::unique_ptr<Reader>> readers_;
  std::atomic<size_t> next_reader_{0};

  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> commits_{0};
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_SQLITE_STORE_H_
