// SqliteStore: the embedded durable Store on SQLite (see sqlite_store.h).
//
// Thread safety: every connection is opened with SQLITE_OPEN_NOMUTEX. The write connection `db_`
// (and its cached statements) is used after Open only under SqliteStore::mu_, which the leader
// of a batch holds for the batch's whole transaction; queue_mu_ guards the queue of waiting
// writes and who leads. Each read connection is used only under its Reader::mu, held for the
// whole read transaction. A SqliteTransaction lives only inside one transaction. During Open
// the object is not yet shared, so no lock is needed there.
#include "core/embedded/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tasksentinel {
namespace {

constexpr char kFormatKey[] = "format";
constexpr char kFormatValue[] = "task-sentinel";
constexpr char kSchemaVersionKey[] = "schema_version";

struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// Resets a statement and clears its bindings when the scope ends, so a cached statement is
// always idle (holds no read cursor and no pointers into caller buffers) between uses.
class ScopedReset {
 public:
  explicit ScopedReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ScopedReset(const ScopedReset&) = delete;
  ScopedReset& operator=(const ScopedReset&) = delete;
  ~ScopedReset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* const stmt_;
};

// The absl code for SQLite (extended) result code `rc`.
absl::StatusCode CodeFor(int rc) {
  if (rc == SQLITE_IOERR_CORRUPTFS) return absl::StatusCode::kDataLoss;
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_INTERRUPT:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

// Binds text `value` (which must outlive the statement's next reset) to parameter `index`.
int BindText(sqlite3_stmt* stmt, int index, absl::string_view value) {
  // A non-null pointer even for "", since a null pointer would bind SQL NULL.
  return sqlite3_bind_text(stmt, index, value.empty() ? "" : value.data(),
                           static_cast<int>(value.size()), SQLITE_STATIC);
}

// Binds blob `value` (which must outlive the statement's next reset) to parameter `index`.
int BindBlob(sqlite3_stmt* stmt, int index, absl::string_view value) {
  return sqlite3_bind_blob(stmt, index, value.empty() ? "" : value.data(),
                           static_cast<int>(value.size()), SQLITE_STATIC);
}

std::string ColumnText(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  const int size = sqlite3_column_bytes(stmt, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text), size);
}

std::string ColumnBlob(sqlite3_stmt* stmt, int column) {
  const void* blob = sqlite3_column_blob(stmt, column);
  const int size = sqlite3_column_bytes(stmt, column);
  if (blob == nullptr) return std::string();  // Zero-length blob.
  return std::string(static_cast<const char*>(blob), size);
}

// The smallest string greater than every string that starts with `prefix`, or nullopt when
// there is none (prefix empty or all 0xFF bytes).
std::optional<std::string> PrefixSuccessor(absl::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xFF) s.pop_back();
  if (s.empty()) return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

// The directory containing `path` ("." for a bare file name).
std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// fsyncs directory `dir`, so a newly created file's directory entry is durable.
absl::Status SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open directory ", dir, " to sync it: ", std::strerror(errno)));
  }
  absl::Status status;
  if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
    status = absl::UnavailableError(
        absl::StrCat("cannot fsync directory ", dir, ": ", std::strerror(errno)));
  }
  close(fd);
  return status;
}

// The schema of a new store, in one transaction.
std::string NewSchemaSql() {
  return absl::StrCat(
      "BEGIN;"
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
      "INSERT INTO meta (key, value) VALUES ('",
      kFormatKey, "', '", kFormatValue, "'), ('", kSchemaVersionKey, "', '",
      SqliteStore::kSchemaVersion, "');"
      "COMMIT;");
}

