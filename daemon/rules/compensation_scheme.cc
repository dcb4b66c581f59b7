#include "compensation_parse.h"

#include <algorithm>

namespace pactwatch::rules::detail {

namespace {

struct SchemeParser {
  FileContext& ctx;
  const ContractVersion& c;
  std::optional<core::Currency> currency;

  YamlReport& report() { return ctx.report; }

  std::optional<core::Money> money(const YAML::Node& node, const std::string& where) {
    const std::string text = scalar_or_error(node, where, report());
    if (text.empty() || !currency) return std::nullopt;
    auto m = core::Money::parse(text, *currency);
    if (!m) {
      report().error(node, where + ": " + m.error() + " (an amount in " + std::string(currency->code()) + ", e.g. \"" +
                               example_amount() + "\")");
      return std::nullopt;
    }
    return *m;
  }

  // 1500 in the contract's currency, with its own decimals: "1500.00" EUR, "1500" JPY, "1500.000" BHD.
  std::string example_amount() const {
    std::int64_t minor = 1500;
    for (int i = 0; i < currency->exponent(); ++i) minor *= 10;
    return core::Money(minor, *currency).to_decimal();
  }

  std::optional<core::Ratio> ratio(const YAML::Node& node, const std::string& where, bool allow_negative = false) {
    const std::string text = scalar_or_error(node, where, report());
    if (text.empty()) return std::nullopt;
    auto r = core::Ratio::parse(text);
    if (!r) {
      report().error(node, where + ": " + r.error() + " (a percentage such as 12% or a number such as 0.12)");
      return std::nullopt;
    }
    if (!allow_negative && r->numerator < 0) {
      report().error(node, where + ": must not be negative");
      return std::nullopt;
    }
    return *r;
  }

  // -1, 0, 1 as a < b, a == b, a > b, exactly.
  static int compare(const core::Ratio& a, const core::Ratio& b) {
    const core::Int128 l = static_cast<core::Int128>(a.numerator) * b.denominator;
    const core::Int128 r = static_cast<core::Int128>(b.numerator) * a.denominator;
    return l < r ? -1 : l > r ? 1 : 0;
  }

  // Every tier list follows one rule (docs/compensation.md, "Tiers"): its tiers are written in the
  // order a value reaches them, each strictly past the one before. The error names both tiers.
  void out_of_order(const YAML::Node& node, const std::string& where, const char* noun, std::size_t index,
                    std::size_t prev_index, const std::string& this_text, const std::string& prev_text, const char* order) {
    report().error(node, where + ": " + noun + " " + std::to_string(index + 1) + " (" + this_text + ") is out of order after " +
                             noun + " " + std::to_string(prev_index + 1) + " (" + prev_text + "): " + noun + "s must be written " +
                             order);
  }

  const Kpi* find_kpi(const std::string& id) const {
    for (const auto& k : c.kpis) {
      if (k.id == id) return &k;
    }
    return nullptr;
  }

  std::string kpi_ids() const {
    std::string out;
    for (const auto& k : c.kpis) out += (out.empty() ? "" : ", ") + k.id;
    return out.empty() ? "(none)" : out;
  }

  // A reference to one of the contract's ratio KPIs (bonuses and bands act on exact shares).
  bool ratio_kpi(const YAML::Node& node, const std::string& id, const std::string& where) {
    const Kpi* k = find_kpi(id);
    if (!k) {
      report().error(node, where + ": no KPI '" + id + "' in this contract (KPIs: " + kpi_ids() + ")");
      return false;
    }
    if (k->measure.kind != MeasureKind::ratio) {
      report().error(node, where + ": KPI '" + id + "' is a " + std::string(to_string(k->measure.kind)) +
                               "; only ratio KPIs can drive tiers and bands");
      return false;
    }
    return true;
  }

