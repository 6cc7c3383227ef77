// Fuzz target: the config file parser (core/config_file.h), through LoadConfig with
// SENTINEL_CONFIG naming a file that holds the input (with ${VAR} references expanded from a
// small fixed environment). Every file must load or be refused with INVALID_ARGUMENT; never
// crash, hang or throw.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    return std::string(tmp != nullptr ? tmp : "/tmp") + "/config_fuzz_" +
           std::to_string(getpid()) + ".json";
  }();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  tasksentinel::ConfigSources sources;
  sources.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "SENTINEL_CONFIG") return path;
    if (name == "WORKER_ID") return std::string("fuzz-worker");
    if (name == "HOME") return std::string("/tmp");
    return std::nullopt;
  };
  absl::StatusOr<tasksentinel::Config> config = tasksentinel::LoadConfig(sources);
  if (!config.ok() && config.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
  return 0;
}