// Creates a new store at `path`, unless a file appears there first. The schema is built in a
// private file next to it and linked into place (link(2) never replaces a file), so no opener,
// in this process or another, ever sees a half-made or empty store at `path`.
absl::Status CreateNewStore(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  const std::string temp = absl::StrCat(path, ".new-", getpid(), "-", counter++);
  unlink(temp.c_str());
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(temp.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           /*zVfs=*/nullptr);
  std::string error;
  if (rc == SQLITE_OK) {
    char* message = nullptr;
    // Born in WAL mode (the mode is kept in the file): otherwise each concurrent first opener
    // switches it in CheckSchema, a switch that needs the file to itself and fails at once,
    // without waiting out the busy timeout, while another opener reads it.
    const std::string sql =
        absl::StrCat("PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;", NewSchemaSql());
    rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    if (message != nullptr) {
      error = message;
      sqlite3_free(message);
    }
  } else {
    error = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  }
  sqlite3_close_v2(db);
  if (rc != SQLITE_OK) {
    unlink(temp.c_str());
    return absl::Status(CodeFor(rc),
                        absl::StrCat("cannot create Task Sentinel store ", path, ": ", error,
                                     " (does the directory exist and is it writable?)"));
  }
  const bool linked = link(temp.c_str(), path.c_str()) == 0;
  const int link_errno = errno;
  unlink(temp.c_str());
  if (!linked && link_errno != EEXIST) {  // EEXIST: another opener created it first
    return absl::UnavailableError(absl::StrCat("cannot create Task Sentinel store ", path, ": ",
                                               std::strerror(link_errno)));
  }
  // The file was just created: make its directory entry durable too.
  return SyncDirectory(DirName(path));
}

// A DATA_LOSS status for a damaged store: one line, SQLite's detail cut short.
absl::Status Damaged(const std::string& path, absl::string_view detail) {
  constexpr size_t kMaxDetail = 160;
  std::string d(detail.substr(0, kMaxDetail));
  for (char& c : d) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (detail.size() > kMaxDetail) d += "...";
  return absl::DataLossError(absl::StrCat(
      "Task Sentinel store ", path, " is damaged (", d,
      "); refusing to use it. Restore it from a backup, or move it away to start an empty store"));
}

}  // namespace

// The connection's cached prepared statements.
struct SqliteStore::Statements {
  StmtPtr begin;  // BEGIN IMMEDIATE on the write connection, BEGIN (deferred) on a reader.
  StmtPtr commit;
  StmtPtr rollback;
  StmtPtr savepoint;    // Write connection only: one write of a batch.
  StmtPtr release;      // Write connection only.
  StmtPtr rollback_to;  // Write connection only.
  StmtPtr get;
  StmtPtr put;
  StmtPtr del;
  StmtPtr scan_range;  // key >= prefix AND key < successor(prefix).
  StmtPtr scan_from;   // key >= prefix, for prefixes without a successor.
};

// One read connection of the pool.
struct SqliteStore::Reader {
  absl::Mutex mu;
  sqlite3* db = nullptr;  // Owned; used under mu.
  std::unique_ptr<Statements> stmts;

  ~Reader() {
    stmts.reset();  // Finalize before closing.
    sqlite3_close_v2(db);
  }
};

// One caller's write, queued for a batch. The caller waits (under queue_mu_) until `done`; the
// leader sets `status` before it sets `done`.
struct SqliteStore::PendingWrite {
  explicit PendingWrite(absl::FunctionRef<absl::Status(Transaction&)> b) : body(b) {}
  absl::FunctionRef<absl::Status(Transaction&)> body;
  absl::Status status;
  bool done = false;
};

