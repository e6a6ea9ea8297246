// The relay's /metrics page: every module's counters, summed over workers,
// in Prometheus text format. Reads atomics only, so any thread may call it.
#ifndef TERN_RELAY_APP_METRICS_H_
#define TERN_RELAY_APP_METRICS_H_

#include <string>

#include "relay/app/parts.h"

namespace tern::relay::app {

std::string RenderMetrics(const Relay::Impl& relay);

}  // namespace tern::relay::app

#endif  // TERN_RELAY_APP_METRICS_H_