  void base(const YAML::Node& node, Base& b) {
    if (!node.IsMap()) {
      report().error(node, "compensation: base: expected {fixed: AMOUNT} or {deal_share: {...}}");
      return;
    }
    report().check_keys(node, {"fixed", "deal_share", "prorate"}, "compensation: base");
    if (node["fixed"]) b.fixed = money(node["fixed"], "compensation: base: fixed");
    if (node["prorate"]) {
      const std::string v = scalar_or_error(node["prorate"], "compensation: base: prorate", report());
      if (v == "true") b.prorate = true;
      else if (v == "false") b.prorate = false;
      else report().error(node["prorate"], "compensation: base: prorate must be true or false");
    }
    const YAML::Node ds = node["deal_share"];
    if (!ds) return;
    const std::string where = "compensation: base: deal_share";
    if (!ds.IsMap()) {
      report().error(ds, where + ": expected {rate: 12%, where: COND, counted_by: closed}");
      return;
    }
    report().check_keys(ds, {"rate", "where", "counted_by", "tiers"}, where);
    DealShare share;
    if (ds["rate"]) {
      if (auto r = ratio(ds["rate"], where + ": rate")) share.rate = *r;
    } else if (!ds["tiers"]) {
      report().error(ds, where + ": needs a rate (12%) or volume tiers");
    }
    if (ds["where"]) {
      const std::string text = scalar_or_error(ds["where"], where + ": where", report());
      if (!text.empty()) {
        auto e = parse_condition(text, SourceKind::deals);
        if (!e) {
          report().error(ctx.at_offset(ds["where"], e.error().column - 1), where + ": where: " + e.error().message);
        } else {
          share.where = std::shared_ptr<const Expr>(std::move(*e));
          share.where_text = text;
        }
      }
    }
    if (ds["counted_by"]) {
      share.counted_by = scalar_or_error(ds["counted_by"], where + ": counted_by", report());
      if (share.counted_by != "closed" && share.counted_by != "registered") {
        report().error(ds["counted_by"], where + ": counted_by must be closed or registered");
      }
    }
    if (const YAML::Node tiers = ds["tiers"]) {
      if (!tiers.IsSequence() || tiers.size() == 0) {
        report().error(tiers, where + ": tiers must be a list of {from: AMOUNT, rate: PERCENT}");
      } else {
        std::size_t index = 0, prev_index = 0;
        for (const auto& t : tiers) {
          const std::size_t i = index++;
          if (!t.IsMap()) {
            report().error(t, where + ": each tier must be {from: AMOUNT, rate: PERCENT}");
            continue;
          }
          report().check_keys(t, {"from", "rate"}, where + ": tier");
          auto from = money(t["from"], where + ": tier: from");
          auto rate = ratio(t["rate"], where + ": tier: rate");
          if (!t["from"] || !t["rate"]) report().error(t, where + ": each tier needs from and rate");
          if (from && rate) {
            if (!share.tiers.empty() && !(share.tiers.back().from < *from)) {
              out_of_order(t["from"], where, "tier", i, prev_index, "from " + from->to_decimal(),
                           "from " + share.tiers.back().from.to_decimal(), "in ascending order of 'from', each above the one before");
            }
            prev_index = i;
            share.tiers.push_back({*from, *rate});
          }
        }
        if (!share.tiers.empty() && !share.tiers.front().from.is_zero()) {
          report().error(tiers, where + ": the first tier must start from 0");
        }
      }
    }
    b.deal_share = std::move(share);
  }