// One transaction's view: operations run directly inside the connection's open SQLite
// transaction, so reads see the transaction's own writes. Records the first failed operation,
// after which every operation fails with it without touching the connection (SQLite may have
// rolled the transaction back, and a later write would then commit on its own), so a
// transaction with a failed operation is never committed, even if the body ignored the error.
// A read-only transaction refuses writes.
class SqliteStore::SqliteTransaction final : public Transaction {
 public:
  SqliteTransaction(const SqliteStore& store, sqlite3* db, const Statements& stmts,
                    bool read_only)
      : store_(store), db_(db), stmts_(stmts), read_only_(read_only) {}

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    if (!first_error_.ok()) return first_error_;
    sqlite3_stmt* stmt = stmts_.get.get();
    ScopedReset reset(stmt);
    int rc = BindText(stmt, 1, key);
    if (rc != SQLITE_OK) return Fail(rc, "Get (bind)");
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return Fail(rc, "Get");
    return std::optional<std::string>(ColumnBlob(stmt, 0));
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      absl::string_view prefix) override {
    if (!first_error_.ok()) return first_error_;
    const std::optional<std::string> upper = PrefixSuccessor(prefix);
    sqlite3_stmt* stmt = upper.has_value() ? stmts_.scan_range.get() : stmts_.scan_from.get();
    ScopedReset reset(stmt);
    int rc = BindText(stmt, 1, prefix);
    if (rc == SQLITE_OK && upper.has_value()) rc = BindText(stmt, 2, *upper);
    if (rc != SQLITE_OK) return Fail(rc, "Scan (bind)");
    std::vector<std::pair<std::string, std::string>> out;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      out.emplace_back(ColumnText(stmt, 0), ColumnBlob(stmt, 1));
    }
    if (rc != SQLITE_DONE) return Fail(rc, "Scan");
    return out;
  }

  absl::Status Put(absl::string_view key, absl::string_view value) override {
    if (!first_error_.ok()) return first_error_;
    if (read_only_) return RefuseWrite("Put");
    sqlite3_stmt* stmt = stmts_.put.get();
    ScopedReset reset(stmt);
    int rc = BindText(stmt, 1, key);
    if (rc == SQLITE_OK) rc = BindBlob(stmt, 2, value);
    if (rc != SQLITE_OK) return Fail(rc, "Put (bind)");
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return Fail(rc, "Put");
    return absl::OkStatus();
  }

  absl::Status Delete(absl::string_view key) override {
    if (!first_error_.ok()) return first_error_;
    if (read_only_) return RefuseWrite("Delete");
    sqlite3_stmt* stmt = stmts_.del.get();
    ScopedReset reset(stmt);
    int rc = BindText(stmt, 1, key);
    if (rc != SQLITE_OK) return Fail(rc, "Delete (bind)");
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return Fail(rc, "Delete");
    return absl::OkStatus();
  }

  // The first failed operation's error, or OK.
  const absl::Status& first_error() const { return first_error_; }

 private:
  absl::Status Fail(int rc, absl::string_view what) {
    first_error_ = store_.SqliteError(db_, rc, what);
    return first_error_;
  }

  absl::Status RefuseWrite(absl::string_view what) {
    first_error_ = absl::FailedPreconditionError(absl::StrCat(
        "Task Sentinel store ", store_.path(), ": ", what, " in a read-only transaction"));
    return first_error_;
  }

  const SqliteStore& store_;
  sqlite3* const db_;
  const Statements& stmts_;
  const bool read_only_;
  absl::Status first_error_;
};

SqliteStore::SqliteStore(std::string path, sqlite3* db, int max_batch)
    : path_(std::move(path)), max_batch_(static_cast<size_t>(std::max(1, max_batch))), db_(db) {}

SqliteStore::~SqliteStore() {
  readers_.clear();
  stmts_.reset();  // Finalize before closing.
  sqlite3_close_v2(db_);
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  return Open(path, Options());
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const Options& options) {
  // A new store is made only where no file exists. An empty file is what is left of a store
  // (truncated, or a crashed copy), not a new one.
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return absl::UnavailableError(absl::StrCat("cannot open Task Sentinel store ", path, ": ",
                                                 std::strerror(errno)));
    }
    if (absl::Status s = CreateNewStore(path); !s.ok()) return s;
  } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
    return absl::DataLossError(absl::StrCat(
        "Task Sentinel store ", path,
        " is empty (0 bytes): truncated or damaged, not a new store; refusing to use it. Restore "
        "it from a backup, or remove it to start an empty store"));
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                 /*zVfs=*/nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return absl::Status(CodeFor(rc),
                        absl::StrCat("cannot open Task Sentinel store ", path, ": ", message,
                                     " (does the directory exist and is it writable?)"));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, db, options.max_batch));
  if (absl::Status s = store->Configure(options); !s.ok()) return s;
  if (absl::Status s = store->CheckSchema(options); !s.ok()) {
    if (s.code() == absl::StatusCode::kDataLoss && !absl::StrContains(s.message(), "damaged")) {
      return Damaged(path, s.message());
    }
    return s;
  }
  if (absl::Status s = store->PrepareStatements(); !s.ok()) return s;
  if (absl::Status s = store->OpenReaders(std::max(1, options.read_connections), options);
      !s.ok()) {
    return s;
  }
  return store;
}

absl::Status SqliteStore::Configure(const Options& options) {
  sqlite3_extended_result_codes(db_, 1);
  const int64_t timeout_ms = absl::ToInt64Milliseconds(options.busy_timeout);
  sqlite3_busy_timeout(db_, static_cast<int>(std::max<int64_t>(0, timeout_ms)));
  // Per connection: fsync the WAL at every commit, so an acknowledged commit survives power loss.
  return Exec("PRAGMA synchronous=FULL", "set synchronous=FULL");
}

