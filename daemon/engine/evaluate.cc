#include "pactwatch/engine/evaluate.h"

#include <date/tz.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/engine/item_values.h"

namespace pactwatch::engine {

namespace {

using nlohmann::json;
using rules::CompareOp;
using rules::MeasureKind;

constexpr std::size_t kMaxEvidence = 500;

core::Instant local_midnight(const date::time_zone& zone, calendar::LocalDate d) {
  const date::local_seconds local{std::chrono::seconds(d.time_since_epoch())};
  const auto utc = local.time_since_epoch() - zone.get_info(local).first.offset;
  return core::Instant(std::chrono::duration_cast<std::chrono::milliseconds>(utc));
}

// good/total against an exact ratio threshold, by cross-multiplication.
bool ratio_holds(std::int64_t good, std::int64_t total, const rules::Threshold& t) {
  const auto& r = std::get<core::Ratio>(t.value);
  const core::Int128 lhs = static_cast<core::Int128>(good) * r.denominator;
  const core::Int128 rhs = static_cast<core::Int128>(r.numerator) * total;
  return holds(three_way(lhs, rhs), t.op);
}

std::string percent_text(std::int64_t good, std::int64_t total) {
  if (total == 0) return "";
  // Two decimals of a percentage, rounded half-even: 10000 * good / total hundredths.
  const auto hundredths = core::divide_rounded(static_cast<core::Int128>(good) * 10000, total, core::Rounding::half_even);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%02lld%%", static_cast<long long>(hundredths / 100),
                static_cast<long long>(hundredths % 100));
  return buf;
}

std::string fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

json value_json(const Value& v) {
  switch (v.kind) {
    case Value::Kind::null: return nullptr;
    case Value::Kind::boolean: return v.boolean;
    case Value::Kind::string: return v.string;
    case Value::Kind::number: return format_number(v.number);
    case Value::Kind::duration: {
      json d{{"seconds", v.duration.count() / 1000},
             {"text", core::format_duration(std::chrono::duration_cast<core::Duration>(v.duration))}};
      if (v.running) d["running"] = true;
      return d;
    }
    case Value::Kind::money: return v.money->to_string();
    case Value::Kind::list: return v.list;
  }
  return nullptr;
}

// Duration bounds in a condition ("first_reply <= 1h"): the deadlines a running timer is held to.
void collect_bounds(const rules::Expr& e, std::vector<std::pair<std::string, Millis>>& out) {
  if (e.kind == rules::Expr::Kind::compare && (e.op == CompareOp::le || e.op == CompareOp::lt) &&
      e.args[0]->kind == rules::Expr::Kind::field && e.args[1]->kind == rules::Expr::Kind::literal &&
      e.args[1]->value && e.args[1]->value->index() == 3) {
    out.emplace_back(e.args[0]->field, std::chrono::duration_cast<Millis>(std::get<core::Duration>(*e.args[1]->value)));
  }
  for (const auto& a : e.args) collect_bounds(*a, out);
}

void collect_fields(const rules::Expr& e, std::set<std::string>& out) {
  if (e.kind == rules::Expr::Kind::field) out.insert(e.field);
  for (const auto& a : e.args) collect_fields(*a, out);
}

json evidence_entry(const ItemContext& item, const std::set<std::string>& fields) {
  json values = json::object();
  for (const auto& f : fields) values[f] = value_json(item.field(f));
  return json{{"source", item.item().source}, {"id", item.item().external_id}, {"values", values}};
}

// The instant an item counts in a period by.
std::optional<core::Instant> counted_at(const store::Item& item, const nlohmann::json& payload, std::string_view by) {
  if (by == "created") return item.created_at;
  if (by == "solved") return item.solved_at;
  const char* key = by == "closed" ? "closed_at" : by == "registered" ? "registered_at" : nullptr;
  if (key && payload.contains(key) && payload[key].is_string()) {
    if (auto t = core::parse_rfc3339(payload[key].get<std::string>())) return *t;
  }
  return std::nullopt;
}

std::string threshold_text(const rules::Threshold& t) {
  std::string v;
  if (t.value.index() == 2) {
    const auto& r = std::get<core::Ratio>(t.value);
    if (t.percent) {
      // Percentages as written, in hundredths of a percent ("95.00%"), exactly when they can be.
      const core::Int128 scaled = static_cast<core::Int128>(r.numerator) * 10000;
      if (scaled % r.denominator == 0) {
        const auto h = static_cast<long long>(scaled / r.denominator);
        char buf[48];
        std::snprintf(buf, sizeof buf, "%lld.%02lld%%", h / 100, h % 100);
        v = buf;
      } else {
        v = rules::literal_text(t.value);
      }
    } else {
      v = format_number(to_micro(r));
    }
  } else {
    v = rules::literal_text(t.value);
  }
  return std::string(rules::to_string(t.op)) + " " + v;
}

// Compares a measured value (not a ratio) with a threshold of the same type.
bool value_holds(const Value& v, const rules::Threshold& t) {
  switch (v.kind) {
    case Value::Kind::duration:
      return holds(three_way(v.duration, std::chrono::duration_cast<Millis>(std::get<core::Duration>(t.value))), t.op);
    case Value::Kind::number: return holds(three_way(v.number, to_micro(std::get<core::Ratio>(t.value))), t.op);
    case Value::Kind::money:
      return holds(three_way(v.money->minor_units(), std::get<core::Money>(t.value).minor_units()), t.op);
    default: return false;
  }
}

struct KpiOutcome {
  std::string status;
  std::optional<core::Ratio> weight;
};

json evaluate_kpi(const rules::Kpi& k, const std::vector<ItemContext>& items, const PeriodWindow& period,
                  core::Instant as_of, bool open, KpiOutcome& outcome) {
  json out{{"id", k.id}, {"description", k.description}, {"source", std::string(rules::to_string(k.source))},
           {"measure", std::string(rules::to_string(k.measure.kind))}, {"counted_by", k.counted_by},
           {"target", threshold_text(k.objective.target)}, {"min_sample", k.min_sample}};
  if (k.objective.warning) out["warning"] = threshold_text(*k.objective.warning);
  if (!k.where_text.empty()) out["where"] = k.where_text;
  if (!k.measure.condition_text.empty()) out["condition"] = k.measure.condition_text;
  if (k.weight) out["weight"] = rules::literal_text(*k.weight);

  std::set<std::string> fields;
  if (k.measure.condition) collect_fields(*k.measure.condition, fields);
  if (!k.measure.of.empty()) fields.insert(k.measure.of);

  std::vector<const ItemContext*> in;
  std::int64_t undetermined_where = 0;
  for (const auto& it : items) {
    if (it.item().kind != rules::to_string(k.source)) continue;
    const auto at = counted_at(it.item(), it.payload(), k.counted_by);
    if (!at || *at < period.start || *at >= period.end || *at > as_of) continue;
    if (k.where) {
      const Truth w = evaluate(*k.where, it);
      if (w == Truth::unknown) ++undetermined_where;
      if (w != Truth::yes) continue;
    }
    in.push_back(&it);
  }
  if (undetermined_where) out["where_undetermined"] = undetermined_where;

  json evidence = json::array();
  std::size_t evidence_total = 0;
  auto add_evidence = [&](const ItemContext& it) {
    ++evidence_total;
    if (evidence.size() < kMaxEvidence) evidence.push_back(evidence_entry(it, fields));
  };
  std::string status;
  bool target_met = false;
  bool warning_met = true;
  std::int64_t sample = 0;

  if (k.measure.kind == MeasureKind::ratio) {
    std::int64_t good = 0, bad = 0;
    json pending = json::array();
    std::int64_t pending_due_in_period = 0;
    std::vector<std::pair<std::string, Millis>> bounds;
    collect_bounds(*k.measure.condition, bounds);
    for (const auto* it : in) {
      const Truth t = evaluate(*k.measure.condition, *it);
      if (t == Truth::yes) {
        ++good;
      } else if (t == Truth::no) {
        ++bad;
        add_evidence(*it);
      } else {
        json p = evidence_entry(*it, fields);
        // A running timer that will breach before the period ends counts against the forecast.
        std::optional<core::Instant> due;
        for (const auto& [field, bound] : bounds) {
          if (auto d = it->deadline(field, bound); d && (!due || *d < *due)) due = d;
        }
        if (due) {
          p["breach_at"] = core::format_rfc3339(*due);
          if (*due < period.end) ++pending_due_in_period;
        }
        pending.push_back(std::move(p));
      }
    }
    const std::int64_t total = good + bad;
    sample = total;
    out["numerator"] = good;
    out["denominator"] = total;
    out["pending"] = pending;
    if (total > 0) {
      out["value"] = percent_text(good, total);
      const auto [lo, hi] = wilson_interval(good, total);
      out["interval95"] = {{"low", fixed4(lo)}, {"high", fixed4(hi)}, {"method", "wilson"}};
      target_met = ratio_holds(good, total, k.objective.target);
      if (k.objective.warning) warning_met = ratio_holds(good, total, *k.objective.warning);
    } else {
      out["value"] = nullptr;
    }
    if (open) {
      const std::int64_t worst_total = total + pending_due_in_period;
      json f{{"method", "pending items due in the period fail"}};
      if (worst_total > 0) {
        f["value"] = percent_text(good, worst_total);
        f["meets_target"] = ratio_holds(good, worst_total, k.objective.target);
      }
      f["pending_due_in_period"] = pending_due_in_period;
      out["forecast"] = f;
    }
  } else {
    std::vector<std::pair<Value, const ItemContext*>> values;
    std::int64_t missing = 0, running = 0;
    for (const auto* it : in) {
      if (k.measure.kind == MeasureKind::count) {
        values.push_back({Value{}, it});
        continue;
      }
      Value v = it->field(k.measure.of);
      if (v.kind == Value::Kind::null) {
        ++missing;
      } else if (v.running) {
        ++running;  // not final yet: left out of the value
      } else {
        values.push_back({v, it});
      }
    }
    sample = static_cast<std::int64_t>(values.size());
    out["sample"] = sample;
    if (missing) out["missing_values"] = missing;
    if (running) out["running"] = running;
    Value result;
    bool have = !values.empty() || k.measure.kind == MeasureKind::count;
    if (k.measure.kind == MeasureKind::count) {
      result.kind = Value::Kind::number;
      result.number = sample * kNumberScale;
    } else if (have) {
      const Value::Kind kind = values.front().first.kind;
      result.kind = kind;
      if (k.measure.kind == MeasureKind::percentile) {
        std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) {
          if (a.first.kind == Value::Kind::duration) return a.first.duration < b.first.duration;
          if (a.first.kind == Value::Kind::money) return a.first.money->minor_units() < b.first.money->minor_units();
          return a.first.number < b.first.number;
        });
        // Nearest rank: the smallest value with at least p% of the sample at or below it.
        const auto rank = static_cast<std::size_t>(
            core::divide_rounded(static_cast<core::Int128>(k.measure.percentile) * sample, 100, core::Rounding::up));
        result = values[std::max<std::size_t>(rank, 1) - 1].first;
        out["method"] = "nearest rank";
      } else {
        core::Int128 sum = 0;
        for (const auto& [v, it] : values) {
          sum += kind == Value::Kind::duration ? v.duration.count()
               : kind == Value::Kind::money   ? v.money->minor_units()
                                              : v.number;
        }
        const core::Int128 agg = k.measure.kind == MeasureKind::sum
                                     ? sum
                                     : core::divide_rounded(sum, sample, core::Rounding::half_even);
        if (kind == Value::Kind::duration) result.duration = Millis(static_cast<std::int64_t>(agg));
        else if (kind == Value::Kind::money) result.money = core::Money(static_cast<std::int64_t>(agg), values.front().first.money->currency());
        else result.number = static_cast<std::int64_t>(agg);
      }
    }
    if (!have && k.measure.kind == MeasureKind::sum) {
      // A sum over no items is zero.
      have = true;
      result.kind = k.measure.type == rules::ValueType::money ? Value::Kind::money
                  : k.measure.type == rules::ValueType::duration ? Value::Kind::duration
                                                                 : Value::Kind::number;
      if (result.kind == Value::Kind::money) result.money = core::Money::zero(std::get<core::Money>(k.objective.target.value).currency());
    }
    if (have) {
      out["value"] = value_json(result);
      target_met = value_holds(result, k.objective.target);
      if (k.objective.warning) warning_met = value_holds(result, *k.objective.warning);
      // Evidence: the items whose own value misses the target.
      if (k.measure.kind == MeasureKind::percentile) {
        for (const auto& [v, it] : values) {
          if (!value_holds(v, k.objective.target)) add_evidence(*it);
        }
      }
    } else {
      out["value"] = nullptr;
    }
    if (open && (k.measure.kind == MeasureKind::count || k.measure.kind == MeasureKind::sum)) {
      out["forecast"] = json{{"method", "no forecast for totals (they grow until the period ends)"}};
    }
  }

  const bool sums = k.measure.kind == MeasureKind::count || k.measure.kind == MeasureKind::sum;
  if (sample < k.min_sample && !sums) {
    status = "insufficient_data";
  } else if (!target_met) {
    // A total still growing in an open period is not yet breached.
    status = (open && sums) ? "at_risk" : "breached";
  } else if (!warning_met) {
    status = "warning";
  } else {
    status = "met";
  }
  if (open && (status == "met" || status == "warning") && out.contains("forecast") &&
      out["forecast"].contains("meets_target") && !out["forecast"]["meets_target"].get<bool>()) {
    status = "at_risk";
  }
  out["status"] = status;
  out["evidence"] = evidence;
  if (evidence_total > evidence.size()) out["evidence_truncated"] = evidence_total;
  outcome = {status, k.weight};
  return out;
}