  void bonus(const YAML::Node& node, Bonus& b) {
    const std::string where = "compensation: bonus";
    if (!node.IsMap()) {
      report().error(node, where + ": expected {on: score, mode: highest, tiers: [...]}");
      return;
    }
    report().check_keys(node, {"on", "mode", "tiers"}, where);
    if (node["on"]) {
      b.on = scalar_or_error(node["on"], where + ": on", report());
      if (b.on != "score") ratio_kpi(node["on"], b.on, where + ": on");
      if (b.on == "score" && std::none_of(c.kpis.begin(), c.kpis.end(), [](const Kpi& k) { return k.weight.has_value(); })) {
        report().error(node["on"], where + ": the bonus is on the weighted score, but no KPI has a weight");
      }
    }
    if (node["mode"]) {
      const std::string m = scalar_or_error(node["mode"], where + ": mode", report());
      if (m == "highest") b.mode = Bonus::Mode::highest;
      else if (m == "marginal") b.mode = Bonus::Mode::marginal;
      else report().error(node["mode"], where + ": mode must be highest (the highest tier reached pays) or marginal (a rate per point inside each tier)");
    }
    const YAML::Node tiers = node["tiers"];
    if (!tiers || !tiers.IsSequence() || tiers.size() == 0) {
      report().error(tiers ? tiers.Mark() : node.Mark(), where + ": needs a list of tiers");
      return;
    }
    // The last tier with a valid threshold: where it is in the list and how it was written.
    struct Previous {
      std::size_t index;
      std::string text;
      Threshold at;
      core::Ratio from;
    };
    std::optional<Previous> prev;
    std::size_t index = 0;
    for (const auto& t : tiers) {
      const std::size_t i = index++;
      if (!t.IsMap()) {
        report().error(t, where + ": each tier must be a mapping");
        continue;
      }
      BonusTier tier;
      if (b.mode == Bonus::Mode::highest) {
        report().check_keys(t, {"at", "pays"}, where + ": tier");
        const std::string at = required_scalar(t, "at", where + ": tier", report());
        if (!at.empty()) {
          auto th = parse_threshold(at);
          if (!th) {
            report().error(ctx.at_offset(t["at"], th.error().column - 1), where + ": tier: at: " + th.error().message);
          } else if (th->type != ValueType::number || (th->op != CompareOp::ge && th->op != CompareOp::gt)) {
            report().error(t["at"], where + ": tier: at must be a lower bound on a share, such as \">= 90%\"");
          } else {
            tier.at = *th;
            // Ascending: a higher bound, or the same one strictly (">= 90%" then "> 90%").
            if (prev) {
              const int order = compare(std::get<core::Ratio>(th->value), std::get<core::Ratio>(prev->at.value));
              const bool ascending = order > 0 || (order == 0 && prev->at.op == CompareOp::ge && th->op == CompareOp::gt);
              if (!ascending) {
                out_of_order(t["at"], where, "tier", i, prev->index, "at \"" + at + "\"", "at \"" + prev->text + "\"",
                             "in ascending order of 'at', each reached only past the one before (the highest tier reached pays)");
              }
            }
            prev = Previous{i, at, *th, {}};
          }
        }
        if (!t["pays"]) report().error(t, where + ": tier: missing required key 'pays'");
        else tier.pays = money(t["pays"], where + ": tier: pays");
      } else {
        report().check_keys(t, {"from", "per_point"}, where + ": tier");
        if (!t["from"] || !t["per_point"]) {
          report().error(t, where + ": a marginal tier needs from (a share, e.g. 90%) and per_point (an amount)");
          continue;
        }
        if (auto f = ratio(t["from"], where + ": tier: from")) {
          tier.from = *f;
          const std::string text = t["from"].Scalar();
          if (prev && compare(*f, prev->from) <= 0) {
            out_of_order(t["from"], where, "tier", i, prev->index, "from " + text, "from " + prev->text,
                         "in ascending order of 'from', each above the one before");
          }
          prev = Previous{i, text, {}, *f};
        }
        tier.per_point = money(t["per_point"], where + ": tier: per_point");
      }
      b.tiers.push_back(std::move(tier));
    }
  }

  void credits(const YAML::Node& node, ServiceCredits& s) {
    const std::string where = "compensation: service_credits";
    if (!node.IsMap()) {
      report().error(node, where + ": expected {at_risk: 12%, allocations: {KPI: 40%, ...}}");
      return;
    }
    report().check_keys(node, {"at_risk", "allocations", "earn_back_after"}, where);
    const std::string at_risk = required_scalar(node, "at_risk", where, report());
    if (!at_risk.empty()) {
      if (at_risk.find('%') != std::string::npos) {
        s.at_risk_share = ratio(node["at_risk"], where + ": at_risk");
      } else {
        s.at_risk_amount = money(node["at_risk"], where + ": at_risk");
      }
    }
    const YAML::Node alloc = node["allocations"];
    if (!alloc || !alloc.IsMap() || alloc.size() == 0) {
      report().error(alloc ? alloc.Mark() : node.Mark(), where + ": allocations must map KPI ids to shares of the at-risk amount");
    } else {
      for (const auto& kv : alloc) {
        const std::string id = kv.first.Scalar();
        if (!find_kpi(id)) {
          report().error(kv.first, where + ": no KPI '" + id + "' in this contract (KPIs: " + kpi_ids() + ")");
          continue;
        }
        YAML::Node value = kv.second;
        if (auto r = ratio(value, where + ": " + id)) s.allocations.push_back({id, *r});
      }
    }
    if (node["earn_back_after"]) {
      const std::string v = scalar_or_error(node["earn_back_after"], where + ": earn_back_after", report());
      try {
        std::size_t used = 0;
        s.earn_back_after = std::stoi(v, &used);
        if (used != v.size() || s.earn_back_after < 1 || s.earn_back_after > 24) throw std::invalid_argument(v);
      } catch (const std::exception&) {
        report().error(node["earn_back_after"], where + ": earn_back_after must be a number of periods from 1 to 24");
      }
    }
  }

