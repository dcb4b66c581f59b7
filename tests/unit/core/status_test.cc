#include "pactwatch/core/status.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

namespace pactwatch::core {
namespace {

TEST(RuleStatus, NamesRoundTripAndUnknownNamesAreRefused) {
  for (auto s : {RuleStatus::met, RuleStatus::warning, RuleStatus::at_risk, RuleStatus::breached,
                 RuleStatus::insufficient_data}) {
    EXPECT_EQ(parse_rule_status(to_string(s)), s);
  }
  EXPECT_EQ(to_string(RuleStatus::at_risk), "at_risk");
  EXPECT_FALSE(parse_rule_status("Met"));
  EXPECT_FALSE(parse_rule_status(""));
  EXPECT_FALSE(parse_rule_status("pending"));
}

TEST(RuleStatus, WarningAndAtRiskCountAsMet) {
  EXPECT_TRUE(counts_as_met(RuleStatus::met));
  EXPECT_TRUE(counts_as_met(RuleStatus::warning));
  EXPECT_TRUE(counts_as_met(RuleStatus::at_risk));
  EXPECT_FALSE(counts_as_met(RuleStatus::breached));
  EXPECT_FALSE(counts_as_met(RuleStatus::insufficient_data));
}

TEST(WeightedScore, LeavesInsufficientDataOutOfBothSides) {
  const std::vector<WeightedStatus> kpis{{{1, 2}, RuleStatus::met},
                                         {{1, 3}, RuleStatus::breached},
                                         {{1, 6}, RuleStatus::insufficient_data}};
  const auto s = weighted_score(kpis);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->numerator, 3);  // (1/2) / (1/2 + 1/3) = 3/5
  EXPECT_EQ(s->denominator, 5);
  EXPECT_FALSE(weighted_score(std::vector<WeightedStatus>{{{1, 1}, RuleStatus::insufficient_data}}));
  EXPECT_FALSE(weighted_score(std::vector<WeightedStatus>{}));
  const auto none = weighted_score(std::vector<WeightedStatus>{{{2, 1}, RuleStatus::breached}});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->numerator, 0);
}

// Against a plain running sum of fractions, each step reduced: the same share for random weights.
TEST(WeightedScore, AgreesWithARunningSumOfFractions) {
  struct Frac {
    Int128 n = 0, d = 1;
    void add(Int128 a, Int128 b) {
      n = n * b + a * d;
      d *= b;
      const Int128 g = std::gcd(static_cast<long long>(n < 0 ? -n : n), static_cast<long long>(d));
      if (g > 1) {
        n /= g;
        d /= g;
      }
    }
  };
  std::mt19937_64 rng(20261202);
  const RuleStatus all[] = {RuleStatus::met, RuleStatus::warning, RuleStatus::at_risk, RuleStatus::breached,
                            RuleStatus::insufficient_data};
  for (int c = 0; c < 2000; ++c) {
    std::vector<WeightedStatus> kpis;
    Frac met, counted;
    const int n = static_cast<int>(rng() % 7);
    for (int i = 0; i < n; ++i) {
      const Ratio w{static_cast<std::int64_t>(rng() % 40), static_cast<std::int64_t>(1 + rng() % 12)};
      const RuleStatus s = all[rng() % 5];
      kpis.push_back({w, s});
      if (s == RuleStatus::insufficient_data) continue;
      counted.add(w.numerator, w.denominator);
      if (s != RuleStatus::breached) met.add(w.numerator, w.denominator);
    }
    const auto got = weighted_score(kpis);
    if (counted.n == 0) {
      EXPECT_FALSE(got) << "case " << c;
      continue;
    }
    ASSERT_TRUE(got) << "case " << c;
    // got == met / counted, cross-multiplied exactly.
    EXPECT_EQ(static_cast<Int128>(got->numerator) * counted.n * met.d,
              static_cast<Int128>(got->denominator) * met.n * counted.d)
        << "case " << c;
  }
}

}  // namespace
}  // namespace pactwatch::core