json evaluate_standard(const rules::BrandStandard& s, const std::vector<ItemContext>& items, const PeriodWindow& period,
                       core::Instant as_of) {
  std::set<std::string> fields;
  collect_fields(*s.each, fields);
  json violations = json::array();
  std::int64_t checked = 0, pending = 0, violated = 0;
  for (const auto& it : items) {
    if (it.item().kind != rules::to_string(s.source)) continue;
    const auto at = it.item().created_at;
    if (!at || *at < period.start || *at >= period.end || *at > as_of) continue;
    if (s.where && evaluate(*s.where, it) != Truth::yes) continue;
    const Truth t = evaluate(*s.each, it);
    if (t == Truth::unknown) {
      ++pending;
      continue;
    }
    ++checked;
    if (t == Truth::no) {
      ++violated;
      if (violations.size() < kMaxEvidence) violations.push_back(evidence_entry(it, fields));
    }
  }
  return json{{"id", s.id}, {"description", s.description}, {"rule", s.each_text},
              {"severity", std::string(rules::to_string(s.severity))}, {"checked", checked}, {"pending", pending},
              {"violations", violated}, {"evidence", violations}, {"status", violated ? "breached" : "met"}};
}

// Whether an item can count in the period by any rule, decided from its columns alone so that
// the (costly) preparation of the rest is skipped: tickets count by creation or solve, surveys and
// events by their time; deals may count by instants inside their payload, so they always stay.
bool may_count(const store::Item& i, const PeriodWindow& period) {
  if (i.kind == "deals" || !i.created_at) return true;
  const bool created_inside = *i.created_at >= period.start && *i.created_at < period.end;
  if (i.kind != "tickets") return created_inside;
  const bool solved_inside = i.solved_at && *i.solved_at >= period.start && *i.solved_at < period.end;
  return created_inside || solved_inside || (!i.solved_at && *i.created_at < period.end);
}

