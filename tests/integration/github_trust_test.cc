// Only the fleet's own records count, end to end: real sidecar processes (//service:sentinel) on
// a fakehub that serves the fleet's bot account and two people — "mallory", who can only
// comment (GitHub's read role), and "carol", a collaborator with write access who can edit
// anyone's comment by hand. The attackers use the real REST API (the libcurl client with their
// own tokens). Each attack has no effect on locks, memory or shutdown, and /metrics says why the
// records were ignored.
#include <signal.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "core/github/record_seal.h"
#include "core/github/records.h"
#include "gtest/gtest.h"
#include "service/github/curl_github_api.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/fakehub/fakehub.h"
#include "tests/integration/sidecar_process.h"

namespace tasksentinel::testing {
namespace {

namespace v1 = ::tasksentinel::v1;

constexpr char kOwner[] = "acme";
constexpr char kRepo[] = "work";
constexpr char kBotToken[] = "bot-token";
constexpr char kMalloryToken[] = "mallory-token";
constexpr char kCarolToken[] = "carol-token";
constexpr char kSecret[] = "trust-test-fleet-secret";

class GitHubTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fakehub::FakeHubOptions options;
    options.repos = {fakehub::RepoSpec{kOwner, kRepo, 3000, true}};
    options.login = "fleet-bot";
    options.tokens = {kBotToken};
    options.users = {fakehub::FakeUser{"mallory", 0, kMalloryToken, "read"},
                     fakehub::FakeUser{"carol", 0, kCarolToken, "write"}};
    hub_ = std::make_unique<fakehub::FakeHub>(options);
    ASSERT_TRUE(hub_->Start().ok());
  }

  // A person's REST client.
  std::unique_ptr<github::CurlGitHubApi> As(const std::string& token) {
    github::CurlGitHubApi::Options o;
    o.api_url = hub_->base_url();
    o.token = token;
    o.owner = kOwner;
    o.repo = kRepo;
    o.write_spacing = absl::ZeroDuration();
    return std::make_unique<github::CurlGitHubApi>(o, &clock_);
  }

  struct Sidecar {
    std::unique_ptr<SidecarProcess> process;
    std::unique_ptr<v1::SentinelService::Stub> stub;
    std::string http;
  };

  Sidecar Start(const std::string& worker, const std::string& secret = "") {
    std::map<std::string, std::string> env = {
        {"WORKER_ID", worker},
        {"SENTINEL_GRPC_ADDR", "127.0.0.1:0"},
        {"SENTINEL_HTTP_ADDR", ""},
        {"SENTINEL_LOG_LEVEL", "info"},
        {"GITHUB_API_URL", hub_->base_url()},
        {"GITHUB_OWNER", kOwner},
        {"GITHUB_REPO", kRepo},
        {"GITHUB_TOKEN", kBotToken},
        {"HEARTBEAT_INTERVAL_MS", "300"},
        {"STALE_WORKER_THRESHOLD_MS", "3000"},
        {"LOCK_DELAY_MS", "500"},
        {"GITHUB_CLAIM_SETTLE_MS", "100"},
        {"GITHUB_WRITE_SPACING_MS", "10"},
        {"GITHUB_WRITES_PER_MINUTE", "10000"},
        {"GITHUB_WRITES_PER_HOUR", "100000"},
        {"GITHUB_POLL_INTERVAL_MS", "100"},
        {"MEMORY_SYNC_INTERVAL_MS", "100"},
    };
    if (!secret.empty()) env["WORKER_SECRET"] = secret;
    Sidecar sc;
    sc.process = std::make_unique<SidecarProcess>(env);
    std::optional<int> port = sc.process->WaitBoundPort(absl::Seconds(20));
    EXPECT_TRUE(port.has_value()) << sc.process->Stderr();
    const std::string addr = absl::StrCat("127.0.0.1:", port.value_or(0));
    EXPECT_TRUE(sc.process->WaitServing(addr, absl::Seconds(20))) << sc.process->Stderr();
    sc.stub = v1::SentinelService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
    return sc;
  }

