// A local stand-in for api.github.com in tests: ReplayServer is a cpp-httplib server on
// 127.0.0.1 (a free port) that answers requests with recorded GitHub responses
// (tests/fixtures/github/, both formats: octokit-rb cassettes and octokit/fixtures arrays), or
// with a test's own handler. It logs every request it receives so that tests can check what
// was sent and how often.
//
// Matching a request to a recording: the method, and the percent-decoded path, must be equal.
// Then the query: a recording whose query parameters equal the request's (decoded, order
// ignored, `+` as space) wins; else a recording without a query; else, when every recording of
// that path has the same query, those recordings (clients add their own parameters such as
// per_page=100 that a recording lacks). Recordings of the same request are served in recorded
// order, the last one repeating. An unmatched request gets a GitHub-style 404.
//
// Answers carry the recorded status, headers and body, with `https://api.github.com` rewritten
// to the server's own base URL (so `Link` pagination leads back to it). Framing headers
// (Content-Length, Transfer-Encoding, Connection, Content-Encoding) are left to httplib.
//
// Thread safety: safe for concurrent use; httplib serves each connection on its own thread.
#ifndef TASK_SENTINEL_TESTS_GITHUB_REPLAY_SERVER_H_
#define TASK_SENTINEL_TESTS_GITHUB_REPLAY_SERVER_H_

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"

namespace tasksentinel::testing {

// One recorded request and its response.
struct RecordedInteraction {
  std::string source;  // the fixture file it came from
  std::string method;  // upper case
  std::string path;    // as recorded (may be percent-encoded)
  std::string query;   // as recorded, without '?'; "" when none was recorded
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // as recorded
  std::string body;
};

// A request as the server received it.
struct ReceivedRequest {
  std::string method;
  std::string path;                                // decoded
  std::string query;                               // raw, without '?'
  std::multimap<std::string, std::string> params;  // decoded query parameters
  std::map<std::string, std::string> headers;      // names in lower case
  std::string body;
  int remote_port = -1;  // the client's port: equal ports mean a reused connection
};

// The path of a fixture file given relative to tests/fixtures/github/, in the test's runfiles
// (TEST_SRCDIR/TEST_WORKSPACE/tests/fixtures/github/...).
std::string FixturePath(absl::string_view relative);

// The interactions of one fixture file (relative to tests/fixtures/github/), either format.
absl::StatusOr<std::vector<RecordedInteraction>> LoadRecording(absl::string_view relative);

class ReplayServer {
 public:
  // A test's own handler: return true when it answered, false to fall through to the
  // recordings.
  using Handler = std::function<bool(const httplib::Request&, httplib::Response&)>;

  // Starts serving on 127.0.0.1 at a free port.
  ReplayServer();
  // Stops serving (waits for requests in progress).
  ~ReplayServer();

  ReplayServer(const ReplayServer&) = delete;
  ReplayServer& operator=(const ReplayServer&) = delete;

  // http://127.0.0.1:PORT (no trailing slash).
  std::string base_url() const { return base_url_; }

  // Adds one recording.
  void Add(RecordedInteraction interaction);
  // Adds every recording of a fixture file (relative to tests/fixtures/github/).
  absl::Status Load(absl::string_view relative);

  // Installs the handler consulted before the recordings (replacing any earlier one).
  void SetHandler(Handler handler);

  // Every request received so far, in order.
  std::vector<ReceivedRequest> requests() const;
  // How many requests were received so far.
  int request_count() const;
  // Requests that matched nothing ("METHOD path?query").
  std::vector<std::string> unmatched() const;

 private:
  void Serve(const httplib::Request& request, httplib::Response& response);
  // Rewrites api.github.com URLs in `text` to this server.
  std::string Rewrite(const std::string& text) const;

  httplib::Server server_;
  std::thread thread_;
  std::string base_url_;

  mutable absl::Mutex mu_;
  std::vector<RecordedInteraction> interactions_ ABSL_GUARDED_BY(mu_);
  std::vector<int> served_ ABSL_GUARDED_BY(mu_);  // times each interaction was served
  Handler handler_ ABSL_GUARDED_BY(mu_);
  std::vector<ReceivedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> unmatched_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel::testing

#endif  // TASK_SENTINEL_TESTS_GITHUB_REPLAY_SERVER_H_