std::string input_digest(const std::vector<const store::Item*>& items) {
  std::string canonical;
  for (const auto* i : items) {
    json j{{"source", i->source}, {"id", i->external_id}, {"kind", i->kind}, {"status", i->status},
           {"priority", i->priority}, {"updated_at", core::to_unix_ms(i->updated_at)},
           {"created_at", i->created_at ? json(core::to_unix_ms(*i->created_at)) : json(nullptr)},
           {"first_reply_at", i->first_reply_at ? json(core::to_unix_ms(*i->first_reply_at)) : json(nullptr)},
           {"solved_at", i->solved_at ? json(core::to_unix_ms(*i->solved_at)) : json(nullptr)},
           {"amount_minor", i->amount_minor ? json(*i->amount_minor) : json(nullptr)}, {"currency", i->currency},
           {"payload", i->payload}};
    canonical += j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  return rules::sha256_hex(canonical);
}

}  // namespace

std::pair<double, double> wilson_interval(std::int64_t k, std::int64_t n) {
  if (n <= 0) return {0.0, 1.0};
  // Statistics, not money: doubles are fine here.
  const double z = 1.959963984540054;
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(k) / nn;
  const double denom = 1.0 + z * z / nn;
  const double center = (p + z * z / (2.0 * nn)) / denom;
  const double half = z * std::sqrt(p * (1.0 - p) / nn + z * z / (4.0 * nn * nn)) / denom;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

std::expected<PeriodWindow, std::string> period_containing(const rules::ContractVersion& c, const calendar::Calendar& cal,
                                                           core::Instant at) {
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(cal.timezone());
  } catch (const std::exception&) {
    return std::unexpected("unknown time zone '" + cal.timezone() + "'");
  }
  if (c.period.kind == rules::Period::Kind::rolling) {
    PeriodWindow w;
    w.end = at;
    w.start = at - c.period.rolling;
    w.label = "rolling " + core::format_duration(c.period.rolling) + " to " + core::format_rfc3339(at);
    return w;
  }
  const auto local = zone->to_local(date::sys_seconds(std::chrono::floor<std::chrono::seconds>(at).time_since_epoch()));
  const auto local_day = std::chrono::floor<std::chrono::days>(local.time_since_epoch());
  const std::chrono::year_month_day ymd{calendar::LocalDate(local_day)};
  std::string label;
  char buf[48];
  unsigned first_month = static_cast<unsigned>(ymd.month());
  unsigned months = 1;
  if (c.period.kind == rules::Period::Kind::quarter) {
    const unsigned q = (first_month - 1) / 3 + 1;
    first_month = 3 * (q - 1) + 1;
    months = 3;
    std::snprintf(buf, sizeof buf, "%04d-Q%u", static_cast<int>(ymd.year()), q);
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(ymd.year()), first_month);
  }
  label = buf;
  const std::chrono::year_month first = ymd.year() / std::chrono::month{first_month};
  const std::chrono::year_month next = first + std::chrono::months{months};
  return PeriodWindow{label, local_midnight(*zone, calendar::LocalDate{first / 1}),
                      local_midnight(*zone, calendar::LocalDate{next / 1})};
}

