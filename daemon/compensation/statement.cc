#include "pactwatch/compensation/statement.h"

#include <date/tz.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <set>
#include <variant>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/status.h"
#include "pactwatch/engine/item_values.h"
#include "derivation.h"

namespace pactwatch::compensation {

namespace {

using core::Int128;
using core::Money;
using core::Ratio;
using nlohmann::json;

using namespace derivation;

struct Builder {
  const StatementInput& in;
  const rules::CompensationScheme& scheme;
  core::Currency currency;
  std::vector<Line> lines;

  Money zero() const { return Money::zero(currency); }

  // amount × ratio, rounded by the contract's mode; the derivation names the rounding.
  Money times(const Money& m, const Ratio& r, json& derivation) const {
    const Money out = m.multiply(r, scheme.rounding);
    const std::string x = exact(m, r);
    if (x.find("…") != std::string::npos || x != out.to_decimal()) {
      derivation["exact"] = x;
      derivation["rounding"] = std::string(core::to_string(scheme.rounding));
    }
    return out;
  }

  Tape tape() const { return Tape(currency, scheme.rounding); }

  void add(std::string kind, std::string description, Money amount, json derivation,
           std::optional<std::string> kpi = std::nullopt) {
    lines.push_back({std::move(kind), std::move(description), amount, std::move(derivation), std::move(kpi)});
  }
  // A line whose amount is the tape's last result; its steps go into the derivation.
  void add(std::string kind, std::string description, const Tape& t, json derivation,
           std::optional<std::string> kpi = std::nullopt) {
    derivation["steps"] = t.steps();
    add(std::move(kind), std::move(description), t.last(), std::move(derivation), std::move(kpi));
  }
  // The same, for an amount computed beside its steps: they must agree (else an engine bug).
  void add(std::string kind, std::string description, const Money& amount, const Tape& t, json derivation,
           std::optional<std::string> kpi = std::nullopt) {
    if (t.last() != amount) throw core::MoneyError("the steps of a " + kind + " line disagree with its amount");
    add(std::move(kind), std::move(description), t, std::move(derivation), std::move(kpi));
  }

  const RuleResult* kpi(const std::string& id) const {
    for (const auto& k : in.results.kpis) {
      if (k.id == id) return &k;
    }
    return nullptr;
  }