  void bands(const YAML::Node& node, CreditBands& b) {
    const std::string where = "compensation: credit_bands";
    if (!node.IsMap()) {
      report().error(node, where + ": expected {kpi: ID, bands: [{below: 99.9%, credit: 10%}, ...]}");
      return;
    }
    report().check_keys(node, {"kpi", "bands"}, where);
    b.kpi = required_scalar(node, "kpi", where, report());
    if (!b.kpi.empty()) ratio_kpi(node["kpi"], b.kpi, where + ": kpi");
    const YAML::Node list = node["bands"];
    if (!list || !list.IsSequence() || list.size() == 0) {
      report().error(list ? list.Mark() : node.Mark(), where + ": needs a list of bands");
      return;
    }
    std::size_t index = 0, prev_index = 0;
    std::string prev_text;
    for (const auto& e : list) {
      const std::size_t i = index++;
      if (!e.IsMap() || !e["below"] || !e["credit"]) {
        report().error(e, where + ": each band must be {below: SHARE, credit: SHARE}");
        continue;
      }
      report().check_keys(e, {"below", "credit"}, where + ": band");
      auto below = ratio(e["below"], where + ": below");
      auto credit = ratio(e["credit"], where + ": credit");
      if (credit && static_cast<core::Int128>(credit->numerator) > credit->denominator) {
        report().error(e["credit"], where + ": credit cannot exceed 100% of the base");
      }
      if (below && credit) {
        const std::string text = e["below"].Scalar();
        // A falling attainment reaches the highest bound first.
        if (!b.bands.empty() && compare(*below, b.bands.back().below) >= 0) {
          out_of_order(e["below"], where, "band", i, prev_index, "below " + text, "below " + prev_text,
                       "in the order a falling value reaches them, from the highest bound down (99.9%, 99%, 95%)");
        }
        prev_index = i;
        prev_text = text;
        b.bands.push_back({*below, *credit});
      }
    }
  }