std::expected<PeriodWindow, std::string> period_by_label(const rules::ContractVersion& c, const calendar::Calendar& cal,
                                                         std::string_view label) {
  int y = 0;
  unsigned m = 0;
  if (c.period.kind == rules::Period::Kind::rolling) {
    return std::unexpected("contract '" + c.contract + "' has a rolling period; use --as-of to place its window");
  }
  if (label.size() == 7 && label[4] == '-' && label[5] == 'Q' && std::sscanf(std::string(label).c_str(), "%d-Q%u", &y, &m) == 2 &&
      m >= 1 && m <= 4) {
    m = 3 * (m - 1) + 1;
  } else if (label.size() != 7 || std::sscanf(std::string(label).c_str(), "%d-%u", &y, &m) != 2 || m < 1 || m > 12) {
    return std::unexpected("'" + std::string(label) + "' is not a period (expected YYYY-MM or YYYY-Qn)");
  }
  const date::time_zone* zone = date::locate_zone(cal.timezone());
  const calendar::LocalDate first{std::chrono::year{y} / std::chrono::month{m} / 1};
  // A month label names the quarter containing it for a quarterly contract (so one --period
  // covers every partner); a quarter label for a monthly contract is ambiguous.
  if (c.period.kind == rules::Period::Kind::month && label.find('Q') != std::string_view::npos) {
    return std::unexpected("contract '" + c.contract + "' is evaluated per month; name the period as YYYY-MM");
  }
  return period_containing(c, cal, local_midnight(*zone, first) + std::chrono::hours(12));
}

