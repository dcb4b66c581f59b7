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

// A duration to the millisecond as text: "1h2m3.5s", "1.667s", "4h".
std::string duration_text(Millis d) {
  const std::int64_t ms = d.count();
  const std::int64_t whole = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac == 0) return core::format_duration(core::Duration(whole));
  std::string out = ms < 0 ? "-" : "";
  const std::int64_t mag = whole < 0 ? -whole : whole;
  if (frac < 0) frac = -frac;
  const std::int64_t days = mag / 86400, hours = mag % 86400 / 3600, minutes = mag % 3600 / 60, seconds = mag % 60;
  if (days) out += std::to_string(days) + "d";
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  char buf[8];
  std::snprintf(buf, sizeof buf, "%03lld", static_cast<long long>(frac));
  std::string f = buf;
  while (f.back() == '0') f.pop_back();
  out += std::to_string(seconds) + "." + f + "s";
  return out;
}

// Seconds as a JSON number, exact to the millisecond: whole seconds as an integer, otherwise the
// decimal (a double whose shortest form is that decimal, e.g. 1.667).
json seconds_json(Millis d) {
  if (d.count() % 1000 == 0) return d.count() / 1000;
  return static_cast<double>(d.count()) / 1000.0;
}

json value_json(const Value& v) {
  switch (v.kind) {
    case Value::Kind::null: return nullptr;
    case Value::Kind::boolean: return v.boolean;
    case Value::Kind::string: return v.string;
    case Value::Kind::number: return format_number(v.number);
    case Value::Kind::duration: {
      json d{{"milliseconds", v.duration.count()}, {"seconds", seconds_json(v.duration)}, {"text", duration_text(v.duration)}};
      if (v.running) d["running"] = true;
      return d;
    }
    case Value::Kind::money: return v.money->to_string();
    case Value::Kind::list: return v.list;
  }
  return nullptr;
}

void collect_fields(const rules::Expr& e, std::set<std::string>& out) {
  if (e.kind == rules::Expr::Kind::field) out.insert(e.field);
  for (const auto& a : e.args) collect_fields(*a, out);
}

