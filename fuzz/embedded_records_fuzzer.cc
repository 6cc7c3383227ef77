// Fuzz target: the embedded store's record decoders (core/embedded/records.h). Every input must
// decode or be refused with a status; never crash, hang or throw. A decoded record re-encodes
// and decodes to the same encoding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "core/embedded/records.h"

namespace {

template <typename Record, typename Decode>
void RoundTrip(absl::string_view data, Decode decode) {
  absl::StatusOr<Record> rec = decode(data);
  if (!rec.ok()) return;
  const std::string once = tasksentinel::Encode(*rec);
  absl::StatusOr<Record> again = decode(once);
  if (!again.ok() || tasksentinel::Encode(*again) != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace tasksentinel;  // NOLINT: the decoders' namespace
  RoundTrip<LockRecord>(text, DecodeLock);
  RoundTrip<WaiterRecord>(text, DecodeWaiter);
  RoundTrip<WorkerRecord>(text, DecodeWorker);
  RoundTrip<MemoryRecord>(text, DecodeMemory);
  RoundTrip<TaskRecord>(text, DecodeTask);
  return 0;
}