  void gate(const YAML::Node& node, Gate& g) {
    const std::string where = "compensation: gate";
    report().check_keys(node, {"standard", "severity", "voids"}, where);
    if (node["standard"]) {
      g.standard = scalar_or_error(node["standard"], where + ": standard", report());
      if (std::none_of(c.brand_standards.begin(), c.brand_standards.end(),
                       [&](const BrandStandard& s) { return s.id == *g.standard; })) {
        report().error(node["standard"], where + ": no brand standard '" + *g.standard + "' in this contract");
      }
    }
    if (node["severity"]) {
      g.severity = scalar_or_error(node["severity"], where + ": severity", report());
      if (*g.severity != "minor" && *g.severity != "major" && *g.severity != "critical") {
        report().error(node["severity"], where + ": severity must be minor, major or critical");
      }
    }
    if (g.standard.has_value() == g.severity.has_value()) {
      report().error(node, where + ": name either a standard or a severity (any standard at least that severe)");
    }
    if (node["voids"]) {
      g.voids = scalar_or_error(node["voids"], where + ": voids", report());
      if (g.voids != "bonus" && g.voids != "base" && g.voids != "earn_back") {
        report().error(node["voids"], where + ": voids must be bonus, base or earn_back");
      }
    }
  }
};

}  // namespace

void parse_compensation(const YAML::Node& node, ContractVersion& c, FileContext& ctx) {
  YamlReport& report = ctx.report;
  if (!node || node.IsNull()) return;
  if (!node.IsMap()) {
    report.error(node, "compensation: expected a mapping (see docs/compensation.md)");
    return;
  }
  report.check_keys(node, {"rounding", "base", "bonus", "service_credits", "credit_bands", "gates", "clawback",
                           "minimum_payout", "cap", "floor", "reciprocity"},
                    "compensation");
  SchemeParser p{ctx, c, std::nullopt};
  if (auto cur = core::Currency::from_code(c.currency)) p.currency = *cur;
  CompensationScheme s;
  if (node["rounding"]) {
    auto r = core::parse_rounding(scalar_or_error(node["rounding"], "compensation: rounding", report));
    if (!r) report.error(node["rounding"], "compensation: rounding: " + r.error());
    else s.rounding = *r;
  }
  if (node["base"]) p.base(node["base"], s.base);
  // A base was written (even one with an error of its own, reported already): shares of it are
  // not reported again as shares of nothing.
  const YAML::Node base_node = node["base"];
  const bool base_written = s.base.fixed || s.base.deal_share ||
                            (base_node && base_node.IsMap() && (base_node["fixed"] || base_node["deal_share"]));
  if (node["bonus"]) {
    Bonus b;
    p.bonus(node["bonus"], b);
    s.bonus = std::move(b);
  }
  if (node["service_credits"]) {
    ServiceCredits sc;
    p.credits(node["service_credits"], sc);
    if (sc.at_risk_share && !base_written) {
      report.error(node["service_credits"]["at_risk"], "compensation: service_credits: an at-risk share needs a base to be a share of");
    }
    s.credits = std::move(sc);
  }
  if (node["credit_bands"]) {
    CreditBands b;
    p.bands(node["credit_bands"], b);
    if (!base_written) report.error(node["credit_bands"], "compensation: credit_bands: credits are shares of the base, and there is none");
    s.credit_bands = std::move(b);
  }
  if (const YAML::Node gates = node["gates"]) {
    if (!gates.IsSequence()) {
      report.error(gates, "compensation: gates: expected a list");
    } else {
      for (const auto& g : gates) {
        if (!g.IsMap()) {
          report.error(g, "compensation: gates: each gate must be a mapping");
          continue;
        }
        Gate gate;
        p.gate(g, gate);
        s.gates.push_back(std::move(gate));
      }
    }
  }
  if (const YAML::Node cb = node["clawback"]) {
    if (!cb.IsMap() || !cb["within"]) {
      report.error(cb, "compensation: clawback: expected {within: 90d}");
    } else {
      report.check_keys(cb, {"within"}, "compensation: clawback");
      auto d = core::parse_duration(scalar_or_error(cb["within"], "compensation: clawback: within", report));
      if (!d || d->count() <= 0) report.error(cb["within"], "compensation: clawback: within must be a duration such as 90d");
      else s.clawback_within = *d;
      if (!s.base.deal_share) report.error(cb, "compensation: clawback: only commission on deals (base: deal_share) can be clawed back");
    }
  }
  if (node["minimum_payout"]) s.minimum_payout = p.money(node["minimum_payout"], "compensation: minimum_payout");
  if (node["cap"]) s.cap = p.money(node["cap"], "compensation: cap");
  if (node["floor"]) s.floor = p.money(node["floor"], "compensation: floor");
  if (s.cap && s.floor && *s.cap < *s.floor) report.error(node["cap"], "compensation: cap is below the floor");
  if (const YAML::Node rec = node["reciprocity"]) {
    if (!rec.IsSequence()) {
      report.error(rec, "compensation: reciprocity: expected a list of {obligation: ID, pays: AMOUNT}");
    } else {
      for (const auto& r : rec) {
        if (!r.IsMap() || !r["obligation"] || !r["pays"]) {
          report.error(r, "compensation: reciprocity: each entry must be {obligation: ID, pays: AMOUNT}");
          continue;
        }
        report.check_keys(r, {"obligation", "pays"}, "compensation: reciprocity");
        const std::string id = scalar_or_error(r["obligation"], "compensation: reciprocity: obligation", report);
        if (std::none_of(c.obligations.begin(), c.obligations.end(), [&](const Kpi& o) { return o.id == id; })) {
          report.error(r["obligation"], "compensation: reciprocity: no obligation '" + id + "' in this contract");
        }
        if (auto m = p.money(r["pays"], "compensation: reciprocity: pays")) s.reciprocity.push_back({id, *m});
      }
    }
  }
  c.compensation = std::move(s);
}

}  // namespace pactwatch::rules::detail