absl::Status SqliteStore::CheckIntegrity(int64_t max_bytes) {
  // PRAGMA quick_check reads every page, in one step that neither a progress handler nor
  // sqlite3_interrupt breaks into (SQLite 3.40), so its time is bounded by the file's size:
  // larger files than `max_bytes` are not checked (measured: ~1.5 GB/s from the page cache).
  struct stat st;
  if (stat(path_.c_str(), &st) == 0 && st.st_size > max_bytes) return absl::OkStatus();
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check(1)", -1, &raw, nullptr);
  StmtPtr stmt(raw);
  std::string verdict;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(raw);
    if (rc == SQLITE_ROW) verdict = ColumnText(raw, 0);
  }
  const std::string errmsg = sqlite3_errmsg(db_);
  stmt.reset();
  if (rc == SQLITE_ROW) {
    if (verdict == "ok") return absl::OkStatus();
    return Damaged(path_, absl::StrCat("PRAGMA quick_check: ", verdict));
  }
  if (CodeFor(rc) == absl::StatusCode::kDataLoss) {
    return Damaged(path_, absl::StrCat("PRAGMA quick_check: ", errmsg));
  }
  return SqliteError(rc, "PRAGMA quick_check");
}

absl::Status SqliteStore::CheckSchema(const Options& options) {
  // Runs `sql` and returns column 0 of every row as text.
  auto query = [this](const char* sql, absl::string_view arg,
                      absl::string_view what) -> absl::StatusOr<std::vector<std::string>> {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return SqliteError(rc, what);
    if (sqlite3_bind_parameter_count(raw) > 0 && (rc = BindText(raw, 1, arg)) != SQLITE_OK) {
      return SqliteError(rc, what);
    }
    std::vector<std::string> rows;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) rows.push_back(ColumnText(raw, 0));
    if (rc != SQLITE_DONE) return SqliteError(rc, what);
    return rows;
  };
  auto not_a_store = [this](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, " is a SQLite database but not a Task Sentinel store (", why,
                     "); refusing to use it"));
  };

  // BEGIN IMMEDIATE: check-and-create is atomic against other processes opening the same file.
  if (absl::Status s = Exec("BEGIN IMMEDIATE", "begin schema check"); !s.ok()) return s;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<std::vector<std::string>> tables = query(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", "", "read schema");
    if (!tables.ok()) return tables.status();
    // A new store is made complete before it appears at its path (CreateNewStore), so a
    // database without tables is not one of ours.
    if (tables->empty()) return not_a_store("no tables");
    bool has_meta = false;
    bool has_kv = false;
    for (const std::string& t : *tables) {
      has_meta |= t == "meta";
      has_kv |= t == "kv";
    }
    if (!has_meta) return not_a_store("no meta table");
    absl::StatusOr<std::vector<std::string>> format =
        query("SELECT value FROM meta WHERE key = ?1", kFormatKey, "read format marker");
    if (!format.ok()) return not_a_store(format.status().message());
    if (format->size() != 1 || (*format)[0] != kFormatValue) {
      return not_a_store("no task-sentinel format marker in meta");
    }
    absl::StatusOr<std::vector<std::string>> version =
        query("SELECT value FROM meta WHERE key = ?1", kSchemaVersionKey, "read schema version");
    if (!version.ok()) return version.status();
    int v = 0;
    if (version->size() != 1 || !absl::SimpleAtoi((*version)[0], &v) || v < 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("Task Sentinel store ", path_, " has a missing or invalid schema_version"));
    }
    if (v > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Task Sentinel store ", path_, " has schema version ", v,
          ", newer than this binary supports (", kSchemaVersion, "); upgrade Task Sentinel"));
    }
    if (!has_kv) {
      return absl::FailedPreconditionError(
          absl::StrCat("Task Sentinel store ", path_, " is missing its kv table"));
    }
    return Exec("COMMIT", "end schema check");
  }();
  if (!status.ok()) {
    if (!sqlite3_get_autocommit(db_)) Exec("ROLLBACK", "rollback schema check").IgnoreError();
    return status;
  }

  // Knowing the file is ours, check it before changing anything.
  if (absl::Status s = CheckIntegrity(options.integrity_check_max_bytes); !s.ok()) return s;

  // Only now, knowing the file is ours and sound, switch it to WAL (persistent in the file).
  // The switch needs the file's exclusive lock, and SQLite does not wait for it (no busy
  // handler: the statement already holds a read lock), so openers that switch a new store at
  // the same moment get SQLITE_BUSY at once; retry until the busy timeout. Once the file is in
  // WAL mode the statement changes nothing and takes no such lock.
  const absl::Time give_up = absl::Now() + options.busy_timeout;
  absl::StatusOr<std::vector<std::string>> mode;
  while (true) {
    mode = query("PRAGMA journal_mode=WAL", "", "set journal_mode=WAL");
    if (mode.ok() || (sqlite3_extended_errcode(db_) & 0xff) != SQLITE_BUSY ||
        absl::Now() >= give_up) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (!mode.ok()) return mode.status();
  if (mode->size() != 1 || (*mode)[0] != "wal") {
    return absl::FailedPreconditionError(absl::StrCat("cannot put Task Sentinel store ", path_,
                                                      " in WAL mode (journal_mode is ",
                                                      mode->empty() ? "unknown" : (*mode)[0], ")"));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::PrepareStatements() {
  absl::StatusOr<std::unique_ptr<Statements>> stmts = Prepare(db_, /*writer=*/true);
  if (!stmts.ok()) return stmts.status();
  stmts_ = *std::move(stmts);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SqliteStore::Statements>> SqliteStore::Prepare(sqlite3* db,
                                                                              bool writer) const {
  auto stmts = std::make_unique<Statements>();
  const std::pair<StmtPtr*, const char*> common[] = {
      {&stmts->begin, writer ? "BEGIN IMMEDIATE" : "BEGIN"},
      {&stmts->commit, "COMMIT"},
      {&stmts->rollback, "ROLLBACK"},
      {&stmts->get, "SELECT value FROM kv WHERE key = ?1"},
      {&stmts->scan_range, "SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"},
      {&stmts->scan_from, "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key"},
  };
  const std::pair<StmtPtr*, const char*> write_only[] = {
      {&stmts->savepoint, "SAVEPOINT one_write"},
      {&stmts->release, "RELEASE one_write"},
      {&stmts->rollback_to, "ROLLBACK TO one_write"},
      {&stmts->put,
       "INSERT INTO kv (key, value) VALUES (?1, ?2) "
       "ON CONFLICT (key) DO UPDATE SET value = excluded.value"},
      {&stmts->del, "DELETE FROM kv WHERE key = ?1"},
  };
  auto prepare = [&](StmtPtr* slot, const char* sql) -> absl::Status {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    slot->reset(raw);
    if (rc != SQLITE_OK) return SqliteError(db, rc, absl::StrCat("prepare \"", sql, "\""));
    return absl::OkStatus();
  };
  for (const auto& [slot, sql] : common) {
    if (absl::Status s = prepare(slot, sql); !s.ok()) return s;
  }
  if (writer) {
    for (const auto& [slot, sql] : write_only) {
      if (absl::Status s = prepare(slot, sql); !s.ok()) return s;
    }
  }
  return stmts;
}

absl::Status SqliteStore::OpenReaders(int n, const Options& options) {
  const int64_t timeout_ms = absl::ToInt64Milliseconds(options.busy_timeout);
  for (int i = 0; i < n; ++i) {
    auto reader = std::make_unique<Reader>();
    const int rc = sqlite3_open_v2(path_.c_str(), &reader->db,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, /*zVfs=*/nullptr);
    if (rc != SQLITE_OK) {
      return absl::Status(CodeFor(rc), absl::StrCat("cannot open Task Sentinel store ", path_,
                                                    " for reading: ", sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(reader->db, 1);
    sqlite3_busy_timeout(reader->db, static_cast<int>(std::max<int64_t>(0, timeout_ms)));
    // A read connection never writes: SQLite itself refuses any change made through it.
    const int query_only = sqlite3_exec(reader->db, "PRAGMA query_only=1", nullptr, nullptr,
                                        nullptr);
    if (query_only != SQLITE_OK) return SqliteError(reader->db, query_only, "set query_only");
    absl::StatusOr<std::unique_ptr<Statements>> stmts = Prepare(reader->db, /*writer=*/false);
    if (!stmts.ok()) return stmts.status();
    reader->stmts = *std::move(stmts);
    readers_.push_back(std::move(reader));
  }
  return absl::OkStatus();
}

namespace {

// Steps a statement that returns no rows (BEGIN, COMMIT, SAVEPOINT, ...) and resets it.
int StepOnce(sqlite3_stmt* stmt) {
  ScopedReset reset(stmt);
  return sqlite3_step(stmt);
}

// Rolls back the connection's open transaction, if any. Errors are ignored: on failure SQLite
// has already rolled back, or the next transaction on the connection clears it first.
void RollbackQuietly(sqlite3* db, sqlite3_stmt* rollback) {
  if (sqlite3_get_autocommit(db)) return;  // SQLite already rolled back (e.g. after I/O error).
  StepOnce(rollback);
}

// Waits in SqliteStore::Run: until this write is done, or no one leads a batch.
struct WaitState {
  const bool* done;
  const bool* leading;
};
bool DoneOrLeaderless(WaitState* w) { return *w->done || !*w->leading; }

}  // namespace

absl::Status SqliteStore::Run(absl::FunctionRef<absl::Status(Transaction&)> body) {
  PendingWrite me(body);
  std::vector<PendingWrite*> batch;
  {
    absl::MutexLock lock(&queue_mu_);
    queue_.push_back(&me);
    WaitState wait{&me.done, &leading_};
    queue_mu_.Await(absl::Condition(&DoneOrLeaderless, &wait));
    if (me.done) return me.status;  // A leader ran and committed (or failed) this write.
    // Lead: take the queue (this write is in it), oldest first, up to max_batch_ writes.
    leading_ = true;
    const size_t n = std::min(queue_.size(), max_batch_);
    batch.assign(queue_.begin(), queue_.begin() + n);
    queue_.erase(queue_.begin(), queue_.begin() + n);
  }
  {
    absl::MutexLock lock(&mu_);
    CommitBatch(batch);
  }
  absl::Status status;
  {
    absl::MutexLock lock(&queue_mu_);
    for (PendingWrite* w : batch) w->done = true;
    leading_ = false;  // A waiting writer, if any, leads the next batch.
    status = me.status;
  }
  return status;
}

void SqliteStore::CommitBatch(const std::vector<PendingWrite*>& batch) {
  size_t next = 0;
  while (next < batch.size()) {
    // A previous rollback may have failed and left a transaction open; clear it first.
    RollbackQuietly(db_, stmts_->rollback.get());
    if (const int rc = StepOnce(stmts_->begin.get()); rc != SQLITE_DONE) {
      const absl::Status error = SqliteError(rc, "BEGIN IMMEDIATE");
      for (; next < batch.size(); ++next) batch[next]->status = error;
      return;
    }
    const int changes_before = sqlite3_total_changes(db_);
    // A write alone needs no savepoint: on failure the whole transaction is rolled back.
    const bool alone = batch.size() - next == 1;
    std::vector<PendingWrite*> applied;  // Bodies whose writes are in the open transaction.
    bool rolled_back = false;            // SQLite undid the transaction (and `applied`).
    for (; next < batch.size() && !rolled_back; ++next) {
      PendingWrite* w = batch[next];
      if (!alone) {
        if (const int rc = StepOnce(stmts_->savepoint.get()); rc != SQLITE_DONE) {
          w->status = SqliteError(rc, "SAVEPOINT");
          rolled_back = sqlite3_get_autocommit(db_) != 0;
          continue;
        }
      }
      SqliteTransaction txn(*this, db_, *stmts_, /*read_only=*/false);
      absl::Status status = w->body(txn);
      if (status.ok()) status = txn.first_error();
      if (sqlite3_get_autocommit(db_)) {
        // SQLite rolled back the whole transaction (an I/O error, a full disk).
        if (status.ok()) {
          status = absl::UnavailableError(absl::StrCat(
              "Task Sentinel store ", path_, ": the transaction was rolled back by SQLite"));
        }
        w->status = status;
        rolled_back = true;
        continue;
      }
      if (status.ok()) {
        if (!alone) {
          if (const int rc = StepOnce(stmts_->release.get()); rc != SQLITE_DONE) {
            status = SqliteError(rc, "RELEASE");
          }
        }
        if (status.ok()) {
          applied.push_back(w);
          continue;
        }
      }
      w->status = status;
      if (alone) continue;  // The last write, so the loop ends; rolled back below.
      // Undo this write alone; if that fails the transaction holds it, so undo everything.
      const int rc = StepOnce(stmts_->rollback_to.get());
      if (rc != SQLITE_DONE || StepOnce(stmts_->release.get()) != SQLITE_DONE) {
        RollbackQuietly(db_, stmts_->rollback.get());
        rolled_back = true;
      }
    }
    if (rolled_back || applied.empty()) {
      RollbackQuietly(db_, stmts_->rollback.get());
      for (PendingWrite* w : applied) {
        w->status = absl::UnavailableError(absl::StrCat(
            "Task Sentinel store ", path_,
            ": not committed, rolled back with a failed write in the same transaction"));
      }
      continue;  // The rest of the batch, if any, in a fresh transaction.
    }
    const bool changed = sqlite3_total_changes(db_) != changes_before;
    if (const int rc = StepOnce(stmts_->commit.get()); rc != SQLITE_DONE) {
      const absl::Status error = SqliteError(rc, "COMMIT");
      RollbackQuietly(db_, stmts_->rollback.get());
      for (PendingWrite* w : applied) w->status = error;
      continue;
    }
    if (changed) commits_.fetch_add(1, std::memory_order_relaxed);
    writes_.fetch_add(applied.size(), std::memory_order_relaxed);
    for (PendingWrite* w : applied) w->status = absl::OkStatus();
  }
}

SqliteStore::Reader& SqliteStore::LockReader() {
  // Start at a different connection each time and take the first free one, so that readers
  // spread over the pool without a shared lock; wait only when every one is busy.
  const size_t n = readers_.size();
  const size_t start = next_reader_.fetch_add(1, std::memory_order_relaxed) % n;
  for (size_t i = 0; i < n; ++i) {
    Reader& reader = *readers_[(start + i) % n];
    if (reader.mu.TryLock()) return reader;
  }
  Reader& reader = *readers_[start];
  reader.mu.Lock();
  return reader;
}

absl::Status SqliteStore::Read(absl::FunctionRef<absl::Status(Transaction&)> body) {
  Reader& reader = LockReader();
  // Unlocks the reader when the scope ends.
  struct Unlock {
    absl::Mutex* mu;
    ~Unlock() { mu->Unlock(); }
  } unlock{&reader.mu};
  const Statements& stmts = *reader.stmts;
  RollbackQuietly(reader.db, stmts.rollback.get());
  // BEGIN (deferred) takes no lock: the WAL snapshot is taken at the body's first read.
  if (const int rc = StepOnce(stmts.begin.get()); rc != SQLITE_DONE) {
    return SqliteError(reader.db, rc, "BEGIN");
  }
  SqliteTransaction txn(*this, reader.db, stmts, /*read_only=*/true);
  absl::Status status = body(txn);
  if (status.ok()) status = txn.first_error();
  if (!status.ok()) {
    RollbackQuietly(reader.db, stmts.rollback.get());
    return status;
  }
  // Ends the read transaction (there is nothing to write), so the next read sees newer commits.
  if (const int rc = StepOnce(stmts.commit.get()); rc != SQLITE_DONE) {
    status = SqliteError(reader.db, rc, "end read transaction");
    RollbackQuietly(reader.db, stmts.rollback.get());
  }
  return status;
}

size_t SqliteStore::queued_writes() {
  absl::MutexLock lock(&queue_mu_);
  return queue_.size();
}

SqliteStore::WriteStats SqliteStore::write_stats() const {
  WriteStats stats;
  stats.writes = writes_.load(std::memory_order_relaxed);
  stats.commits = commits_.load(std::memory_order_relaxed);
  return stats;
}

absl::Status SqliteStore::Exec(const char* sql, absl::string_view what) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, what);
  return absl::OkStatus();
}

absl::Status SqliteStore::SqliteError(sqlite3* db, int rc, absl::string_view what) const {
  const absl::string_view errmsg = sqlite3_errmsg(db);
  const absl::string_view errstr = sqlite3_errstr(rc);
  std::string message =
      absl::StrCat("Task Sentinel store ", path_, ": ", what, " failed: ", errmsg, " (",
                   errmsg == errstr ? "" : absl::StrCat(errstr, ", "), "sqlite code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      absl::StrAppend(&message,
                      "; another connection held the write lock for longer than the busy timeout");
      break;
    case SQLITE_NOTADB:
      absl::StrAppend(&message, "; the file is not a SQLite database");
      break;
    case SQLITE_CORRUPT:
      absl::StrAppend(&message, "; the database file is corrupt");
      break;
    default:
      break;
  }
  return absl::Status(CodeFor(rc), message);
}

}  // namespace tasksentinel