  static v1::AcquireLockResponse Acquire(Sidecar& sc, const std::string& name) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::AcquireLockRequest req;
    req.set_name(name);
    req.mutable_ttl()->set_seconds(60);
    v1::AcquireLockResponse resp;
    grpc::Status s = sc.stub->AcquireLock(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  static v1::HeartbeatResponse Beat(Sidecar& sc) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::HeartbeatRequest req;
    v1::HeartbeatResponse resp;
    grpc::Status s = sc.stub->Heartbeat(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // The number of the open issue labelled `label` (0 if none).
  int64_t IssueLabelled(const std::string& label) {
    for (const fakehub::IssueState& i : hub_->Issues()) {
      for (const std::string& l : i.labels) {
        if (l == label && i.open) return i.number;
      }
    }
    return 0;
  }

  // A body in the fleet's format, as anyone can write it (sealed without a secret).
  std::string Forge(const github::Record& record, int64_t issue) {
    return github::RecordSeal("", absl::StrCat(kOwner, "/", kRepo))
        .Body(record, issue, absl::Now());
  }

  github::RegistrationRecord Phantom(const std::string& worker, uint64_t epoch) {
    github::RegistrationRecord r;
    r.worker_id = worker;
    r.hostname = "nowhere";
    r.epoch = epoch;
    r.lease = absl::Hours(24 * 365 * 10);
    r.max_tasks = 10;
    r.registered_at = absl::Now();
    r.lease_expires_at = absl::Now() + r.lease;
    return r;
  }

  RealClock clock_;
  std::unique_ptr<fakehub::FakeHub> hub_;
};

TEST_F(GitHubTrustTest, AStrangersForgedClaimAndPhantomHolderBlockNothing) {
  Sidecar a = Start("worker-a");
  // The locks issue exists once a named lock was taken.
  v1::AcquireLockResponse warm = Acquire(a, "warm-up");
  ASSERT_TRUE(warm.acquired());
  const int64_t locks = IssueLabelled("sentinel:locks");
  const int64_t coordination = IssueLabelled("sentinel:coordination");
  ASSERT_NE(locks, 0);
  ASSERT_NE(coordination, 0);

  auto mallory = As(kMalloryToken);
  github::ClaimRecord claim;
  claim.lock = "deploy";
  claim.worker_id = "ghost";
  claim.epoch = 1;
  claim.ttl = absl::Hours(24);
  ASSERT_TRUE(mallory->CreateComment(locks, Forge(claim, locks), github::WritePriority::kClaim)
                  .ok());
  ASSERT_TRUE(mallory
                  ->CreateComment(coordination, Forge(Phantom("ghost", 1), coordination),
                                  github::WritePriority::kClaim)
                  .ok());
  // A next epoch of the live worker-a, which would end its locks for everyone.
  ASSERT_TRUE(mallory
                  ->CreateComment(coordination, Forge(Phantom("worker-a", 2), coordination),
                                  github::WritePriority::kClaim)
                  .ok());

  Sidecar b = Start("worker-b");
  v1::AcquireLockResponse got = Acquire(b, "deploy");
  EXPECT_TRUE(got.acquired());
  EXPECT_EQ(got.lock().holder(), "worker-b");
  v1::AcquireLockResponse other = Acquire(b, "warm-up");
  EXPECT_FALSE(other.acquired());  // worker-a still holds it: its epoch did not end
  EXPECT_EQ(other.lock().holder(), "worker-a");
  EXPECT_TRUE(Beat(a).lost_locks().empty());
}

TEST_F(GitHubTrustTest, AHandEditOfTheBotsCommentDoesNotCountWithASecret) {
  Sidecar a = Start("worker-a", kSecret);
  {
    grpc::ClientContext ctx;
    v1::SetMemoryRequest req;
    req.set_namespace_("swarm");
    req.set_key("config");
    req.set_value("genuine");
    v1::SetMemoryResponse resp;
    ASSERT_TRUE(a.stub->SetMemory(&ctx, req, &resp).ok());
  }
  const int64_t coordination = IssueLabelled("sentinel:coordination");
  // Wait for the flush, then carol edits the value in the bot's comment by hand.
  std::optional<int64_t> memory_comment;
  for (int i = 0; i < 100 && !memory_comment.has_value(); ++i) {
    for (const fakehub::CommentState& c : hub_->Comments(coordination)) {
      if (absl::StrContains(c.body, absl::Base64Escape("genuine"))) memory_comment = c.id;
    }
    if (!memory_comment.has_value()) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(memory_comment.has_value());
  std::string body;
  for (const fakehub::CommentState& c : hub_->Comments(coordination)) {
    if (c.id == *memory_comment) body = c.body;
  }
  auto carol = As(kCarolToken);
  ASSERT_TRUE(carol
                  ->UpdateComment(*memory_comment,
                                  absl::StrReplaceAll(body, {{absl::Base64Escape("genuine"),
                                                              absl::Base64Escape("forged")}}),
                                  github::WritePriority::kMemory)
                  .ok());
  // mallory cannot edit the bot's comment at all (403).
  EXPECT_EQ(As(kMalloryToken)
                ->UpdateComment(*memory_comment, body, github::WritePriority::kMemory)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);

  Sidecar b = Start("worker-b", kSecret);
  grpc::ClientContext ctx;
  v1::GetMemoryRequest req;
  req.set_namespace_("swarm");
  req.set_key("config");
  v1::GetMemoryResponse resp;
  grpc::Status s = b.stub->GetMemory(&ctx, req, &resp);
  EXPECT_FALSE(s.ok() && resp.entry().value() == "forged");
}

TEST_F(GitHubTrustTest, OneAnswerWithAFarFutureDateChangesNothing) {
  Sidecar a = Start("worker-a");
  Sidecar b = Start("worker-b");
  ASSERT_TRUE(Acquire(a, "deploy").acquired());
  fakehub::Faults faults = hub_->faults();
  faults.skewed_date_next = 1;
  hub_->SetFaults(faults);
  // Both sidecars keep polling and heartbeating for several leases' worth of answers.
  for (int i = 0; i < 10; ++i) {
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_TRUE(Beat(a).lost_locks().empty());
  }
  v1::AcquireLockResponse other = Acquire(b, "deploy");
  EXPECT_FALSE(other.acquired());
  EXPECT_EQ(other.lock().holder(), "worker-a");
  EXPECT_EQ(hub_->faults().skewed_date_next, 0);  // the skewed answer was sent
}

TEST_F(GitHubTrustTest, PlantedRecordsAndAnUndeletableClaimLeaveACleanShutdown) {
  Sidecar seed = Start("seed");
  const int64_t coordination = IssueLabelled("sentinel:coordination");
  auto mallory = As(kMalloryToken);
  ASSERT_TRUE(mallory
                  ->CreateComment(coordination, Forge(Phantom("worker-a", 9), coordination),
                                  github::WritePriority::kClaim)
                  .ok());
  github::WorkerMemoryRecord planted{"worker-a", "swarm", 0, {}};
  planted.entries["k"] = github::MemoryItem{"planted", absl::Now()};
  ASSERT_TRUE(mallory
                  ->CreateComment(coordination, Forge(planted, coordination),
                                  github::WritePriority::kClaim)
                  .ok());

  Sidecar a = Start("worker-a");
  v1::HeartbeatResponse beat = Beat(a);
  EXPECT_EQ(beat.lease_epoch(), 1u);  // its own registration, not the planted epoch 9
  a.process->Signal(SIGTERM);
  std::optional<int> rc = a.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << a.process->Stderr();
  // The fleet's own registration of worker-a says it is gone.
  bool gone = false;
  for (const fakehub::CommentState& c : hub_->Comments(coordination)) {
    if (c.user == "fleet-bot" && absl::StrContains(c.body, "\"worker_id\":\"worker-a\"") &&
        absl::StrContains(c.body, "\"status\":\"gone\"")) {
      gone = true;
    }
  }
  EXPECT_TRUE(gone);
}

}  // namespace
}  // namespace tasksentinel::testing
