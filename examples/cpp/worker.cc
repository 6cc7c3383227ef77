// The example worker in C++: upper-cases each task's body, until the queue is empty.
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "clients/cpp/client.h"
#include "clients/cpp/worker.h"

int main() {
  const char* addr = std::getenv("SENTINEL_ADDR");
  tasksentinel::client::Client client(addr != nullptr ? addr : "127.0.0.1:50051");
  tasksentinel::client::WorkerOptions options;
  options.until_idle = true;
  tasksentinel::client::Worker worker(&client, options);
  absl::Status s = worker.Run([](tasksentinel::client::Job& job) -> absl::StatusOr<std::string> {
    return absl::AsciiStrToUpper(job.task().body());
  });
  std::printf("%d tasks: %s\n", worker.finished(), s.ToString().c_str());
  return s.ok() ? 0 : 1;
}
