// An EventSink that remembers every event, for tests that provoke an event and look for it.
#ifndef TASK_SENTINEL_TESTS_TESTING_RECORDING_EVENT_SINK_H_
#define TASK_SENTINEL_TESTS_TESTING_RECORDING_EVENT_SINK_H_

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/event_sink.h"

namespace tasksentinel {

class RecordingEventSink final : public EventSink {
 public:
  void Record(const Event& event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }

  // Every event so far, in order.
  std::vector<Event> All() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

  // The events of `kind` so far, in order.
  std::vector<Event> Of(EventKind kind) {
    absl::MutexLock lock(&mu_);
    std::vector<Event> out;
    for (const Event& e : events_) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  // Forgets every event so far.
  void Clear() {
    absl::MutexLock lock(&mu_);
    events_.clear();
  }

 private:
  absl::Mutex mu_;
  std::vector<Event> events_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_TESTS_TESTING_RECORDING_EVENT_SINK_H_
