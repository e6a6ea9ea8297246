// The cost of one quota check on the request path (issue 4: <= 100 ns per
// item under contention from both cores): an item checked against a
// project's two quotas, from 1 and 2 threads hammering the same counters.
#include <vector>

#include "benchmark/benchmark.h"
#include "relay/quota/quota.h"

namespace tern::relay::quota {
namespace {

config::Quota Q(std::string id, uint64_t limit, uint64_t window,
                std::vector<protocol::DataCategory> categories = {}) {
  config::Quota q;
  q.id = std::move(id);
  q.limit = limit;
  q.window_seconds = window;
  q.categories = std::move(categories);
  return q;
}

QuotaRegistry& Registry() {
  static QuotaRegistry* r = new QuotaRegistry;
  return *r;
}

const std::vector<CompiledQuota>& Quotas(uint64_t limit) {
  static auto* admitted = new std::vector<CompiledQuota>(CompileKeyQuotas(
      Registry(), 1, "k", {Q("all", kMaxCount, 3600)},
      {Q("errors", kMaxCount, 3600, {protocol::DataCategory::kError})}, {}));
  static auto* full = new std::vector<CompiledQuota>(CompileKeyQuotas(
      Registry(), 2, "k", {Q("all", kMaxCount, 3600)},
      {Q("errors", 0, 3600, {protocol::DataCategory::kError})}, {}));
  return limit == 0 ? *full : *admitted;
}

// Admitted: both counters take the item (two CAS on shared cache lines).
void BM_AdmitShared(benchmark::State& state) {
  const auto& quotas = Quotas(1);
  const absl::Time now = absl::Now();
  Decision d;
  for (auto _ : state) {
    Admit(quotas, protocol::DataCategory::kError, 1, now, &d);
    benchmark::DoNotOptimize(d.admitted);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdmitShared)->Threads(1)->Threads(2)->UseRealTime();

// Refused by the second quota: take, give back, name the full quota.
void BM_RefuseShared(benchmark::State& state) {
  const auto& quotas = Quotas(0);
  const absl::Time now = absl::Now();
  Decision d;
  for (auto _ : state) {
    Admit(quotas, protocol::DataCategory::kError, 1, now, &d);
    benchmark::DoNotOptimize(d.admitted);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RefuseShared)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace tern::relay::quota