// An evidence entry, serialized once when the item is prepared: documents splice these texts in
// rather than copying JSON trees (see render()).
std::string evidence_entry(const ItemContext& item, const std::set<std::string>& fields) {
  json values = json::object();
  for (const auto& f : fields) values[f] = value_json(item.field(f));
  return json{{"source", item.item().source}, {"id", item.item().external_id}, {"values", values}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

// A pending entry: the evidence entry with its deadline first ("breach_at" sorts before "id").
std::string pending_entry(const ItemOutcome& o) {
  if (!o.due) return o.evidence;
  return "{\"breach_at\":\"" + core::format_rfc3339(*o.due) + "\"," + o.evidence.substr(1);
}

// Lists of evidence texts, spliced into the document where their placeholders stand.
struct Splices {
  std::vector<std::string> lists;
  // A placeholder string value, unique in the document; render() swaps it for lists[n].
  json add(std::string list) {
    lists.push_back(std::move(list));
    return "@" + std::to_string(lists.size() - 1);
  }
};

// A JSON array of already-serialized entries.
struct ArrayText {
  std::string text = "[";
  void add(const std::string& entry) {
    if (text.size() > 1) text += ',';
    text += entry;
  }
  std::string done() { return text + "]"; }
};

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

struct KpiOutcome {
  std::string status;
  std::optional<core::Ratio> weight;
};

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
    o.value = typed_for_measure(it.field(k.measure.of), measured_type(k), currency);
    if (k.measure.kind == MeasureKind::percentile && o.value.kind != Value::Kind::null && !o.value.running &&
        !value_holds(o.value, k.objective.target)) {
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

// Phase 2: a KPI or obligation over the prepared items, in their stable order.
// size: one pass per measure kind over shared counters; issue 20's typed evaluation rewrites its result, split it into measure steps with that.
json aggregate_kpi(const rules::Kpi& k, std::size_t r, const std::vector<const PreparedItem*>& items,
                   const PeriodWindow& period, bool open, KpiOutcome& outcome, Splices& splices, std::size_t limit) {
  json out{{"id", k.id}, {"description", k.description}, {"source", std::string(rules::to_string(k.source))},
           {"measure", std::string(rules::to_string(k.measure.kind))}, {"counted_by", k.counted_by},
           {"target", threshold_text(k.objective.target)}, {"min_sample", k.min_sample}};
  if (k.objective.warning) out["warning"] = threshold_text(*k.objective.warning);
  if (!k.where_text.empty()) out["where"] = k.where_text;
  if (!k.measure.condition_text.empty()) out["condition"] = k.measure.condition_text;
  if (k.weight) out["weight"] = rules::literal_text(*k.weight);

  std::int64_t undetermined_where = 0;
  for (const auto* it : items) undetermined_where += it->rules[r].where_unknown ? 1 : 0;
  if (undetermined_where) out["where_undetermined"] = undetermined_where;

  ArrayText evidence;
  std::size_t evidence_total = 0;
  auto add_evidence = [&](const std::string& e) {
    if (evidence_total++ < limit) evidence.add(e);
  };
  bool target_met = false;
  bool warning_met = true;
  std::int64_t sample = 0;

  if (k.measure.kind == MeasureKind::ratio) {
    std::int64_t good = 0, bad = 0, pending_due_in_period = 0, pending_total = 0;
    ArrayText pending;
    for (const auto* it : items) {
      const ItemOutcome& o = it->rules[r];
      if (!o.in) continue;
      if (o.truth == Truth::yes) {
        ++good;
      } else if (o.truth == Truth::no) {
        ++bad;
        add_evidence(o.evidence);
      } else {
        if (o.due && *o.due < period.end) ++pending_due_in_period;
        if (static_cast<std::size_t>(pending_total++) < limit) pending.add(pending_entry(o));
      }
    }
    const std::int64_t total = good + bad;
    sample = total;
    out["numerator"] = good;
    out["denominator"] = total;
    out["pending"] = splices.add(pending.done());
    if (static_cast<std::size_t>(pending_total) > limit) out["pending_truncated"] = pending_total;
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
    std::vector<std::pair<const Value*, const PreparedItem*>> values;
    std::int64_t missing = 0, running = 0, counted = 0;
    for (const auto* it : items) {
      const ItemOutcome& o = it->rules[r];
      if (!o.in) continue;
      ++counted;
      if (k.measure.kind == MeasureKind::count) continue;
      if (o.value.kind == Value::Kind::null) ++missing;
      else if (o.value.running) ++running;  // not final yet: left out of the value
      else values.push_back({&o.value, it});
    }
    sample = k.measure.kind == MeasureKind::count ? counted : static_cast<std::int64_t>(values.size());
    out["sample"] = sample;
    if (missing) out["missing_values"] = missing;
    if (running) out["running"] = running;
    Value result;
    bool have = !values.empty() || k.measure.kind == MeasureKind::count;
    if (k.measure.kind == MeasureKind::count) {
      result.kind = Value::Kind::number;
      result.number = sample * kNumberScale;
    } else if (have) {
      const rules::ValueType type = measured_type(k);
      const Value::Kind kind = type == rules::ValueType::duration ? Value::Kind::duration
                             : type == rules::ValueType::money    ? Value::Kind::money
                                                                  : Value::Kind::number;
      if (k.measure.kind == MeasureKind::percentile) {
        std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) { return value_less(*a.first, *b.first); });
        // Nearest rank: the smallest value with at least p% of the sample at or below it.
        const auto rank = static_cast<std::size_t>(
            core::divide_rounded(static_cast<core::Int128>(k.measure.percentile) * sample, 100, core::Rounding::up));
        result = *values[std::max<std::size_t>(rank, 1) - 1].first;
        out["method"] = "nearest rank";
      } else {
        result.kind = kind;
        core::Int128 sum = 0;
        for (const auto& [v, it] : values) {
          sum += kind == Value::Kind::duration ? v->duration.count()
               : kind == Value::Kind::money   ? v->money->minor_units()
                                              : v->number;
        }
        const core::Int128 agg = k.measure.kind == MeasureKind::sum
                                     ? sum
                                     : core::divide_rounded(sum, sample, core::Rounding::half_even);
        if (kind == Value::Kind::duration) result.duration = Millis(static_cast<std::int64_t>(agg));
        else if (kind == Value::Kind::money) result.money = core::Money(static_cast<std::int64_t>(agg), values.front().first->money->currency());
        else result.number = static_cast<std::int64_t>(agg);
      }
    }
    if (!have && k.measure.kind == MeasureKind::sum) {
      // A sum over no items is zero.
      have = true;
      const rules::ValueType type = measured_type(k);
      result.kind = type == rules::ValueType::money ? Value::Kind::money
                  : type == rules::ValueType::duration ? Value::Kind::duration
                                                       : Value::Kind::number;
      if (result.kind == Value::Kind::money) result.money = core::Money::zero(std::get<core::Money>(k.objective.target.value).currency());
    }
    if (have) {
      out["value"] = value_json(result);
      target_met = value_holds(result, k.objective.target);
      if (k.objective.warning) warning_met = value_holds(result, *k.objective.warning);
      // Evidence: the items whose own value misses the target, worst first (the slow tail of a
      // "<=" target, the low end of a ">=" one), ties in item order.
      if (k.measure.kind == MeasureKind::percentile) {
        const bool high_is_bad = k.objective.target.op == CompareOp::le || k.objective.target.op == CompareOp::lt;
        std::vector<std::pair<const Value*, const PreparedItem*>> missed;
        for (const auto& e : values) {
          if (!e.second->rules[r].evidence.empty()) missed.push_back(e);
        }
        if (high_is_bad) {
          // `values` is sorted ascending with ties in item order: reverse runs of equal values back.
          std::stable_sort(missed.begin(), missed.end(), [&](const auto& a, const auto& b) { return value_less(*b.first, *a.first); });
        }
        for (const auto& [v, it] : missed) add_evidence(it->rules[r].evidence);
      }
    } else {
      out["value"] = nullptr;
    }
    if (open && (k.measure.kind == MeasureKind::count || k.measure.kind == MeasureKind::sum)) {
      out["forecast"] = json{{"method", "no forecast for totals (they grow until the period ends)"}};
    }
  }

  const bool sums = k.measure.kind == MeasureKind::count || k.measure.kind == MeasureKind::sum;
  std::string status;
  if (sample < k.min_sample && !sums) {
    status = "insufficient_data";
  } else if (!target_met) {
    // A total still growing in an open period may yet reach a `>=`/`>` target; one already past a
    // `<=`/`<` target (or off an `==`/`!=` one) is breached as any other value.
    const bool can_grow_into = k.objective.target.op == CompareOp::ge || k.objective.target.op == CompareOp::gt;
    status = (open && sums && can_grow_into) ? "at_risk" : "breached";
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
  out["evidence"] = splices.add(evidence.done());
  if (evidence_total > limit) out["evidence_truncated"] = evidence_total;
  outcome = {status, k.weight};
  return out;
}

json aggregate_standard(const rules::BrandStandard& s, std::size_t r, const std::vector<const PreparedItem*>& items,
                        Splices& splices, std::size_t limit) {
  ArrayText violations;
  std::int64_t checked = 0, pending = 0, violated = 0;
  for (const auto* it : items) {
    const ItemOutcome& o = it->rules[r];
    if (!o.in) continue;
    if (o.truth == Truth::unknown) {
      ++pending;
      continue;
    }
    ++checked;
    if (o.truth == Truth::no) {
      if (static_cast<std::size_t>(violated++) < limit) violations.add(o.evidence);
    }
  }
  return json{{"id", s.id}, {"description", s.description}, {"rule", s.each_text},
              {"severity", std::string(rules::to_string(s.severity))}, {"checked", checked}, {"pending", pending},
              {"violations", violated}, {"evidence", splices.add(violations.done())}, {"status", violated ? "breached" : "met"}};
}

// Serializes a document whose evidence lists are placeholders. A placeholder is found as the text
// `":"@N"`; no string value can produce it, because quotes inside strings are always escaped.
std::string render(const json& skeleton, const Splices& splices) {
  const std::string text = skeleton.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  std::size_t total = text.size();
  for (const auto& l : splices.lists) total += l.size();
  out.reserve(total);
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = text.find("\":\"@", pos);
    if (hit == std::string::npos) break;
    const std::size_t digits = hit + 4;
    std::size_t end = digits;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == digits || end >= text.size() || text[end] != '"') {
      out.append(text, pos, digits - pos);
      pos = digits;
      continue;
    }
    out.append(text, pos, hit + 2 - pos);
    out += splices.lists.at(std::stoul(text.substr(digits, end - digits)));
    pos = end + 1;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

std::string item_hash(const core::Item& i) {
  json j{{"source", i.source}, {"id", i.external_id}, {"kind", i.kind}, {"status", i.status},
         {"priority", i.priority}, {"updated_at", core::to_unix_ms(i.updated_at)},
         {"created_at", i.created_at ? json(core::to_unix_ms(*i.created_at)) : json(nullptr)},
         {"first_reply_at", i.first_reply_at ? json(core::to_unix_ms(*i.first_reply_at)) : json(nullptr)},
         {"solved_at", i.solved_at ? json(core::to_unix_ms(*i.solved_at)) : json(nullptr)},
         {"amount_minor", i.amount_minor ? json(*i.amount_minor) : json(nullptr)}, {"currency", i.currency},
         {"payload", i.payload}};
  return core::sha256_hex(j.dump(-1, ' ', false, json::error_handler_t::replace));
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
  p.source = item.source;
  p.kind = item.kind;
  p.id = item.external_id;
  for (const auto& k : contract_->kpis) p.rules.push_back(kpi_outcome(k, plan_kpi(k), it, period_, as_of_, cur));
  for (const auto& o : contract_->obligations) p.rules.push_back(kpi_outcome(o, plan_kpi(o), it, period_, as_of_, cur));
  for (const auto& s : contract_->brand_standards) p.rules.push_back(standard_outcome(s, plan_standard(s), it, period_, as_of_));
  if (std::none_of(p.rules.begin(), p.rules.end(), [](const ItemOutcome& o) { return o.input; })) {
    items_.erase(key);  // counts for no rule in this period: not an input
    return;
  }
  p.hash = item_hash(item);
  p.problem = it.problem();
  items_[std::move(key)] = std::move(p);
}

void PeriodState::erase(const std::string& source, const std::string& kind, const std::string& external_id) {
  items_.erase(std::tuple(source, kind, external_id));
}

json PeriodState::evaluate() const { return json::parse(render_document().text); }

Rendered PeriodState::render_document() const {
  Splices splices;
  const auto& contract = *contract_;
  const auto& period = period_;
  std::vector<const PreparedItem*> items;
  items.reserve(items_.size());
  std::string hashes;
  hashes.reserve(items_.size() * 64);
  json problems = json::array();
  for (const auto& [key, p] : items_) {  // ordered by source, kind, then external id
    items.push_back(&p);
    hashes += p.hash;
    if (!p.problem.empty()) problems.push_back({{"source", p.source}, {"id", p.id}, {"problem", p.problem}});
  }
  const bool open = as_of_ < period.end;

  json doc;
  doc["engine_version"] = std::string(kEngineVersion);
  doc["contract"] = {{"id", contract.contract}, {"version", contract.version}, {"sha256", contract.sha256},
                     {"status", contract.enforced ? "enforced" : "draft"}, {"note", contract.status_note},
                     {"partner", contract.partner}, {"calendar", contract.calendar}, {"currency", contract.currency}};
  doc["period"] = {{"label", period.label}, {"start", core::format_rfc3339(period.start)},
                   {"end", core::format_rfc3339(period.end)}, {"open", open}};
  doc["as_of"] = core::format_rfc3339(as_of_);
  // The digest of the items that can count in the period: SHA-256 over their own SHA-256s.
  doc["input"] = {{"items", items.size()}, {"digest", core::sha256_hex(hashes)}, {"problems", problems}};

  json kpis = json::array();
  std::vector<KpiOutcome> outcomes;
  std::size_t r = 0;
  for (const auto& k : contract.kpis) {
    KpiOutcome o;
    kpis.push_back(aggregate_kpi(k, r++, items, period, open, o, splices, evidence_limit_));
    outcomes.push_back(o);
  }
  json obligations = json::array();
  for (const auto& o : contract.obligations) {
    KpiOutcome ignored;
    obligations.push_back(aggregate_kpi(o, r++, items, period, open, ignored, splices, evidence_limit_));
  }
  json standards = json::array();
  for (const auto& s : contract.brand_standards) standards.push_back(aggregate_standard(s, r++, items, splices, evidence_limit_));
  std::vector<core::WeightedStatus> weighted;
  for (const auto& o : outcomes) {
    if (!o.weight) continue;
    weighted.push_back({*o.weight, core::parse_rule_status(o.status).value_or(core::RuleStatus::breached)});
  }
  doc["kpis"] = kpis;
  doc["brand_standards"] = standards;
  doc["obligations"] = obligations;
  if (!weighted.empty()) {  // a score only when KPIs are weighted
    json score{{"method", "share of the weight of KPIs met (warning and at_risk count as met); KPIs with insufficient data are left out"}};
    if (const auto share = core::weighted_score(weighted)) {
      score["value"] = percent_text(share->numerator, share->denominator);
    } else {
      score["value"] = nullptr;
    }
    doc["score"] = score;
  }
  Rendered out;
  out.text = render(doc, splices);
  out.skeleton = std::move(doc);
  return out;
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

json evaluate_contract(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                       std::span<const core::Item> all_items, const PeriodWindow& period, core::Instant as_of,
                       std::size_t evidence_limit) {
  PeriodState state(contract, cal, period, as_of);
  state.set_evidence_limit(evidence_limit);
  for (const auto& i : all_items) state.upsert(i);
  return state.evaluate();
}

}  // namespace pactwatch::engine