json evaluate_contract(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                       std::span<const store::Item> all_items, const PeriodWindow& period, core::Instant as_of) {
  // The partner's items in a stable order (source, then external id): the output never depends
  // on the order they were read in.
  std::vector<const store::Item*> mine;
  std::int64_t other = 0;
  for (const auto& i : all_items) {
    if (i.partner_id && *i.partner_id == contract.partner) mine.push_back(&i);
    else ++other;
  }
  std::sort(mine.begin(), mine.end(), [](const store::Item* a, const store::Item* b) {
    return std::tie(a->source, a->external_id) < std::tie(b->source, b->external_id);
  });
  // Only the items that can count in this period are inputs: a change elsewhere leaves this
  // period's document, digest included, untouched.
  std::erase_if(mine, [&](const store::Item* i) { return !may_count(*i, period); });
  std::vector<ItemContext> items;
  items.reserve(mine.size());
  json problems = json::array();
  for (const auto* i : mine) {
    items.emplace_back(*i, contract, cal, as_of);
    if (!items.back().problem().empty()) problems.push_back({{"source", i->source}, {"id", i->external_id}, {"problem", items.back().problem()}});
  }
  const bool open = as_of < period.end;

  json doc;
  doc["engine_version"] = std::string(kEngineVersion);
  doc["contract"] = {{"id", contract.contract}, {"version", contract.version}, {"sha256", contract.sha256},
                     {"status", contract.enforced ? "enforced" : "draft"}, {"note", contract.status_note},
                     {"partner", contract.partner}, {"calendar", contract.calendar}, {"currency", contract.currency}};
  doc["period"] = {{"label", period.label}, {"start", core::format_rfc3339(period.start)},
                   {"end", core::format_rfc3339(period.end)}, {"open", open}};
  doc["as_of"] = core::format_rfc3339(as_of);
  doc["input"] = {{"items", mine.size()}, {"digest", input_digest(mine)}, {"problems", problems}};

  json kpis = json::array();
  core::Int128 weight_met_num = 0, weight_counted_num = 0;
  std::int64_t common_den = 1;
  std::vector<KpiOutcome> outcomes;
  for (const auto& k : contract.kpis) {
    KpiOutcome o;
    kpis.push_back(evaluate_kpi(k, items, period, as_of, open, o));
    outcomes.push_back(o);
    if (o.weight) common_den = std::lcm(common_den, o.weight->denominator);
  }
  bool any_weight = false;
  for (const auto& o : outcomes) {
    if (!o.weight) continue;
    any_weight = true;
    const core::Int128 w = static_cast<core::Int128>(o.weight->numerator) * (common_den / o.weight->denominator);
    if (o.status == "insufficient_data") continue;
    weight_counted_num += w;
    if (o.status == "met" || o.status == "warning" || o.status == "at_risk") weight_met_num += w;
  }
  doc["kpis"] = kpis;
  json standards = json::array();
  for (const auto& s : contract.brand_standards) standards.push_back(evaluate_standard(s, items, period, as_of));
  doc["brand_standards"] = standards;
  json obligations = json::array();
  for (const auto& o : contract.obligations) {
    KpiOutcome ignored;
    obligations.push_back(evaluate_kpi(o, items, period, as_of, open, ignored));
  }
  doc["obligations"] = obligations;
  if (any_weight) {
    json score{{"method", "share of the weight of KPIs met (warning and at_risk count as met); KPIs with insufficient data are left out"}};
    if (weight_counted_num > 0) {
      const auto met = static_cast<std::int64_t>(weight_met_num);
      const auto counted = static_cast<std::int64_t>(weight_counted_num);
      score["value"] = percent_text(met, counted);
    } else {
      score["value"] = nullptr;
    }
    doc["score"] = score;
  }
  return doc;
}

}  // namespace pactwatch::engine
