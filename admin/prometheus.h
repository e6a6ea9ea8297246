// Writes the Prometheus text exposition format (version 0.0.4) for /metrics.
//
// The relay's counters live in each module's own list (net/counter.h's
// X-macros, PipelineCounters, the producer's Stats); the /metrics handler
// walks them and feeds this writer. Families are written one at a time: a
// HELP and TYPE header, then one sample line per label set. Metric names
// get the "tern_" prefix here, so modules name counters without it.
#ifndef TERN_ADMIN_PROMETHEUS_H_
#define TERN_ADMIN_PROMETHEUS_H_

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace tern::admin {

using Label = std::pair<std::string_view, std::string_view>;

class PrometheusWriter {
 public:
  enum class Type { kCounter, kGauge };

  // Starts a family: `# HELP tern_<name> <help>` and `# TYPE ...`. `name`
  // must match [a-z_][a-z0-9_]* (our own names; not validated at run time).
  // A counter family gets the "_total" suffix on its samples, as the format
  // recommends.
  void Family(std::string_view name, std::string_view help, Type type);

  // One sample of the current family. Label values are escaped (\\, \", \n).
  void Sample(std::initializer_list<Label> labels, double value);
  void Sample(double value) { Sample({}, value); }

  // Family + one unlabelled sample.
  void Counter(std::string_view name, std::string_view help, uint64_t value);
  void Gauge(std::string_view name, std::string_view help, double value);

  // A whole histogram family: `tern_<name>_bucket{le="..."}` per upper
  // bound in `bounds` plus le="+Inf", then _sum and _count. `cumulative`
  // holds bounds.size() + 1 cumulative counts (the last is +Inf, and the
  // count).
  void Histogram(std::string_view name, std::string_view help,
                 std::span<const double> bounds,
                 std::span<const uint64_t> cumulative, double sum);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  std::string family_;  // "tern_<name>[_total]" of the current family
};

}  // namespace tern::admin

#endif  // TERN_ADMIN_PROMETHEUS_H_
