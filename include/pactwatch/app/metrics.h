// The metric sets the daemon's jobs record into, all on the one registry the daemon owns (its
// /metrics). Built once, before the first schedule, and kept across reloads: counters run for
// the life of the process.
#pragma once

#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/core/metrics.h"
#include "pactwatch/notify/stages.h"
#include "pactwatch/sources/sync.h"

namespace pactwatch::app {

struct Metrics {
  // Registers the families in the order /metrics shows them: sources, notifications, evaluations.
  explicit Metrics(core::MetricsRegistry& r) : registry(r), sources(r), deliveries(r), evaluations(r) {}

  core::MetricsRegistry& registry;
  sources::SourceMetrics sources;
  notify::DeliveryCounters deliveries;
  EvaluationMetrics evaluations;
};

}  // namespace pactwatch::app
