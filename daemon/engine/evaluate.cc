#include "pactwatch/engine/evaluate.h"

#include <date/tz.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/core/status.h"
#include "pactwatch/engine/evaluation_json.h"
#include "pactwatch/engine/item_timeline.h"
#include "pactwatch/engine/item_values.h"

namespace pactwatch::engine {

namespace {

using nlohmann::json;
using rules::CompareOp;
using rules::MeasureKind;


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

void collect_fields(const rules::Expr& e, std::set<std::string>& out) {
  if (e.kind == rules::Expr::Kind::field) out.insert(e.field);
  for (const auto& a : e.args) collect_fields(*a, out);
}

// An evidence entry, made (and rendered) once when the item is prepared: results share it.
Evidence evidence_entry(const ItemContext& item, const std::set<std::string>& fields) {
  std::vector<std::pair<std::string, Value>> values;
  values.reserve(fields.size());
  for (const auto& f : fields) values.emplace_back(f, item.field(f));
  return make_evidence(item.item().source, item.item().external_id, std::move(values));
}

// The instant an item counts in a period by (docs/evaluation.md, "Which items count"): a ticket's
// solve is the one its resolution timer and `solved` use, as of the as-of instant.
std::optional<core::Instant> counted_at(const ItemContext& it, std::string_view by) {
  const core::Item& item = it.item();
  if (by == "created") return item.created_at;
  if (by == "solved") return it.solved_at();
  const char* key = by == "closed" ? "closed_at" : by == "registered" ? "registered_at" : nullptr;
  const auto& payload = it.payload();
  if (key && payload.contains(key) && payload[key].is_string()) {
    if (auto t = core::parse_rfc3339(payload[key].get<std::string>())) return *t;
  }
  return std::nullopt;
}

bool in_window(const std::optional<core::Instant>& at, const PeriodWindow& period, core::Instant as_of) {
  return at && *at >= period.start && *at < period.end && *at <= as_of;
}

// Whether an item may be an input of the period, decided from its columns alone so that the
// (costly) preparation of the rest is skipped; it mirrors the store's period query. Tickets count
// by creation or by a solve, which is never after their solved_at column (the import keeps that
// column at the latest solve the record shows); surveys and events by their time; deals may count
// by instants inside their payload, so they always stay.
bool may_count(const core::Item& i, const PeriodWindow& period) {
  if (i.kind == "deals" || !i.created_at) return true;
  const bool created_inside = *i.created_at >= period.start && *i.created_at < period.end;
  if (i.kind != "tickets") return created_inside;
  return *i.created_at < period.end && (created_inside || !i.solved_at || *i.solved_at >= period.start);
}

std::string threshold_text(const rules::Threshold& t) {
  std::string v;
  if (t.value.index() == 2) {
    const auto& r = std::get<core::Ratio>(t.value);
    if (t.percent) {
      // Percentages as written, in hundredths of a percent ("95.00%"), exactly when they can be.
      v = core::percent_is_exact(r) ? core::percent_text(r) : rules::literal_text(t.value);
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

// The type a measure's values must have: a duration, money, or a number (number fields and fields
// that hold a number or a label alike).
rules::ValueType measured_type(const rules::Kpi& k) {
  if (k.measure.type == rules::ValueType::duration || k.measure.type == rules::ValueType::money) return k.measure.type;
  if (k.objective.target.value.index() == 4) return rules::ValueType::money;
  return rules::ValueType::number;
}

// Orders measured values of one kind.
bool value_less(const Value& a, const Value& b) {
  if (a.kind == Value::Kind::duration) return a.duration < b.duration;
  if (a.kind == Value::Kind::money) return a.money->minor_units() < b.money->minor_units();
  return a.number < b.number;
}

// The fields a rule's evidence shows.
struct RulePlan {
  std::set<std::string> fields;
};

RulePlan plan_kpi(const rules::Kpi& k) {
  RulePlan p;
  if (k.measure.condition) {
    collect_fields(*k.measure.condition, p.fields);
  }
  if (!k.measure.of.empty()) p.fields.insert(k.measure.of);
  return p;
}

RulePlan plan_standard(const rules::BrandStandard& s) {
  RulePlan p;
  collect_fields(*s.each, p.fields);
  return p;
}

// Phase 1: one item against one KPI or obligation.
ItemOutcome kpi_outcome(const rules::Kpi& k, const RulePlan& plan, const ItemContext& it, const PeriodWindow& period,
                        core::Instant as_of, const std::optional<core::Currency>& currency) {
  ItemOutcome o;
  if (it.item().kind != rules::to_string(k.source)) return o;
  if (!in_window(counted_at(it, k.counted_by), period, as_of)) return o;
  o.input = true;
  if (k.where) {
    const Truth w = evaluate(*k.where, it);
    if (w == Truth::unknown) o.where_unknown = true;
    if (w != Truth::yes) return o;
  }
  o.in = true;
  if (k.measure.kind == MeasureKind::ratio) {
    o.truth = evaluate(*k.measure.condition, it);
    if (o.truth != Truth::yes) o.evidence = evidence_entry(it, plan.fields);
    if (o.truth == Truth::unknown) {
      o.due = breach_instant(*k.measure.condition, it);
    }
  } else if (k.measure.kind != MeasureKind::count) {
    auto value = std::make_shared<const Value>(typed_for_measure(it.field(k.measure.of), measured_type(k), currency));
    if (value->kind != Value::Kind::null) o.value = value;  // a missing value is kept as none
    if (k.measure.kind == MeasureKind::percentile && value->kind != Value::Kind::null && !value->running &&
        !value_holds(*value, k.objective.target)) {
      o.evidence = evidence_entry(it, plan.fields);
    }
  }
  return o;
}

// Phase 1: one item against one brand standard (counted by creation).
ItemOutcome standard_outcome(const rules::BrandStandard& s, const RulePlan& plan, const ItemContext& it,
                             const PeriodWindow& period, core::Instant as_of) {
  ItemOutcome o;
  if (it.item().kind != rules::to_string(s.source)) return o;
  if (!in_window(it.item().created_at, period, as_of)) return o;
  o.input = true;
  if (s.where && evaluate(*s.where, it) != Truth::yes) return o;
  o.in = true;
  o.truth = evaluate(*s.each, it);
  if (o.truth == Truth::no) o.evidence = evidence_entry(it, plan.fields);
  return o;
}

// What a result repeats of its KPI or obligation.
KpiResult kpi_definition(const rules::Kpi& k) {
  KpiResult out;
  out.id = k.id;
  out.description = k.description;
  out.source = k.source;
  out.measure = k.measure.kind;
  out.counted_by = k.counted_by;
  out.target = threshold_text(k.objective.target);
  if (k.objective.warning) out.warning = threshold_text(*k.objective.warning);
  if (!k.where_text.empty()) out.where = k.where_text;
  if (!k.measure.condition_text.empty()) out.condition = k.measure.condition_text;
  out.min_sample = k.min_sample;
  out.weight = k.weight;
  return out;
}

// Whether the value meets the target and the warning level.
struct Objectives {
  bool target = false;
  bool warning = true;
};

// Phase 2 of a ratio: decided items, pending ones, the value and the forecast.
Objectives aggregate_ratio(const rules::Kpi& k, std::size_t r, const std::vector<const PreparedItem*>& items,
                           const PeriodWindow& period, bool open, std::size_t limit, KpiResult& out) {
  std::int64_t good = 0, bad = 0, pending_due_in_period = 0;
  for (const auto* it : items) {
    const ItemOutcome& o = it->rules[r];
    if (!o.in) continue;
    if (o.truth == Truth::yes) {
      ++good;
    } else if (o.truth == Truth::no) {
      ++bad;
      if (static_cast<std::size_t>(out.evidence.total++) < limit) out.evidence.shown.push_back(o.evidence);
    } else {
      if (o.due && *o.due < period.end) ++pending_due_in_period;
      if (static_cast<std::size_t>(out.pending.total++) < limit) out.pending.shown.push_back({o.evidence, o.due});
    }
  }
  const std::int64_t total = good + bad;
  out.numerator = good;
  out.denominator = total;
  Objectives met;
  if (total > 0) {
    met.target = ratio_holds(good, total, k.objective.target);
    if (k.objective.warning) met.warning = ratio_holds(good, total, *k.objective.warning);
  }
  if (open) {
    Forecast f;
    f.pending_due_in_period = pending_due_in_period;
    const std::int64_t worst_total = total + pending_due_in_period;
    if (worst_total > 0) {
      f.share = core::Ratio{good, worst_total};
      f.meets_target = ratio_holds(good, worst_total, k.objective.target);
    }
    out.forecast = f;
  }
  return met;
}

// Phase 2 of a percentile, mean, sum or count: the sample and the value.
Objectives aggregate_values(const rules::Kpi& k, std::size_t r, const std::vector<const PreparedItem*>& items,
                            bool open, std::size_t limit, KpiResult& out) {
  std::vector<std::pair<const Value*, const PreparedItem*>> values;
  std::int64_t counted = 0;
  for (const auto* it : items) {
    const ItemOutcome& o = it->rules[r];
    if (!o.in) continue;
    ++counted;
    if (k.measure.kind == MeasureKind::count) continue;
    if (!o.value) ++out.missing_values;
    else if (o.value->running) ++out.running;  // not final yet: left out of the value
    else values.push_back({o.value.get(), it});
  }
  const std::int64_t sample = k.measure.kind == MeasureKind::count ? counted : static_cast<std::int64_t>(values.size());
  out.sample = sample;
  const rules::ValueType type = measured_type(k);
  const Value::Kind kind = type == rules::ValueType::duration ? Value::Kind::duration
                         : type == rules::ValueType::money    ? Value::Kind::money
                                                              : Value::Kind::number;
  Value result;
  if (k.measure.kind == MeasureKind::count) {
    result.kind = Value::Kind::number;
    result.number = sample * kNumberScale;
  } else if (!values.empty() && k.measure.kind == MeasureKind::percentile) {
    std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return value_less(*a.first, *b.first); });
    // Nearest rank: the smallest value with at least p% of the sample at or below it.
    const auto rank = static_cast<std::size_t>(
        core::divide_rounded(static_cast<core::Int128>(k.measure.percentile) * sample, 100, core::Rounding::up));
    result = *values[std::max<std::size_t>(rank, 1) - 1].first;
  } else if (!values.empty()) {
    result.kind = kind;
    core::Int128 sum = 0;
    for (const auto& [v, it] : values) {
      sum += kind == Value::Kind::duration ? v->duration.count()
           : kind == Value::Kind::money   ? v->money->minor_units()
                                          : v->number;
    }
    const core::Int128 agg =
        k.measure.kind == MeasureKind::sum ? sum : core::divide_rounded(sum, sample, core::Rounding::half_even);
    if (kind == Value::Kind::duration) result.duration = Millis(static_cast<std::int64_t>(agg));
    else if (kind == Value::Kind::money) result.money = core::Money(static_cast<std::int64_t>(agg), values.front().first->money->currency());
    else result.number = static_cast<std::int64_t>(agg);
  } else if (k.measure.kind == MeasureKind::sum) {
    // A sum over no items is zero.
    result.kind = kind;
    if (kind == Value::Kind::money) result.money = core::Money::zero(std::get<core::Money>(k.objective.target.value).currency());
  }
  Objectives met;
  if (result.kind != Value::Kind::null) {
    met.target = value_holds(result, k.objective.target);
    if (k.objective.warning) met.warning = value_holds(result, *k.objective.warning);
    // Evidence: the items whose own value misses the target, worst first (the slow tail of a
    // "<=" target, the low end of a ">=" one), ties in item order.
    if (k.measure.kind == MeasureKind::percentile) {
      const bool high_is_bad = k.objective.target.op == CompareOp::le || k.objective.target.op == CompareOp::lt;
      std::vector<std::pair<const Value*, const PreparedItem*>> missed;
      for (const auto& e : values) {
        if (e.second->rules[r].evidence) missed.push_back(e);
      }
      if (high_is_bad) {
        // `values` is sorted ascending with ties in item order: reverse runs of equal values back.
        std::stable_sort(missed.begin(), missed.end(), [&](const auto& a, const auto& b) { return value_less(*b.first, *a.first); });
      }
      for (const auto& [v, it] : missed) {
        if (static_cast<std::size_t>(out.evidence.total++) < limit) out.evidence.shown.push_back(it->rules[r].evidence);
      }
    }
    out.value = std::move(result);
  }
  if (open && (k.measure.kind == MeasureKind::count || k.measure.kind == MeasureKind::sum)) {
    out.forecast = Forecast{Forecast::Method::none, 0, std::nullopt, false};
  }
  return met;
}

// Phase 2: a KPI or obligation over the prepared items, in their stable order.
KpiResult aggregate_kpi(const rules::Kpi& k, std::size_t r, const std::vector<const PreparedItem*>& items,
                        const PeriodWindow& period, bool open, std::size_t limit) {
  KpiResult out = kpi_definition(k);
  for (const auto* it : items) out.where_undetermined += it->rules[r].where_unknown ? 1 : 0;
  const Objectives met = k.measure.kind == MeasureKind::ratio ? aggregate_ratio(k, r, items, period, open, limit, out)
                                                              : aggregate_values(k, r, items, open, limit, out);
  using S = core::RuleStatus;
  const bool sums = k.measure.kind == MeasureKind::count || k.measure.kind == MeasureKind::sum;
  S status;
  if (out.sample_size() < k.min_sample && !sums) {
    status = S::insufficient_data;
  } else if (!met.target) {
    // A total still growing in an open period may yet reach a `>=`/`>` target; one already past a
    // `<=`/`<` target (or off an `==`/`!=` one) is breached as any other value.
    const bool can_grow_into = k.objective.target.op == CompareOp::ge || k.objective.target.op == CompareOp::gt;
    status = (open && sums && can_grow_into) ? S::at_risk : S::breached;
  } else if (!met.warning) {
    status = S::warning;
  } else {
    status = S::met;
  }
  if (open && (status == S::met || status == S::warning) && out.forecast && out.forecast->share &&
      !out.forecast->meets_target) {
    status = S::at_risk;
  }
  out.status = status;
  return out;
}

StandardResult aggregate_standard(const rules::BrandStandard& s, std::size_t r, const std::vector<const PreparedItem*>& items,
                                  std::size_t limit) {
  StandardResult out;
  out.id = s.id;
  out.description = s.description;
  out.rule = s.each_text;
  out.severity = s.severity;
  for (const auto* it : items) {
    const ItemOutcome& o = it->rules[r];
    if (!o.in) continue;
    if (o.truth == Truth::unknown) {
      ++out.pending;
      continue;
    }
    ++out.checked;
    if (o.truth == Truth::no) {
      if (static_cast<std::size_t>(out.violations.total++) < limit) out.violations.shown.push_back(o.evidence);
    }
  }
  return out;
}

// Whether an exclusion leaves out a prepared item (for the rules it names).
bool excludes(const Exclusion& x, const PreparedItem& p) {
  if (x.one_item()) return x.source == std::get<0>(*p.key) && x.kind == std::get<1>(*p.key) && x.id == std::get<2>(*p.key);
  if (x.created_from) {
    return p.created_at && *p.created_at >= *x.created_from && (!x.created_until || *p.created_at < *x.created_until);
  }
  return true;
}

// The items that still count for rule `r` once the exclusions naming it (`naming`) are applied;
// what they left out goes to `out`. Only items that would have counted are listed.
std::vector<const PreparedItem*> kept_items(const std::vector<const Exclusion*>& naming, std::size_t r,
                                            const std::vector<const PreparedItem*>& items, std::size_t limit,
                                            RuleExclusions& out) {
  for (const auto* x : naming) {
    out.by.push_back(x->by);
    out.whole_rule = out.whole_rule || x->whole_rule();
  }
  std::vector<const PreparedItem*> kept;
  kept.reserve(items.size());
  for (const auto* it : items) {
    const Exclusion* by = nullptr;
    if (it->rules[r].in) {
      for (const auto* x : naming) {
        if (excludes(*x, *it)) {
          by = x;
          break;
        }
      }
    }
    if (!by) {
      kept.push_back(it);
    } else if (static_cast<std::size_t>(out.items.total++) < limit) {
      out.items.shown.push_back({by->by, std::get<0>(*it->key), std::get<2>(*it->key)});
    }
  }
  return kept;
}

core::Sha256 item_hash(const core::Item& i) {
  json j{{"source", i.source}, {"id", i.external_id}, {"kind", i.kind}, {"status", i.status},
         {"priority", i.priority}, {"updated_at", core::to_unix_ms(i.updated_at)},
         {"created_at", i.created_at ? json(core::to_unix_ms(*i.created_at)) : json(nullptr)},
         {"first_reply_at", i.first_reply_at ? json(core::to_unix_ms(*i.first_reply_at)) : json(nullptr)},
         {"solved_at", i.solved_at ? json(core::to_unix_ms(*i.solved_at)) : json(nullptr)},
         {"amount_minor", i.amount_minor ? json(*i.amount_minor) : json(nullptr)}, {"currency", i.currency},
         {"payload", i.payload}};
  return core::sha256(j.dump(-1, ' ', false, json::error_handler_t::replace));
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
  // YYYY-MM or YYYY-Qn exactly: digits where digits go (sscanf alone reads "2026-1x" as January).
  auto digit = [&](std::size_t i) { return label.size() > i && label[i] >= '0' && label[i] <= '9'; };
  const bool shaped = label.size() == 7 && digit(0) && digit(1) && digit(2) && digit(3) && label[4] == '-' &&
                      (label[5] == 'Q' || digit(5)) && digit(6);
  if (!shaped) return std::unexpected("'" + std::string(label) + "' is not a period (expected YYYY-MM or YYYY-Qn)");
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

PeriodState::PeriodState(const rules::ContractVersion& contract, const calendar::Calendar& cal, PeriodWindow period,
                         core::Instant as_of)
    : contract_(&contract), cal_(&cal), period_(std::move(period)), as_of_(as_of) {
  if (auto c = core::Currency::from_code(contract.currency)) currency_ = *c;
}

void PeriodState::upsert(const core::Item& item) {
  auto key = std::tuple(item.source, item.kind, item.external_id);
  if (!item.partner_id || *item.partner_id != contract_->partner || !may_count(item, period_)) {
    items_.erase(key);
    return;
  }
  const ItemContext it(item, *contract_, *cal_, as_of_);
  const auto& cur = currency_;
  PreparedItem p;
  for (const auto& k : contract_->kpis) p.rules.push_back(kpi_outcome(k, plan_kpi(k), it, period_, as_of_, cur));
  for (const auto& o : contract_->obligations) p.rules.push_back(kpi_outcome(o, plan_kpi(o), it, period_, as_of_, cur));
  for (const auto& s : contract_->brand_standards) p.rules.push_back(standard_outcome(s, plan_standard(s), it, period_, as_of_));
  if (std::none_of(p.rules.begin(), p.rules.end(), [](const ItemOutcome& o) { return o.input; })) {
    items_.erase(key);  // counts for no rule in this period: not an input
    return;
  }
  p.hash = item_hash(item);
  p.problem = it.problem();
  p.created_at = item.created_at;
  const auto placed = items_.insert_or_assign(std::move(key), std::move(p)).first;
  placed->second.key = &placed->first;
}

namespace {

// Heap bytes behind a string (none while it fits the small-string buffer).
std::size_t heap_of(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

std::size_t heap_of(const Value& v) {
  std::size_t n = heap_of(v.string) + v.list.capacity() * sizeof(std::string);
  for (const auto& s : v.list) n += heap_of(s);
  return n;
}

// One evidence entry and what it points to, with the shared pointer's control block.
std::size_t bytes_of(const EvidenceEntry& e) {
  std::size_t n = sizeof(EvidenceEntry) + 16 + heap_of(e.source) + heap_of(e.id) + heap_of(e.json) +
                  e.values.capacity() * sizeof(std::pair<std::string, Value>);
  for (const auto& [field, value] : e.values) n += heap_of(field) + heap_of(value);
  return n;
}

// A red-black tree node's links and colour, besides its value.
constexpr std::size_t kMapNode = 32;

}  // namespace

std::size_t PeriodState::memory_bytes() const {
  std::size_t n = sizeof(PeriodState);
  for (const auto& [key, p] : items_) {
    n += kMapNode + sizeof(key) + sizeof(p) + heap_of(std::get<0>(key)) + heap_of(std::get<1>(key)) + heap_of(std::get<2>(key)) +
         heap_of(p.problem) + p.rules.capacity() * sizeof(ItemOutcome);
    const EvidenceEntry* last = nullptr;
    for (const auto& o : p.rules) {
      if (o.value) n += sizeof(Value) + 16 + heap_of(*o.value);  // with the shared pointer's control block
      // Rules of one item may share an entry: count it once.
      if (o.evidence && o.evidence.get() != last) n += bytes_of(*o.evidence);
      if (o.evidence) last = o.evidence.get();
    }
  }
  return n;
}

void PeriodState::erase(const std::string& source, const std::string& kind, const std::string& external_id) {
  items_.erase(std::tuple(source, kind, external_id));
}

void PeriodState::set_exclusions(std::vector<Exclusion> exclusions) {
  std::stable_sort(exclusions.begin(), exclusions.end(), [](const Exclusion& a, const Exclusion& b) { return a.by < b.by; });
  exclusions_ = std::move(exclusions);
}

json PeriodState::evaluate() const { return json::parse(render_evaluation(evaluation())); }

Rendered PeriodState::render_document() const {
  const Evaluation e = evaluation();
  Rendered out;
  out.text = render_evaluation(e);
  out.skeleton = evaluation_skeleton(e);
  return out;
}

Evaluation PeriodState::evaluation() const {
  const auto& contract = *contract_;
  Evaluation e;
  e.contract = {contract.contract, contract.version, contract.sha256, contract.enforced, contract.status_note,
                contract.partner, contract.calendar, contract.currency};
  e.period = period_;
  e.open = as_of_ < period_.end;
  e.as_of = as_of_;
  std::vector<const PreparedItem*> items;
  items.reserve(items_.size());
  std::string hashes;
  hashes.reserve(items_.size() * 64);
  for (const auto& [key, p] : items_) {  // ordered by source, kind, then external id
    items.push_back(&p);
    core::append_hex(hashes, p.hash);
    if (!p.problem.empty()) e.problems.push_back({std::get<0>(key), std::get<2>(key), p.problem});
  }
  e.input_items = static_cast<std::int64_t>(items.size());
  // The exclusions that apply: those of one item or of whole rules, and windows that overlap the
  // period or hold the creation of one of its items.
  for (const auto& x : exclusions_) {
    bool applies = !x.created_from || (*x.created_from < period_.end && (!x.created_until || *x.created_until > period_.start));
    for (std::size_t i = 0; !applies && i < items.size(); ++i) applies = excludes(x, *items[i]);
    if (applies) e.exclusions.push_back(x);
  }
  // The digest of the items that can count in the period: SHA-256 over their own SHA-256s, then
  // over the exclusions applied when there are any.
  if (!e.exclusions.empty()) hashes += exclusions_json(e.exclusions).dump();
  e.input_digest = core::sha256_hex(hashes);
  // Rules in order (KPIs, obligations, standards), each with the applied exclusions naming it.
  std::vector<std::vector<const Exclusion*>> naming;
  auto named = [&](const std::string& id) {
    std::vector<const Exclusion*> out;
    for (const auto& x : e.exclusions) {
      if (std::find(x.rules.begin(), x.rules.end(), id) != x.rules.end()) out.push_back(&x);
    }
    return out;
  };
  std::size_t r = 0;
  auto kpi = [&](const rules::Kpi& k) {
    const auto xs = named(k.id);
    if (xs.empty()) return aggregate_kpi(k, r++, items, period_, e.open, evidence_limit_);
    RuleExclusions ex;
    const auto kept = kept_items(xs, r, items, evidence_limit_, ex);
    KpiResult out = aggregate_kpi(k, r++, kept, period_, e.open, evidence_limit_);
    if (ex.whole_rule) out.status = core::RuleStatus::insufficient_data;  // waived for the period
    out.excluded = std::move(ex);
    return out;
  };
  e.kpis.reserve(contract.kpis.size());
  for (const auto& k : contract.kpis) e.kpis.push_back(kpi(k));
  e.obligations.reserve(contract.obligations.size());
  for (const auto& o : contract.obligations) e.obligations.push_back(kpi(o));
  e.brand_standards.reserve(contract.brand_standards.size());
  for (const auto& s : contract.brand_standards) {
    const auto xs = named(s.id);
    if (xs.empty()) {
      e.brand_standards.push_back(aggregate_standard(s, r++, items, evidence_limit_));
      continue;
    }
    RuleExclusions ex;
    const auto kept = kept_items(xs, r, items, evidence_limit_, ex);
    e.brand_standards.push_back(aggregate_standard(s, r++, kept, evidence_limit_));
    e.brand_standards.back().excluded = std::move(ex);
  }
  return e;
}

bool in_effect_during(const rules::ContractVersion& c, const PeriodWindow& w) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const core::Instant from(duration_cast<milliseconds>(c.effective_from.time_since_epoch()));
  if (from >= w.end) return false;
  if (!c.effective_until) return true;
  const core::Instant until_end(duration_cast<milliseconds>((*c.effective_until + std::chrono::days(1)).time_since_epoch()));
  return until_end > w.start;
}

Evaluation evaluate_period(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                           std::span<const core::Item> all_items, const PeriodWindow& period, core::Instant as_of,
                           std::size_t evidence_limit, std::span<const Exclusion> exclusions) {
  PeriodState state(contract, cal, period, as_of);
  state.set_evidence_limit(evidence_limit);
  state.set_exclusions({exclusions.begin(), exclusions.end()});
  for (const auto& i : all_items) state.upsert(i);
  return state.evaluation();
}

json evaluate_contract(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                       std::span<const core::Item> all_items, const PeriodWindow& period, core::Instant as_of,
                       std::size_t evidence_limit, std::span<const Exclusion> exclusions) {
  return json::parse(render_evaluation(evaluate_period(contract, cal, all_items, period, as_of, evidence_limit, exclusions)));
}

}  // namespace pactwatch::engine
