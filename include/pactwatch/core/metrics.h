// The process's metrics: families of counters and gauges with their label sets, rendered in the
// Prometheus text format for /metrics. The daemon owns one MetricsRegistry and passes it (or the
// module's metric set built on it) to the modules that record; nothing here is global.
//
// Each metric is defined once, where the module that records it registers it: a MetricSpec holds
// its name, type, help text and label names, and nowhere else writes them. Families render in the
// order they were registered, and within a family series by their label values.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pactwatch::core {

enum class MetricType { counter, gauge };

// A metric's one definition.
struct MetricSpec {
  std::string name;  // pactwatch_<area>_<what>[_total|_seconds...]
  MetricType type = MetricType::counter;
  std::string help;
  std::vector<std::string> labels;  // label names, in the order values are given
  friend bool operator==(const MetricSpec&, const MetricSpec&) = default;
};

// One series: a value under one set of label values. Thread-safe (atomic); its address stays
// valid as long as its family does (a family replaced whole by set_all excepted).
template <class V>
class Series {
 public:
  void add(V n = V{1}) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(V v) { value_.store(v, std::memory_order_relaxed); }
  [[nodiscard]] V value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<V> value_{};
};

using LabelValues = std::vector<std::string>;

// The interface the registry renders through.
class MetricFamily {
 public:
  explicit MetricFamily(MetricSpec spec) : spec_(std::move(spec)) {}
  virtual ~MetricFamily() = default;
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  [[nodiscard]] const MetricSpec& spec() const { return spec_; }
  // "# HELP", "# TYPE" and one line per series (the header alone when there is none).
  void render(std::string& out) const;

 protected:
  // Appends `name{labels} value\n` for every series.
  virtual void render_series(std::string& out) const = 0;
  void render_line(std::string& out, const LabelValues& values, std::string_view value) const;

 private:
  MetricSpec spec_;
};

// Integer values (counts, whole seconds) render as integers, real ones (seconds spent) with six
// decimals.
template <class V>
class Family final : public MetricFamily {
 public:
  using MetricFamily::MetricFamily;

  // The series under these label values (as many as the spec has label names), created at 0.
  Series<V>& with(const LabelValues& values);
  // The series of a family without labels.
  Series<V>& get() { return with({}); }
  // The value under these label values, 0 when there is no such series.
  [[nodiscard]] V value(const LabelValues& values) const;
  // Replaces every series at once (a gauge of the latest state: series absent now disappear).
  void set_all(const std::map<LabelValues, V>& values);

 private:
  void render_series(std::string& out) const override;

  mutable std::mutex mutex_;
  std::map<LabelValues, std::unique_ptr<Series<V>>> series_;
};

// A family computed when /metrics is rendered (the state of something the module owns: open
// connections, shards held, rows in the store). The callback runs on the rendering thread.
class ComputedFamily final : public MetricFamily {
 public:
  using Samples = std::vector<std::pair<LabelValues, std::int64_t>>;
  ComputedFamily(MetricSpec spec, std::function<Samples()> collect) : MetricFamily(std::move(spec)), collect_(std::move(collect)) {}
  void replace(std::function<Samples()> collect);

 private:
  void render_series(std::string& out) const override;
  mutable std::mutex mutex_;
  std::function<Samples()> collect_;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family, or returns the one already registered under the same spec. A name
  // registered with another spec or kind of value is a programming error (std::logic_error).
  Family<std::int64_t>& integers(const MetricSpec& spec);
  Family<double>& reals(const MetricSpec& spec);
  // A computed family; registering the same spec again replaces its callback (the callback must
  // not outlive what it reads: register it from the owner that the registry outlives).
  void computed(const MetricSpec& spec, std::function<ComputedFamily::Samples()> collect);

  // Every family in registration order, in the Prometheus text format (version 0.0.4).
  [[nodiscard]] std::string render() const;
  // The specs registered, in order (for docs and tests).
  [[nodiscard]] std::vector<MetricSpec> specs() const;

 private:
  template <class F, class... Args>
  F& add(const MetricSpec& spec, Args&&... args);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<MetricFamily>> families_;
};

// The Prometheus text format's escapes: in a label value backslash, double quote and line feed;
// in help text backslash and line feed.
[[nodiscard]] std::string escape_label_value(std::string_view v);
[[nodiscard]] std::string escape_help(std::string_view v);

}  // namespace pactwatch::core
