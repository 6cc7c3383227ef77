// The cluster as seen from the store: registered workers with their lease state and load, and
// the cluster's health summary (GetClusterHealth, ListWorkers, GET /cluster/health).
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_CLUSTER_VIEW_H_
#define TASK_SENTINEL_CORE_EMBEDDED_CLUSTER_VIEW_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/model.h"
#include "core/embedded/context.h"
#include "core/embedded/records.h"
#include "core/embedded/task_queue.h"

namespace tasksentinel {

class ClusterView {
 public:
  explicit ClusterView(const Context& ctx) : ctx_(ctx), queue_(ctx) {}

  // Registered workers by id; departed ones only with `include_gone`.
  absl::StatusOr<std::vector<WorkerInfo>> Workers(bool include_gone);

  absl::StatusOr<ClusterHealth> Health();

 private:
  Context ctx_;
  TaskQueue queue_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_CLUSTER_VIEW_H_
