// Issue #11: bad input gets INVALID_ARGUMENT with a short message. A 1 MB namespace was echoed
// into the error (the client got RESOURCE_EXHAUSTED: metadata too large), and a string field
// with invalid UTF-8 got INTERNAL with an empty message.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/memory_store.h"
#include "core/validation.h"
#include "gtest/gtest.h"
#include "service/server.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

namespace tasksentinel {
namespace {

namespace v1 = ::tasksentinel::v1;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Config c;
    c.worker_id = "worker-a";
    c.grpc_addr = "127.0.0.1:0";
    c.http_addr = "";
    server_ = std::make_unique<SentinelServer>(c, &store_, &clock_);
    ASSERT_TRUE(server_->Start().ok());
    stub_ = v1::SentinelService::NewStub(server_->NewChannel());
  }

  MemoryStore store_;
  RealClock clock_;
  std::unique_ptr<SentinelServer> server_;
  std::unique_ptr<v1::SentinelService::Stub> stub_;
};

TEST_F(BadInputTest, AHugeNamespaceGetsAShortInvalidArgument) {
  v1::SetMemoryRequest set;
  set.set_namespace_(std::string(1 << 20, 'n'));
  set.set_key("k");
  set.set_value("v");
  v1::SetMemoryResponse resp;
  grpc::Status s = stub_->SetMemory(Ctx().get(), set, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message().size();
  EXPECT_LT(s.error_message().size(), 300u);
  EXPECT_NE(s.error_message().find("(1048576 bytes)"), std::string::npos) << s.error_message();
  v1::WatchMemoryRequest watch;
  watch.set_namespace_(std::string(1 << 20, 'n'));
  auto ctx = Ctx();
  auto reader = stub_->WatchMemory(ctx.get(), watch);
  v1::WatchMemoryResponse event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status w = reader->Finish();
  EXPECT_EQ(w.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(w.error_message().size(), 300u);
}

TEST_F(BadInputTest, InvalidUtf8InAStringFieldIsInvalidArgumentWithAMessage) {
  v1::SetMemoryRequest set;
  set.set_namespace_("swarm");
  set.set_key(std::string("k\xff\xfe", 3));
  set.set_value("v");
  v1::SetMemoryResponse resp;
  grpc::Status s = stub_->SetMemory(Ctx().get(), set, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("UTF-8"), std::string::npos) << s.error_message();
  v1::CreateTaskRequest task;
  task.set_title(std::string("\xc3\x28", 2));
  v1::CreateTaskResponse created;
  s = stub_->CreateTask(Ctx().get(), task, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("UTF-8"), std::string::npos) << s.error_message();
  // Nothing changed.
  v1::ListMemoryRequest list;
  list.set_namespace_("swarm");
  v1::ListMemoryResponse listed;
  ASSERT_TRUE(stub_->ListMemory(Ctx().get(), list, &listed).ok());
  EXPECT_EQ(listed.entries_size(), 0);
}

// Issue #11: WatchMemory streams had no cap. Beyond SENTINEL_MAX_WATCHES they are refused.
TEST(WatchLimitTest, StreamsBeyondTheLimitGetResourceExhausted) {
  MemoryStore store;
  RealClock clock;
  Config c;
  c.worker_id = "worker-a";
  c.grpc_addr = "127.0.0.1:0";
  c.http_addr = "";
  c.max_watches = 2;
  SentinelServer server(c, &store, &clock);
  ASSERT_TRUE(server.Start().ok());
  auto stub = v1::SentinelService::NewStub(server.NewChannel());
  v1::WatchMemoryRequest req;
  req.set_namespace_("swarm");
  req.set_include_initial(true);
  v1::SetMemoryRequest set;
  set.set_namespace_("swarm");
  set.set_key("k");
  set.set_value("v");
  v1::SetMemoryResponse written;
  ASSERT_TRUE(stub->SetMemory(Ctx().get(), set, &written).ok());
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::WatchMemoryResponse>>> open;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(Ctx());
    open.push_back(stub->WatchMemory(contexts.back().get(), req));
    v1::WatchMemoryResponse initial;
    ASSERT_TRUE(open.back()->Read(&initial));  // the stream is being served
    EXPECT_EQ(initial.entry().key(), "k");
  }
  auto ctx = Ctx();
  auto refused = stub->WatchMemory(ctx.get(), req);
  v1::WatchMemoryResponse event;
  EXPECT_FALSE(refused->Read(&event));
  grpc::Status s = refused->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("SENTINEL_MAX_WATCHES"), std::string::npos);
  for (auto& c : contexts) c->TryCancel();
  for (auto& r : open) r->Finish();
}

TEST(QuoteInputTest, QuotesAShortEscapedPrefix) {
  EXPECT_EQ(QuoteInput("abc"), "\"abc\"");
  EXPECT_EQ(QuoteInput(std::string("a\"\\\n\xff", 5)), "\"a\\x22\\x5c\\x0a\\xff\"");
  const std::string quoted = QuoteInput(std::string(1000, 'x'));
  EXPECT_EQ(quoted, "\"" + std::string(kMaxQuotedInput, 'x') + "\"... (1000 bytes)");
}

}  // namespace
}  // namespace tasksentinel
