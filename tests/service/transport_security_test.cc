// Issue #11's transport security, on real SentinelServer instances in this process: the bearer
// token on every RPC but health (and on the HTTP endpoints but /health), TLS and mutual TLS,
// the unix socket's mode, and fencing tokens shown only to the lock's holder.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/memory_store.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "service/auth.h"
#include "service/server.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

namespace tasksentinel {
namespace {

namespace v1 = ::tasksentinel::v1;

constexpr char kToken[] = "test-api-token-0123456789abcdef";
constexpr char kCerts[] = "tests/testing/certs/";

std::string ReadCert(const std::string& name) {
  std::ifstream in(absl::StrCat(kCerts, name), std::ios::binary);
  EXPECT_TRUE(in.is_open()) << name;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Config MakeConfig(const std::string& worker) {
  Config c;
  c.worker_id = worker;
  c.hostname = "host-" + worker;
  c.grpc_addr = "127.0.0.1:0";
  c.http_addr = "";
  c.stale_threshold = absl::Seconds(30);
  c.heartbeat_interval = absl::Seconds(1);
  c.poll_interval = absl::Milliseconds(5);
  return c;
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& authorization = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
  return ctx;
}

class TransportSecurityTest : public ::testing::Test {
 protected:
  std::unique_ptr<SentinelServer> Start(const Config& config) {
    auto server = std::make_unique<SentinelServer>(config, &store_, &clock_);
    absl::Status s = server->Start();
    EXPECT_TRUE(s.ok()) << s;
    return server;
  }

  MemoryStore store_;
  RealClock clock_;
};

TEST(ConstantTimeEqualsTest, ComparesWholeValues) {
  EXPECT_TRUE(ConstantTimeEquals("abcdef", "abcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcdeg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcde"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcdefg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", ""));
  EXPECT_TRUE(BearerMatches("", "anything"));
  EXPECT_TRUE(BearerMatches("tok", "Bearer tok"));
  EXPECT_TRUE(BearerMatches("tok", "bearer tok"));
  EXPECT_FALSE(BearerMatches("tok", "tok"));
  EXPECT_FALSE(BearerMatches("tok", "Basic tok"));
}

TEST_F(TransportSecurityTest, EveryRpcButHealthNeedsTheToken) {
  Config c = MakeConfig("worker-a");
  c.api_token = kToken;
  std::unique_ptr<SentinelServer> server = Start(c);
  auto stub = v1::SentinelService::NewStub(server->NewChannel());
  v1::ListLocksResponse locks;
  const std::string wrong = "Bearer not-the-token-but-long-enough";
  for (const std::string& auth : {std::string(), wrong, std::string(kToken)}) {
    grpc::Status s = stub->ListLocks(Ctx(auth).get(), v1::ListLocksRequest(), &locks);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "authorization: " << auth;
    EXPECT_EQ(s.error_message().find("not-the-token"), std::string::npos) << s.error_message();
  }
  v1::HeartbeatResponse beat;
  EXPECT_EQ(stub->Heartbeat(Ctx().get(), v1::HeartbeatRequest(), &beat).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::WatchMemoryRequest watch;
  watch.set_namespace_("swarm");
  auto ctx = Ctx();
  auto reader = stub->WatchMemory(ctx.get(), watch);
  v1::WatchMemoryResponse event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_TRUE(stub->ListLocks(Ctx(absl::StrCat("Bearer ", kToken)).get(),
                              v1::ListLocksRequest(), &locks)
                  .ok());
  // Probes need no token.
  auto health = grpc::health::v1::Health::NewStub(server->NewChannel());
  grpc::health::v1::HealthCheckResponse serving;
  ASSERT_TRUE(health->Check(Ctx().get(), grpc::health::v1::HealthCheckRequest(), &serving).ok());
  EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Issue #11: any client read every lock's fencing token with ListLocks and could act as its
// holder. Tokens are now shown only to the holder's own sidecar.
TEST_F(TransportSecurityTest, OthersFencingTokensAreNeverShown) {
  std::unique_ptr<SentinelServer> a = Start(MakeConfig("worker-a"));
  std::unique_ptr<SentinelServer> b = Start(MakeConfig("worker-b"));
  auto stub_a = v1::SentinelService::NewStub(a->NewChannel());
  auto stub_b = v1::SentinelService::NewStub(b->NewChannel());
  v1::AcquireLockRequest req;
  req.set_name("res");
  v1::AcquireLockResponse held;
  ASSERT_TRUE(stub_a->AcquireLock(Ctx().get(), req, &held).ok());
  ASSERT_TRUE(held.acquired());
  ASSERT_GT(held.lock().fencing_token(), 0u);

  v1::ListLocksResponse seen_by_a;
  ASSERT_TRUE(stub_a->ListLocks(Ctx().get(), v1::ListLocksRequest(), &seen_by_a).ok());
  ASSERT_EQ(seen_by_a.locks_size(), 1);
  EXPECT_EQ(seen_by_a.locks(0).fencing_token(), held.lock().fencing_token());
  v1::ListLocksResponse seen_by_b;
  ASSERT_TRUE(stub_b->ListLocks(Ctx().get(), v1::ListLocksRequest(), &seen_by_b).ok());
  ASSERT_EQ(seen_by_b.locks_size(), 1);
  EXPECT_EQ(seen_by_b.locks(0).holder(), "worker-a");
  EXPECT_EQ(seen_by_b.locks(0).fencing_token(), 0u);
  v1::AcquireLockResponse denied;
  ASSERT_TRUE(stub_b->AcquireLock(Ctx().get(), req, &denied).ok());
  EXPECT_FALSE(denied.acquired());
  EXPECT_EQ(denied.lock().holder(), "worker-a");
  EXPECT_EQ(denied.lock().fencing_token(), 0u);
}

std::shared_ptr<grpc::Channel> TlsChannel(int port, const std::string& cert = "",
                                          const std::string& key = "") {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadCert("ca.pem");
  if (!cert.empty()) {
    options.pem_cert_chain = ReadCert(cert);
    options.pem_private_key = ReadCert(key);
  }
  // An IP address, not "localhost": the certificate names both, and a name would be resolved
  // through c-ares, whose allocations LeakSanitizer reports under --config=asan.
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(options));
}

TEST_F(TransportSecurityTest, TlsServesOnlyTlsClients) {
  Config c = MakeConfig("worker-a");
  c.tls_cert = absl::StrCat(kCerts, "server.pem");
  c.tls_key = absl::StrCat(kCerts, "server.key");
  std::unique_ptr<SentinelServer> server = Start(c);
  v1::ListLocksResponse locks;
  auto plain = v1::SentinelService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server->port()), grpc::InsecureChannelCredentials()));
  EXPECT_FALSE(plain->ListLocks(Ctx().get(), v1::ListLocksRequest(), &locks).ok());
  auto tls = v1::SentinelService::NewStub(TlsChannel(server->port()));
  grpc::Status s = tls->ListLocks(Ctx().get(), v1::ListLocksRequest(), &locks);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TransportSecurityTest, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  Config c = MakeConfig("worker-a");
  c.tls_cert = absl::StrCat(kCerts, "server.pem");
  c.tls_key = absl::StrCat(kCerts, "server.key");
  c.tls_client_ca = absl::StrCat(kCerts, "ca.pem");
  std::unique_ptr<SentinelServer> server = Start(c);
  v1::ListLocksResponse locks;
  EXPECT_FALSE(v1::SentinelService::NewStub(TlsChannel(server->port()))
                   ->ListLocks(Ctx().get(), v1::ListLocksRequest(), &locks)
                   .ok());
  EXPECT_FALSE(v1::SentinelService::NewStub(TlsChannel(server->port(), "rogue.pem", "rogue.key"))
                   ->ListLocks(Ctx().get(), v1::ListLocksRequest(), &locks)
                   .ok());
  grpc::Status s = v1::SentinelService::NewStub(TlsChannel(server->port(), "client.pem", "client.key"))
                       ->ListLocks(Ctx().get(), v1::ListLocksRequest(), &locks);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TransportSecurityTest, AMissingCertificateFileStopsStartWithOneLine) {
  Config c = MakeConfig("worker-a");
  c.tls_cert = absl::StrCat(kCerts, "no-such.pem");
  c.tls_key = absl::StrCat(kCerts, "server.key");
  SentinelServer server(c, &store_, &clock_);
  absl::Status s = server.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SENTINEL_TLS_CERT"), absl::string_view::npos) << s;
  EXPECT_EQ(s.message().find('\n'), absl::string_view::npos) << s;
}

TEST_F(TransportSecurityTest, AUnixSocketGetsItsStatedMode) {
  const std::string path = absl::StrCat("/tmp/ts-mode-", getpid(), ".sock");
  unlink(path.c_str());
  Config c = MakeConfig("worker-a");
  c.grpc_addr = absl::StrCat("unix:", path);
  c.grpc_socket_mode = 0600;
  std::unique_ptr<SentinelServer> server = Start(c);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  server->Shutdown(absl::ZeroDuration()).IgnoreError();
  unlink(path.c_str());
}

TEST_F(TransportSecurityTest, HttpEndpointsButHealthNeedTheToken) {
  Config c = MakeConfig("worker-a");
  c.api_token = kToken;
  c.http_addr = "127.0.0.1:0";
  std::unique_ptr<SentinelServer> server = Start(c);
  httplib::Client http("127.0.0.1", server->http_port());
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (const char* path : {"/metrics", "/cluster/health"}) {
    auto refused = http.Get(path);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401) << path;
    EXPECT_EQ(refused->body.find("tasksentinel_"), std::string::npos);
    auto wrong = http.Get(path, {{"Authorization", "Bearer wrong-token-0123456789"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << path;
    auto allowed = http.Get(path, {{"Authorization", absl::StrCat("Bearer ", kToken)}});
    ASSERT_TRUE(allowed);
    EXPECT_NE(allowed->status, 401) << path;
  }
  auto metrics = http.Get("/metrics", {{"Authorization", absl::StrCat("Bearer ", kToken)}});
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body.find(kToken), std::string::npos) << "the token reached /metrics";
}

}  // namespace
}  // namespace tasksentinel
