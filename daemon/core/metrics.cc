#include "pactwatch/core/metrics.h"

#include <cstdio>
#include <stdexcept>

namespace pactwatch::core {

namespace {

std::string_view type_name(MetricType t) { return t == MetricType::counter ? "counter" : "gauge"; }

std::string format_value(std::int64_t v) { return std::to_string(v); }

std::string format_value(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void MetricFamily::render(std::string& out) const {
  out += "# HELP ";
  out += spec_.name;
  out += ' ';
  out += escape_help(spec_.help);
  out += "\n# TYPE ";
  out += spec_.name;
  out += ' ';
  out += type_name(spec_.type);
  out += '\n';
  render_series(out);
}

void MetricFamily::render_line(std::string& out, const LabelValues& values, std::string_view value) const {
  out += spec_.name;
  if (!values.empty()) {
    out += '{';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out += ',';
      out += spec_.labels[i];
      out += "=\"";
      out += escape_label_value(values[i]);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

template <class V>
Series<V>& Family<V>::with(const LabelValues& values) {
  if (values.size() != spec().labels.size()) {
    throw std::logic_error("metric " + spec().name + ": " + std::to_string(values.size()) + " label value(s) for " +
                           std::to_string(spec().labels.size()) + " label(s)");
  }
  std::lock_guard lock(mutex_);
  auto& s = series_[values];
  if (!s) s = std::make_unique<Series<V>>();
  return *s;
}

template <class V>
V Family<V>::value(const LabelValues& values) const {
  std::lock_guard lock(mutex_);
  const auto it = series_.find(values);
  return it == series_.end() ? V{} : it->second->value();
}

template <class V>
void Family<V>::set_all(const std::map<LabelValues, V>& values) {
  std::map<LabelValues, std::unique_ptr<Series<V>>> fresh;
  for (const auto& [labels, v] : values) {
    if (labels.size() != spec().labels.size()) throw std::logic_error("metric " + spec().name + ": wrong number of label values");
    auto s = std::make_unique<Series<V>>();
    s->set(v);
    fresh.emplace(labels, std::move(s));
  }
  std::lock_guard lock(mutex_);
  series_.swap(fresh);
}

template <class V>
void Family<V>::render_series(std::string& out) const {
  std::lock_guard lock(mutex_);
  for (const auto& [labels, s] : series_) render_line(out, labels, format_value(s->value()));
}

template class Family<std::int64_t>;
template class Family<double>;

void ComputedFamily::replace(std::function<Samples()> collect) {
  std::lock_guard lock(mutex_);
  collect_ = std::move(collect);
}

void ComputedFamily::render_series(std::string& out) const {
  std::lock_guard lock(mutex_);
  if (!collect_) return;
  for (const auto& [labels, v] : collect_()) {
    if (labels.size() != spec().labels.size()) throw std::logic_error("metric " + spec().name + ": wrong number of label values");
    render_line(out, labels, format_value(v));
  }
}

template <class F, class... Args>
F& MetricsRegistry::add(const MetricSpec& spec, Args&&... args) {
  std::lock_guard lock(mutex_);
  for (const auto& f : families_) {
    if (f->spec().name != spec.name) continue;
    auto* same = dynamic_cast<F*>(f.get());
    if (!same || f->spec() != spec) throw std::logic_error("metric " + spec.name + " registered twice with different definitions");
    return *same;
  }
  families_.push_back(std::make_unique<F>(spec, std::forward<Args>(args)...));
  return static_cast<F&>(*families_.back());
}

Family<std::int64_t>& MetricsRegistry::integers(const MetricSpec& spec) { return add<Family<std::int64_t>>(spec); }

Family<double>& MetricsRegistry::reals(const MetricSpec& spec) { return add<Family<double>>(spec); }

void MetricsRegistry::computed(const MetricSpec& spec, std::function<ComputedFamily::Samples()> collect) {
  add<ComputedFamily>(spec, std::function<ComputedFamily::Samples()>{}).replace(std::move(collect));
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& f : families_) f->render(out);
  return out;
}

std::vector<MetricSpec> MetricsRegistry::specs() const {
  std::lock_guard lock(mutex_);
  std::vector<MetricSpec> out;
  out.reserve(families_.size());
  for (const auto& f : families_) out.push_back(f->spec());
  return out;
}

}  // namespace pactwatch::core
