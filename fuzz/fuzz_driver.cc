// Runs a libFuzzer target (LLVMFuzzerTestOneInput) without libFuzzer, so that it builds with the
// project's gcc toolchain and runs in `bazel test //...`: every file of the corpus directories
// given as arguments, then a bounded number of deterministic mutations of them (byte flips,
// inserts, deletes, duplications, splices; a fixed seed, so a failure reproduces). A crash is
// the test's failure; the input that caused it is written to $TEST_UNDECLARED_OUTPUTS_DIR.
//
// Flags: --runs=N mutations (default 20000), --seed=S, --max_len=N (default 4096).
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string g_current;  // the input being run, saved on a crash

void SaveCurrent(int) {
  const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/crash-input";
  std::ofstream(path, std::ios::binary) << g_current;
  std::fprintf(stderr, "fuzz_driver: crashing input (%zu bytes) saved to %s\n", g_current.size(),
               path.c_str());
  std::_Exit(1);
}

void Run(const std::string& input) {
  g_current = input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string Mutate(const std::vector<std::string>& corpus, std::mt19937_64& rng, size_t max_len) {
  std::string s = corpus[rng() % corpus.size()];
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < steps; ++i) {
    const size_t pos = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!s.empty()) s[pos] = static_cast<char>(s[pos] ^ (1 << (rng() % 8)));
        break;
      case 1:  // a random byte
        if (!s.empty()) s[pos] = static_cast<char>(rng());
        break;
      case 2:  // insert bytes
        s.insert(pos, std::string(1 + rng() % 8, static_cast<char>(rng())));
        break;
      case 3:  // delete a run
        if (!s.empty()) s.erase(pos, 1 + rng() % 16);
        break;
      case 4:  // duplicate a run
        if (!s.empty()) s.insert(pos, s.substr(pos, 1 + rng() % 32));
        break;
      case 5: {  // splice another corpus entry
        const std::string& other = corpus[rng() % corpus.size()];
        s = s.substr(0, pos) + other.substr(other.empty() ? 0 : rng() % other.size());
        break;
      }
      case 6: {  // an interesting token
        static const char* kTokens[] = {"\"", "{", "}", "[", "]", ",", ":", "null", "-1",
                                        "1e999", "18446744073709551616", "\\u0000", "<", ">",
                                        ";", "rel=\"next\"", "${", "<!--", "-->", "\xff"};
        s.insert(pos, kTokens[rng() % (sizeof(kTokens) / sizeof(kTokens[0]))]);
        break;
      }
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 20000;
  uint64_t seed = 20261127;
  size_t max_len = 4096;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--runs=", 0) == 0) {
      runs = std::atol(arg.c_str() + 7);
    } else if (arg.rfind("--seed=", 0) == 0) {
      seed = std::strtoull(arg.c_str() + 7, nullptr, 10);
    } else if (arg.rfind("--max_len=", 0) == 0) {
      max_len = static_cast<size_t>(std::atol(arg.c_str() + 10));
    } else {
      dirs.push_back(arg);
    }
  }
  std::signal(SIGSEGV, SaveCurrent);
  std::signal(SIGABRT, SaveCurrent);
  std::signal(SIGBUS, SaveCurrent);
  std::signal(SIGFPE, SaveCurrent);
  std::vector<std::string> corpus;
  for (const std::string& dir : dirs) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "fuzz_driver: no corpus files in the given directories\n");
    return 2;
  }
  for (const std::string& input : corpus) Run(input);
  Run("");
  std::mt19937_64 rng(seed);
  for (long i = 0; i < runs; ++i) Run(Mutate(corpus, rng, max_len));
  std::printf("fuzz_driver: %zu corpus inputs and %ld mutations ran cleanly (seed %llu)\n",
              corpus.size(), runs, static_cast<unsigned long long>(seed));
  return 0;
}
