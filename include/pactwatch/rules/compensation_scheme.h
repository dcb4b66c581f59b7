// The `compensation` block of a contract: how the partner's pay for a period follows from its
// evaluation. Parsed and validated with the contract (every reference to a KPI, standard or
// obligation is checked); computed by the compensation module. docs/compensation.md has a worked
// example of every part.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pactwatch/core/money.h"
#include "pactwatch/core/time.h"
#include "pactwatch/rules/expr.h"

namespace pactwatch::rules {

// A share of the amounts of the deals that count in the period (e.g. 12 % of won deals closed in
// it), optionally in volume tiers applied to the part of the volume inside each tier.
struct DealShare {
  core::Ratio rate{};
  std::shared_ptr<const Expr> where;  // which deals count; empty: all
  std::string where_text;
  std::string counted_by = "closed";  // closed or registered
  struct VolumeTier {
    core::Money from;  // the tier applies to the part of the volume above this
    core::Ratio rate{};
  };
  std::vector<VolumeTier> tiers;  // when given, they replace `rate`, ascending by `from`
};

struct Base {
  std::optional<core::Money> fixed;     // per period
  std::optional<DealShare> deal_share;  // commission on deals
  bool prorate = true;                  // a contract in effect for part of a period earns that part (by days)
};

struct BonusTier {
  Threshold at;                    // highest: the condition on the value ("score >= 90%")
  std::optional<core::Money> pays; // highest: what reaching the tier pays
  core::Ratio from{};              // marginal: the tier starts at this value (a ratio, e.g. 90%)
  std::optional<core::Money> per_point;  // marginal: pay per percentage point inside the tier
};

struct Bonus {
  std::string on = "score";  // "score" (the weighted score) or a ratio KPI's id
  enum class Mode { highest, marginal } mode = Mode::highest;
  std::vector<BonusTier> tiers;  // ascending
};

struct ServiceCredits {
  // The at-risk amount: a share of the period's base, or a fixed amount.
  std::optional<core::Ratio> at_risk_share;
  std::optional<core::Money> at_risk_amount;
  struct Allocation {
    std::string kpi;
    core::Ratio share{};  // of the at-risk amount; the shares may sum past 100 %
  };
  std::vector<Allocation> allocations;
  int earn_back_after = 0;  // periods of the KPI met after a credit that return it; 0: no earn-back
};

// Cloud-style credits: the KPI's attainment below a band's bound credits that share of the base
// (the lowest bound reached wins).
struct CreditBands {
  std::string kpi;
  struct Band {
    core::Ratio below{};
    core::Ratio credit{};
  };
  std::vector<Band> bands;
};

struct Gate {
  std::optional<std::string> standard;  // a named brand standard, or
  std::optional<std::string> severity;  // any standard of at least this severity
  std::string voids = "bonus";          // bonus, base or earn_back
};

struct Reciprocity {
  std::string obligation;  // a breached obligation of the brand...
  core::Money pays;        // ...pays the partner this credit
};

struct CompensationScheme {
  core::Rounding rounding = core::Rounding::half_even;
  Base base;
  std::optional<Bonus> bonus;
  std::optional<ServiceCredits> credits;
  std::optional<CreditBands> credit_bands;
  std::vector<Gate> gates;
  std::optional<core::Duration> clawback_within;  // a deal refunded this soon after closing reverses its commission
  std::optional<core::Money> minimum_payout;      // smaller amounts carry forward
  std::optional<core::Money> cap;                 // on the period's total
  std::optional<core::Money> floor;
  std::vector<Reciprocity> reciprocity;
};

}  // namespace pactwatch::rules