  Money sum_of(std::initializer_list<std::string_view> kinds) const {
    Money s = zero();
    for (const auto& l : lines) {
      if (std::find(kinds.begin(), kinds.end(), l.kind) != kinds.end()) s += l.amount;
    }
    return s;
  }
};

std::optional<core::Instant> payload_instant(const json& p, const char* key) {
  if (!p.is_object() || !p.contains(key) || !p[key].is_string()) return std::nullopt;
  auto t = core::parse_rfc3339(p[key].get<std::string>());
  if (!t) return std::nullopt;
  return *t;
}

calendar::LocalDate local_date(const std::string& zone, core::Instant t) {
  const auto* z = date::locate_zone(zone);
  const auto local = z->to_local(date::sys_seconds(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch()));
  return calendar::LocalDate(std::chrono::floor<std::chrono::days>(local.time_since_epoch()));
}

// The deals of a period for a deal share: counted by their close (or registration) inside the
// window and no later than as_of, meeting `where`, in the contract's currency.
struct CountedDeal {
  const core::Item* item;
  Money amount;
  core::Instant at;
};

std::vector<CountedDeal> counted_deals(const StatementInput& in, const rules::DealShare& share, core::Currency currency,
                                       const engine::PeriodWindow& window, core::Instant as_of, json& skipped) {
  std::vector<CountedDeal> out;
  const char* key = share.counted_by == "registered" ? "registered_at" : "closed_at";
  for (const auto& d : in.deals) {
    if (d.kind != "deals" || !d.partner_id || *d.partner_id != in.contract->partner) continue;
    const json p = json::parse(d.payload, nullptr, false);
    const auto at = payload_instant(p, key);
    if (!at || *at < window.start || *at >= window.end || *at > as_of) continue;
    if (share.where) {
      const engine::ItemContext ctx(d, *in.contract, *in.calendar, as_of);
      if (engine::evaluate(*share.where, ctx) != engine::Truth::yes) continue;
    }
    if (!d.amount_minor || d.currency != currency.code()) {
      skipped.push_back({{"id", d.external_id}, {"source", d.source},
                         {"problem", d.amount_minor ? "amount in " + d.currency + ", not " + std::string(currency.code())
                                                    : std::string("no amount")}});
      continue;
    }
    out.push_back({&d, Money(*d.amount_minor, currency), *at});
  }
  std::sort(out.begin(), out.end(), [](const CountedDeal& a, const CountedDeal& b) {
    return std::tie(a.item->source, a.item->external_id) < std::tie(b.item->source, b.item->external_id);
  });
  return out;
}

// Commission on a volume: the flat rate, or each volume tier's rate on the part inside it. The
// steps go on the tape: the volume as the sum of the deals, then each tier's part.
Money commission(const rules::DealShare& share, const std::vector<CountedDeal>& deals, const Money& volume, Builder& b,
                 json& derivation, Tape& t) {
  std::vector<Tape::Ref> amounts;
  for (const auto& d : deals) amounts.emplace_back(d.amount);
  const int v = t.sum(amounts, "the volume: the amounts of the deals counted");
  if (share.tiers.empty()) {
    derivation["formula"] = volume.to_decimal() + " × " + pct(share.rate);
    t.multiply(v, share.rate, "the commission at the flat rate");
    return b.times(volume, share.rate, derivation);
  }
  Money total = b.zero();
  json parts = json::array();
  std::vector<Tape::Ref> part_steps;
  for (std::size_t i = 0; i < share.tiers.size(); ++i) {
    const auto& tier = share.tiers[i];
    if (!(tier.from < volume)) break;
    const bool inside_next = i + 1 < share.tiers.size() && share.tiers[i + 1].from < volume;
    const Money upper = inside_next ? share.tiers[i + 1].from : volume;
    const Money inside = upper - tier.from;
    json part{{"from", tier.from.to_decimal()}, {"volume_in_tier", inside.to_decimal()}, {"rate", pct(tier.rate)}};
    const Money amount = b.times(inside, tier.rate, part);
    part["amount"] = amount.to_decimal();
    parts.push_back(std::move(part));
    total += amount;
    const std::string name = "tier " + std::to_string(i + 1) + " (from " + tier.from.to_decimal() + ")";
    const int in_tier = t.subtract(inside_next ? Tape::Ref(upper) : Tape::Ref(v), tier.from, "the volume inside " + name);
    part_steps.emplace_back(t.multiply(in_tier, tier.rate, "the commission of " + name));
  }
  t.sum(part_steps, "the commission: the sum over the tiers");
  derivation["tiers"] = parts;
  derivation["formula"] = "the sum over volume tiers of the volume inside the tier × its rate";
  return total;
}

// The marginal tier rate a volume ends in (for clawbacks under volume tiers).
Ratio marginal_rate(const rules::DealShare& share, const Money& volume) {
  if (share.tiers.empty()) return share.rate;
  Ratio r = share.tiers.front().rate;
  for (const auto& t : share.tiers) {
    if (t.from < volume) r = t.rate;
  }
  return r;
}

Ratio score_of(const PeriodResults& r, json& derivation) {
  std::vector<core::WeightedStatus> weighted;
  json parts = json::array();
  for (const auto& k : r.kpis) {
    if (!k.weight) continue;
    parts.push_back({{"kpi", k.id}, {"weight", text(*k.weight)}, {"status", std::string(core::to_string(k.status))}});
    weighted.push_back({*k.weight, k.status});
  }
  derivation["weights"] = parts;
  derivation["score_rule"] = "weight of KPIs met (warning and at_risk count as met) / weight of KPIs with enough data";
  return core::weighted_score(weighted).value_or(Ratio{0, 0});
}

void add_bonus(Builder& b, const rules::Bonus& bonus) {
  json d;
  Ratio value{0, 0};
  std::string on_text;
  if (bonus.on == "score") {
    value = score_of(b.in.results, d);
    on_text = "weighted score";
  } else {
    const RuleResult* k = b.kpi(bonus.on);
    on_text = "KPI " + bonus.on;
    if (k && k->share && k->status != core::RuleStatus::insufficient_data) value = *k->share;
    d["kpi"] = bonus.on;
    if (k) d["status"] = std::string(core::to_string(k->status));
  }
  if (value.denominator == 0) {
    d["outcome"] = "no bonus: the " + on_text + " has no value this period (not enough data)";
    Tape t = b.tape();
    t.given(b.zero(), "no bonus: the " + on_text + " has no value this period");
    b.add("bonus", "Bonus on the " + on_text + ": no value this period (not enough data)", t, d);
    return;
  }
  d["value"] = percent(value);
  if (bonus.mode == rules::Bonus::Mode::highest) {
    const rules::BonusTier* reached = nullptr;
    for (const auto& t : bonus.tiers) {
      if (holds(value, t.at)) reached = &t;
    }
    json tiers = json::array();
    for (const auto& t : bonus.tiers) tiers.push_back({{"at", std::string(rules::to_string(t.at.op)) + " " + percent(std::get<Ratio>(t.at.value))}, {"pays", t.pays->to_decimal()}});
    d["tiers"] = tiers;
    d["mode"] = "highest tier reached";
    Tape t = b.tape();
    if (!reached) {
      d["outcome"] = "no tier reached";
      t.given(b.zero(), "no tier reached at " + percent(value));
      b.add("bonus", "Bonus on the " + on_text + ": no tier reached", t, d);
    } else {
      d["tier"] = std::string(rules::to_string(reached->at.op)) + " " + percent(std::get<Ratio>(reached->at.value));
      t.given(*reached->pays, "what tier " + d["tier"].get<std::string>() + " pays, the highest reached at " + percent(value));
      b.add("bonus", "Bonus on the " + on_text + " (" + percent(value) + "), tier " + d["tier"].get<std::string>(), t, d);
    }
    return;
  }
  // Marginal: per percentage point inside each tier.
  d["mode"] = "marginal: a rate per percentage point inside each tier";
  bool any = false;
  for (std::size_t i = 0; i < bonus.tiers.size(); ++i) {
    const auto& t = bonus.tiers[i];
    if (compare(value, t.from) <= 0) break;
    const Ratio upper = i + 1 < bonus.tiers.size() && compare(bonus.tiers[i + 1].from, value) < 0 ? bonus.tiers[i + 1].from : value;
    // Points = (upper - from) × 100, exactly.
    const Int128 num = (static_cast<Int128>(upper.numerator) * t.from.denominator -
                        static_cast<Int128>(t.from.numerator) * upper.denominator) * 100;
    const Int128 den = static_cast<Int128>(upper.denominator) * t.from.denominator;
    const Int128 g = gcd128(num, den);
    const Ratio points{static_cast<std::int64_t>(num / g), static_cast<std::int64_t>(den / g)};
    json part = d;
    part["tier_from"] = percent(t.from);
    part["points_in_tier"] = text(points);
    part["per_point"] = t.per_point->to_decimal();
    part["formula"] = t.per_point->to_decimal() + " × " + text(points) + " points";
    const Money amount = b.times(*t.per_point, points, part);
    Tape tape = b.tape();
    const int per_point = tape.given(*t.per_point, "the pay per percentage point of the tier from " + percent(t.from));
    tape.multiply(per_point, points, "times the points of the " + on_text + " inside the tier");
    if (tape.last() != amount) throw core::MoneyError("bonus steps disagree with the amount");  // an engine bug
    b.add("bonus", "Bonus on the " + on_text + " (" + percent(value) + "), tier from " + percent(t.from), tape, part);
    any = true;
  }
  if (!any) {
    d["outcome"] = "below the first tier";
    Tape tape = b.tape();
    tape.given(b.zero(), "below the first tier at " + percent(value));
    b.add("bonus", "Bonus on the " + on_text + ": below the first tier", tape, d);
  }
}

Money base_amount(Builder& b, const rules::CompensationScheme& s) {
  Money base = b.zero();
  const auto& in = b.in;
  if (s.base.fixed) {
    json d{{"per_period", s.base.fixed->to_decimal()}};
    Money amount = *s.base.fixed;
    std::string description = "Base fee";
    if (s.base.prorate) {
      const std::string& tz = in.calendar->timezone();
      const auto first = local_date(tz, in.period.start);
      const auto last = local_date(tz, in.period.end - std::chrono::milliseconds(1));
      const auto from = std::max(first, in.contract->effective_from);
      const auto until = in.contract->effective_until ? std::min(last, *in.contract->effective_until) : last;
      const std::int64_t total_days = (last - first).count() + 1;
      const std::int64_t days = until < from ? 0 : (until - from).count() + 1;
      if (days != total_days) {
        d["days_in_effect"] = days;
        d["days_in_period"] = total_days;
        d["formula"] = s.base.fixed->to_decimal() + " × " + std::to_string(days) + "/" + std::to_string(total_days) + " days";
        amount = b.times(*s.base.fixed, Ratio{days, total_days}, d);
        description = "Base fee, prorated (" + std::to_string(days) + " of " + std::to_string(total_days) + " days in effect)";
      }
    }
    Tape t = b.tape();
    const int fee = t.given(*s.base.fixed, "the fixed fee per period");
    if (d.contains("days_in_effect")) t.multiply(fee, Ratio{d["days_in_effect"].get<std::int64_t>(), d["days_in_period"].get<std::int64_t>()},
                                                 "prorated: the days in effect over the days of the period");
    b.add("base", description, amount, t, d);
    base += amount;
  }
  if (s.base.deal_share) {
    const auto& share = *s.base.deal_share;
    json skipped = json::array();
    const auto deals = counted_deals(in, share, b.currency, in.period, in.as_of, skipped);
    Money volume = b.zero();
    json ids = json::array();
    for (const auto& d : deals) {
      volume += d.amount;
      ids.push_back({{"id", d.item->external_id}, {"amount", d.amount.to_decimal()}});
    }
    json d{{"deals", ids}, {"volume", volume.to_decimal()}, {"counted_by", share.counted_by}};
    if (!share.where_text.empty()) d["where"] = share.where_text;
    if (!skipped.empty()) d["skipped"] = skipped;
    Tape t = b.tape();
    const Money amount = commission(share, deals, volume, b, d, t);
    b.add("commission", "Commission on " + std::to_string(deals.size()) + " deals (volume " + volume.to_decimal() + ")",
          amount, t, d);
    base += amount;
  }
  return base;
}

void add_credits(Builder& b, const rules::ServiceCredits& sc, const Money& base) {
  json common;
  Money at_risk = b.zero();
  if (sc.at_risk_share) {
    common["at_risk"] = pct(*sc.at_risk_share) + " of the base " + base.to_decimal();
    at_risk = b.times(base, *sc.at_risk_share, common);
  } else if (sc.at_risk_amount) {
    at_risk = *sc.at_risk_amount;
  }
  common["at_risk_amount"] = at_risk.to_decimal();
  // Each credit's steps start from the at-risk amount.
  auto start = [&](Tape& t) {
    if (sc.at_risk_share) {
      const int s0 = t.given(base, "the period's base (its base and commission lines)");
      return t.multiply(s0, *sc.at_risk_share, "the at-risk amount: " + pct(*sc.at_risk_share) + " of the base");
    }
    return t.given(at_risk, "the at-risk amount written in the contract");
  };
  struct Missed {
    const rules::ServiceCredits::Allocation* a;
    Money raw;
    json d;
    Tape t;
    int at_risk_step;
    int raw_step;
  };
  std::vector<Missed> missed;
  Money raw_total = b.zero();
  for (const auto& a : sc.allocations) {
    const RuleResult* k = b.kpi(a.kpi);
    if (!k || k->status != core::RuleStatus::breached) continue;
    json d = common;
    d["kpi"] = a.kpi;
    d["allocation"] = pct(a.share);
    d["formula"] = at_risk.to_decimal() + " × " + pct(a.share);
    const Money raw = b.times(at_risk, a.share, d);
    raw_total += raw;
    Tape t = b.tape();
    const int ar = start(t);
    const int r = t.multiply(ar, a.share, "the credit for KPI " + a.kpi + ": its allocation of the at-risk amount");
    missed.push_back({&a, raw, std::move(d), std::move(t), ar, r});
  }
  if (missed.empty()) return;
  std::vector<Money> amounts;
  for (const auto& m : missed) amounts.push_back(m.raw);
  if (at_risk < raw_total) {
    // Capped at the at-risk amount: split it across the missed KPIs in proportion to their
    // credits, by largest remainder (the parts sum exactly to the cap).
    std::vector<std::int64_t> weights;
    for (const auto& m : missed) weights.push_back(m.raw.minor_units());
    amounts = at_risk.allocate(weights);
    for (std::size_t i = 0; i < missed.size(); ++i) {
      missed[i].d["capped"] = "credits of " + raw_total.to_decimal() + " exceed the at-risk amount " + at_risk.to_decimal() +
                              "; the cap is split in proportion to the credits (largest remainder)";
      missed[i].d["uncapped"] = missed[i].raw.to_decimal();
      std::vector<Tape::Ref> all;
      std::vector<Money> raws;
      for (const auto& m : missed) {
        all.emplace_back(m.raw);
        raws.push_back(m.raw);
      }
      all[i] = missed[i].raw_step;
      auto& t = missed[i].t;
      t.sum(all, "the credits of every KPI missed, past the at-risk amount: the cap applies");
      t.allocate(missed[i].at_risk_step, raws, i,
                 "capped: the at-risk amount split in proportion to the credits by largest remainder, this KPI's part");
    }
  }
  for (std::size_t i = 0; i < missed.size(); ++i) {
    auto& t = missed[i].t;
    t.negate(static_cast<int>(t.steps().size()), "a service credit is taken from the partner's pay");
    b.add("credit", "Service credit: KPI " + missed[i].a->kpi + " breached", -amounts[i], t, std::move(missed[i].d),
          missed[i].a->kpi);
  }
}

void add_bands(Builder& b, const rules::CreditBands& cb, const Money& base) {
  const RuleResult* k = b.kpi(cb.kpi);
  if (!k || !k->share || k->status == core::RuleStatus::insufficient_data) return;
  const rules::CreditBands::Band* band = nullptr;
  for (const auto& x : cb.bands) {
    if (compare(*k->share, x.below) < 0) band = &x;
  }
  if (!band) return;
  json d{{"kpi", cb.kpi}, {"value", percent(*k->share)}, {"band", "below " + percent(band->below)},
         {"credit", pct(band->credit)}, {"formula", base.to_decimal() + " × " + pct(band->credit)}};
  const Money amount = b.times(base, band->credit, d);
  Tape t = b.tape();
  const int s0 = t.given(base, "the period's base (its base and commission lines)");
  const int s1 = t.multiply(s0, band->credit, "the credit of the band below " + percent(band->below) + ", the lowest bound " +
                                                  percent(*k->share) + " is under");
  t.negate(s1, "a service credit is taken from the partner's pay");
  b.add("credit_band", "Service credit: KPI " + cb.kpi + " at " + percent(*k->share) + " is below " + percent(band->below),
        -amount, t, d, cb.kpi);
}

int severity_rank(const std::string& s) { return s == "critical" ? 3 : s == "major" ? 2 : s == "minor" ? 1 : 0; }

void add_gates(Builder& b, const rules::CompensationScheme& s) {
  std::set<std::string> voided;
  for (const auto& g : s.gates) {
    if (voided.contains(g.voids)) continue;
    std::vector<std::string> breached;
    std::int64_t violations = 0;
    for (const auto& st : b.in.results.standards) {
      const bool applies = g.standard ? st.id == *g.standard : severity_rank(st.severity) >= severity_rank(*g.severity);
      if (applies && st.violations > 0) {
        breached.push_back(st.id);
        violations += st.violations;
      }
    }
    if (breached.empty()) continue;
    const std::string_view kind = g.voids == "base" ? "base" : g.voids == "earn_back" ? "earn_back" : "bonus";
    const Money part = g.voids == "base" ? b.sum_of({"base", "commission"}) : b.sum_of({kind});
    if (part.is_zero()) continue;  // nothing to void (a later gate on the same part may still apply)
    json d{{"standards", breached}, {"violations", violations}, {"voids", g.voids},
           {"rule", g.standard ? "standard " + *g.standard : "any standard of severity " + *g.severity + " or worse"}};
    voided.insert(g.voids);
    Tape t = b.tape();
    std::vector<Tape::Ref> parts;
    for (const auto& l : b.lines) {
      if (g.voids == "base" ? (l.kind == "base" || l.kind == "commission") : l.kind == kind) parts.emplace_back(l.amount);
    }
    const int s0 = t.sum(parts, "the voided part: the statement's " + (g.voids == "base" ? std::string("base and commission") : g.voids) +
                                    " lines");
    t.negate(s0, "taken back by the gate");
    b.add("gate", "Gate: " + std::to_string(violations) + " violation(s) of " + breached.front() +
                      (breached.size() > 1 ? " and others" : "") + " void the " + g.voids,
          -part, t, d);
  }
}

void add_clawbacks(Builder& b, const rules::CompensationScheme& s) {
  const auto& share = *s.base.deal_share;
  const auto& in = b.in;
  for (const auto& d : in.deals) {
    if (d.kind != "deals" || !d.partner_id || *d.partner_id != in.contract->partner) continue;
    const json p = json::parse(d.payload, nullptr, false);
    const auto refunded = payload_instant(p, "refunded_at");
    if (!refunded || *refunded < in.period.start || *refunded >= in.period.end || *refunded > in.as_of) continue;
    const auto closed = payload_instant(p, share.counted_by == "registered" ? "registered_at" : "closed_at");
    if (!closed || *refunded < *closed || *refunded - *closed > *s.clawback_within) continue;
    // The deal must have earned commission in the period it closed in.
    auto window = engine::period_containing(*in.contract, *in.calendar, *closed);
    if (!window) continue;
    json skipped = json::array();
    const auto deals = counted_deals(in, share, b.currency, *window, window->end, skipped);
    const auto it = std::find_if(deals.begin(), deals.end(), [&](const CountedDeal& c) { return c.item == &d; });
    if (it == deals.end()) continue;
    Money volume = b.zero();
    for (const auto& c : deals) volume += c.amount;
    const Ratio rate = marginal_rate(share, volume);
    json der{{"deal", d.external_id}, {"source", d.source}, {"amount", it->amount.to_decimal()},
             {"closed_at", core::format_rfc3339(*closed)}, {"refunded_at", core::format_rfc3339(*refunded)},
             {"within", core::format_duration(*s.clawback_within)}, {"original_period", window->label},
             {"rate", pct(rate)}, {"formula", it->amount.to_decimal() + " × " + pct(rate)}};
    const Money amount = b.times(it->amount, rate, der);
    Tape t = b.tape();
    const int s0 = t.given(it->amount, "the amount of deal " + d.external_id);
    const int s1 = t.multiply(s0, rate, "its commission at the marginal rate " + window->label + "'s volume reached");
    t.negate(s1, "reversed: the deal was refunded within " + core::format_duration(*s.clawback_within));
    b.add("clawback", "Clawback: deal " + d.external_id + " (closed in " + window->label + ") refunded within " +
                          core::format_duration(*s.clawback_within),
          -amount, t, der);
  }
}

json line_json(const Line& l) {
  json j{{"kind", l.kind}, {"description", l.description}, {"amount", l.amount.to_decimal()}, {"derivation", l.derivation}};
  if (l.kpi) j["kpi"] = *l.kpi;
  return j;
}

}  // namespace

PeriodResults results_from_evaluation(const engine::Evaluation& e) {
  PeriodResults r;
  r.input_digest = e.input_digest;
  auto rule = [](const engine::KpiResult& k) { return RuleResult{k.id, k.status, k.share(), k.weight}; };
  for (const auto& k : e.kpis) r.kpis.push_back(rule(k));
  for (const auto& k : e.obligations) r.obligations.push_back(rule(k));
  for (const auto& s : e.brand_standards) {
    r.standards.push_back({s.id, std::string(rules::to_string(s.severity)), s.violations.total});
  }
  return r;
}

std::expected<void, std::string> apply_what_if(PeriodResults& results, const rules::ContractVersion& contract,
                                               const std::map<std::string, std::string>& values) {
  for (const auto& [id, value] : values) {
    const rules::Kpi* kpi = nullptr;
    for (const auto& k : contract.kpis) {
      if (k.id == id) kpi = &k;
    }
    if (!kpi) {
      std::string ids;
      for (const auto& k : contract.kpis) ids += (ids.empty() ? "" : ", ") + k.id;
      return std::unexpected("no KPI '" + id + "' in " + contract.contract + " v" + std::to_string(contract.version) + " (KPIs: " + ids + ")");
    }
    auto target = std::find_if(results.kpis.begin(), results.kpis.end(), [&](const RuleResult& r) { return r.id == id; });
    if (target == results.kpis.end()) return std::unexpected("the evaluation has no result for KPI '" + id + "'");
    auto threshold = rules::parse_threshold(">= " + value);
    if (!threshold) return std::unexpected(id + "=" + value + ": " + threshold.error().message);
    const auto expected_type = kpi->measure.kind == rules::MeasureKind::ratio ? rules::ValueType::number : kpi->measure.type;
    if (threshold->type != expected_type && !(expected_type == rules::ValueType::dynamic && threshold->type == rules::ValueType::number)) {
      return std::unexpected(id + "=" + value + ": the KPI measures a " + std::string(rules::to_string(expected_type)));
    }
    auto meets = [&](const rules::Threshold& t) {
      switch (threshold->value.index()) {
        case 2: return engine::holds(compare(std::get<Ratio>(threshold->value), std::get<Ratio>(t.value)), t.op);
        case 3:
          return engine::holds(engine::three_way(std::get<core::Duration>(threshold->value), std::get<core::Duration>(t.value)), t.op);
        case 4:
          return engine::holds(engine::three_way(std::get<Money>(threshold->value).minor_units(), std::get<Money>(t.value).minor_units()),
                               t.op);
        default: return false;
      }
    };
    if (kpi->measure.kind == rules::MeasureKind::ratio) target->share = std::get<Ratio>(threshold->value);
    target->status = !meets(kpi->objective.target) ? core::RuleStatus::breached
                     : (kpi->objective.warning && !meets(*kpi->objective.warning)) ? core::RuleStatus::warning
                                                                                     : core::RuleStatus::met;
  }
  return {};
}

namespace {

// The sum of the statement's lines so far, as a step on the tape.
int lines_so_far(const Builder& b, Tape& t, std::string what) {
  std::vector<Tape::Ref> amounts;
  for (const auto& l : b.lines) amounts.emplace_back(l.amount);
  return t.sum(amounts, std::move(what));
}

// Earn-back of earlier credits for KPIs met in every period since.
void add_earn_backs(Builder& b, const StatementInput& in, const rules::CompensationScheme& scheme) {
  for (const auto& pc : in.earn_back) {
    json d{{"credit_period", pc.period}, {"kpi", pc.kpi}, {"credit", pc.amount.to_decimal()},
           {"after", scheme.credits ? scheme.credits->earn_back_after : 0}};
    if (pc.met_since) {
      Tape t = b.tape();
      t.given(pc.amount, "the credit taken in " + pc.period + " for KPI " + pc.kpi + ", returned");
      b.add("earn_back", "Earn-back of the " + pc.period + " credit for KPI " + pc.kpi + " (met in every period since)", t, d, pc.kpi);
    }
  }
}

// What the contract pays the partner when the brand breaches an obligation.
void add_reciprocity(Builder& b, const StatementInput& in, const rules::CompensationScheme& scheme) {
  for (const auto& r : scheme.reciprocity) {
    for (const auto& o : in.results.obligations) {
      if (o.id != r.obligation || o.status != core::RuleStatus::breached) continue;
      Tape t = b.tape();
      t.given(r.pays, "what the contract pays the partner when the brand breaches " + o.id);
      b.add("reciprocity", "Credit to the partner: the brand breached its obligation " + o.id, t,
            json{{"obligation", o.id}, {"status", std::string(core::to_string(o.status))}, {"pays", r.pays.to_decimal()}});
    }
  }
}

// Cap and floor apply to the period's own lines; the period's own amount after them.
Money apply_cap_and_floor(Builder& b, const rules::CompensationScheme& scheme) {
  Money own = b.zero();
  for (const auto& l : b.lines) own += l.amount;
  if (scheme.cap && *scheme.cap < own) {
    const Money cut = own - *scheme.cap;
    Tape t = b.tape();
    const int before = lines_so_far(b, t, "the period's own lines before the cap");
    const int cap = t.given(*scheme.cap, "the cap");
    t.subtract(cap, before, "what the cap takes off: the cap less the lines");
    b.add("cap", "Cap on the period's total (" + scheme.cap->to_decimal() + ")", -cut, t,
          json{{"before", own.to_decimal()}, {"cap", scheme.cap->to_decimal()}});
    own = *scheme.cap;
  }
  if (scheme.floor && own < *scheme.floor) {
    const Money lift = *scheme.floor - own;
    Tape t = b.tape();
    const int before = lines_so_far(b, t, "the period's own lines before the floor");
    const int floor = t.given(*scheme.floor, "the floor");
    t.subtract(floor, before, "what the floor adds: the floor less the lines");
    b.add("floor", "Floor on the period's total (" + scheme.floor->to_decimal() + ")", lift, t,
          json{{"before", own.to_decimal()}, {"floor", scheme.floor->to_decimal()}});
    own = *scheme.floor;
  }
  return own;
}

// Adjustments for closed periods and the amount carried in: added to `subtotal`.
void add_adjustments(Builder& b, const StatementInput& in, Money& subtotal) {
  for (const auto& a : in.adjustments) {
    Tape t = b.tape();
    if (a.now_own && a.closed_own) {
      const int now = t.given(*a.now_own, a.period + "'s own amount as it computes now");
      const int closed = t.given(*a.closed_own, a.period + "'s own amount in its closed statement");
      int diff = t.subtract(now, closed, "the difference");
      if (a.prior && !a.prior->is_zero()) {
        const int prior = t.given(*a.prior, "adjustments for " + a.period + " in the closed statements since");
        diff = t.subtract(diff, prior, "less what was adjusted already");
      }
    } else {
      t.given(a.amount, "the difference for " + a.period);
    }
    b.add("adjustment", "Adjustment for " + a.period + " (closed): " + a.explanation, a.amount, t,
          json{{"closed_period", a.period}, {"version", a.version}, {"explanation", a.explanation}});
    subtotal += a.amount;
  }
  if (in.carry_in && !in.carry_in->is_zero()) {
    Tape t = b.tape();
    t.given(*in.carry_in, "carried forward out of " + in.carry_in_from + " (its closed statement)");
    b.add("carry_forward_in", "Carried forward from " + in.carry_in_from + " (below the minimum payout)", t,
          json{{"from_period", in.carry_in_from}});
    subtotal += *in.carry_in;
  }
}

// A payable total below the minimum payout is carried forward: the amount carried out.
Money add_carry_forward(Builder& b, const rules::CompensationScheme& scheme, Money& subtotal) {
  Money carry_out = b.zero();
  if (scheme.minimum_payout && subtotal.is_negative() == false && !subtotal.is_zero() && subtotal < *scheme.minimum_payout) {
    carry_out = subtotal;
    Tape t = b.tape();
    const int payable = lines_so_far(b, t, "the payable total so far, below the minimum payout of " + scheme.minimum_payout->to_decimal());
    t.negate(payable, "carried forward to the next period instead of paid");
    b.add("carry_forward", "Below the minimum payout of " + scheme.minimum_payout->to_decimal() + ": carried forward", -subtotal, t,
          json{{"minimum_payout", scheme.minimum_payout->to_decimal()}, {"amount", subtotal.to_decimal()}});
    subtotal = b.zero();
  }
  return carry_out;
}

// The statement's document: its lines (checked to sum to the total), the KPI statuses and every
// input it read.
json statement_document(const Statement& s, const StatementInput& in, const rules::CompensationScheme& scheme,
                        core::Currency currency) {
  const auto& c = *in.contract;
  json lines = json::array();
  Money check = Money::zero(currency);
  for (const auto& l : s.lines) {
    lines.push_back(line_json(l));
    check += l.amount;
  }
  if (check != s.total) throw core::MoneyError("statement lines do not sum to the total");  // an engine bug, never data
  json kpis = json::object();
  for (const auto& k : in.results.kpis) kpis[k.id] = std::string(core::to_string(k.status));
  // Every input the statement read: its own period's items and those of other periods.
  json inputs = json::array({{{"period", in.period.label}, {"role", "own"}, {"digest", in.results.input_digest}}});
  for (const auto& r : in.inputs_read) {
    inputs.push_back({{r.role == "calendar" ? "calendar" : "period", r.period}, {"role", r.role}, {"digest", r.digest}});
  }
  return json{{"engine_version", std::string(kEngineVersion)},
                    {"contract", {{"id", c.contract}, {"version", c.version}, {"sha256", c.sha256},
                                  {"status", c.enforced ? "enforced" : "draft"}, {"partner", c.partner}}},
                    {"period", {{"label", in.period.label}, {"start", core::format_rfc3339(in.period.start)},
                                {"end", core::format_rfc3339(in.period.end)}}},
                    {"as_of", core::format_rfc3339(in.as_of)},
                    {"status", in.status},
                    {"currency", std::string(currency.code())},
                    {"rounding", std::string(core::to_string(scheme.rounding))},
                    {"input_digest", in.results.input_digest},
                    {"inputs", inputs},
                    {"lines", lines},
                    {"own", s.own.to_decimal()},
                    {"carry_forward_out", s.carry_out.to_decimal()},
                    {"total", s.total.to_decimal()},
                    {"kpis", kpis}};
}

}  // namespace

Statement compute_statement(const StatementInput& in) {
  const auto& c = *in.contract;
  const auto currency = *core::Currency::from_code(c.currency);
  static const rules::CompensationScheme kNone{};
  const auto& scheme = c.compensation ? *c.compensation : kNone;
  Builder b{in, scheme, currency, {}};

  const Money base = base_amount(b, scheme);
  if (scheme.bonus) add_bonus(b, *scheme.bonus);
  if (scheme.credits) add_credits(b, *scheme.credits, base);
  if (scheme.credit_bands) add_bands(b, *scheme.credit_bands, base);
  add_earn_backs(b, in, scheme);
  add_reciprocity(b, in, scheme);
  add_gates(b, scheme);
  if (scheme.clawback_within && scheme.base.deal_share) add_clawbacks(b, scheme);

  const Money own = apply_cap_and_floor(b, scheme);
  Money subtotal = own;
  add_adjustments(b, in, subtotal);
  const Money carry_out = add_carry_forward(b, scheme, subtotal);

  Statement s{c.contract, c.version, c.partner, in.period.label, in.status, currency, std::move(b.lines), own,
              subtotal, carry_out, json{}};
  s.document = statement_document(s, in, scheme, currency);
  return s;
}

std::vector<PriorCredit> credits_of(const json& doc) {
  std::vector<PriorCredit> out;
  const auto currency = core::Currency::from_code(doc.at("currency").get<std::string>());
  if (!currency) return out;
  for (const auto& l : doc.at("lines")) {
    const auto kind = l.at("kind").get<std::string>();
    if ((kind != "credit" && kind != "credit_band") || !l.contains("kpi")) continue;
    auto m = Money::parse(l.at("amount").get<std::string>(), *currency);
    if (!m) continue;
    out.push_back({doc.at("period").at("label").get<std::string>(), l["kpi"].get<std::string>(), -*m, false});
  }
  return out;
}

std::string csv_cell(std::string_view t) {
  std::string v(t);
  const bool number = !v.empty() && v.find_first_not_of("-0123456789.") == std::string::npos &&
                      v.find('-', 1) == std::string::npos && std::count(v.begin(), v.end(), '.') <= 1 &&
                      v != "-" && v != "." && v != "-.";
  if (!v.empty() && !number && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r')) {
    v.insert(v.begin(), '\'');
  }
  if (v.find_first_of(",\"\r\n") != std::string::npos) {
    std::string q = "\"";
    for (char ch : v) {
      if (ch == '"') q += '"';
      q += ch;
    }
    return q + "\"";
  }
  return v;
}

}  // namespace pactwatch::compensation
