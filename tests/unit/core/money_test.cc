#include "pactwatch/core/money.h"

#include <gtest/gtest.h>

#include <limits>
#include <numeric>
#include <random>

namespace pactwatch::core {
namespace {

Currency cur(std::string_view code) { return *Currency::from_code(code); }
Money eur(std::string_view s) { return *Money::parse(s, cur("EUR")); }

// Money + double, Money * double and construction from double must not compile.
template <typename A, typename B>
concept Addable = requires(A a, B b) { a + b; };
template <typename A, typename B>
concept Multipliable = requires(A a, B b) { a * b; };
static_assert(!Addable<Money, double>);
static_assert(!Addable<Money, float>);
static_assert(!Multipliable<Money, double>);
static_assert(Addable<Money, Money>);
static_assert(!std::is_constructible_v<Money, double, Currency>);
static_assert(std::is_constructible_v<Money, std::int64_t, Currency>);

TEST(Currency, KnowsExponents) {
  EXPECT_EQ(cur("JPY").exponent(), 0);
  EXPECT_EQ(cur("KRW").exponent(), 0);
  EXPECT_EQ(cur("EUR").exponent(), 2);
  EXPECT_EQ(cur("USD").exponent(), 2);
  EXPECT_EQ(cur("BHD").exponent(), 3);
  EXPECT_EQ(cur("KWD").exponent(), 3);
  EXPECT_EQ(cur("CHF").code(), "CHF");
}

TEST(Currency, TableHasAtLeastThirtyUniqueCodes) {
  auto t = currency_table();
  EXPECT_GE(t.size(), 30u);
  for (std::size_t i = 1; i < t.size(); ++i) EXPECT_LT(std::string_view(t[i - 1].code), std::string_view(t[i].code));
  for (const auto& c : t) EXPECT_TRUE(Currency::from_code(c.code).has_value()) << c.code;
}

TEST(Currency, RejectsUnknownAndLowerCase) {
  EXPECT_FALSE(Currency::from_code("XXX"));
  EXPECT_FALSE(Currency::from_code("eur"));
  EXPECT_FALSE(Currency::from_code(""));
  EXPECT_NE(Currency::from_code("EURO").error().find("unknown currency"), std::string::npos);
}

TEST(MoneyParse, DecimalStrings) {
  EXPECT_EQ(eur("1234.50").minor_units(), 123450);
  EXPECT_EQ(eur("1234.5").minor_units(), 123450);
  EXPECT_EQ(eur("1234").minor_units(), 123400);
  EXPECT_EQ(eur("-0.05").minor_units(), -5);
  EXPECT_EQ(eur("+7.00").minor_units(), 700);
  EXPECT_EQ(eur("0").minor_units(), 0);
  EXPECT_EQ(Money::parse("1234", cur("JPY"))->minor_units(), 1234);
  EXPECT_EQ(Money::parse("1.234", cur("BHD"))->minor_units(), 1234);
  EXPECT_EQ(Money::parse("-0.001", cur("KWD"))->minor_units(), -1);
}

TEST(MoneyParse, RejectsWhatWouldLoseOrGuess) {
  EXPECT_FALSE(Money::parse("1.234", cur("EUR")));  // more decimals than EUR has
  EXPECT_FALSE(Money::parse("1.5", cur("JPY")));
  EXPECT_FALSE(Money::parse("1,234.00", cur("EUR")));
  EXPECT_FALSE(Money::parse("", cur("EUR")));
  EXPECT_FALSE(Money::parse("-", cur("EUR")));
  EXPECT_FALSE(Money::parse("1.", cur("EUR")));
  EXPECT_FALSE(Money::parse("1.2.3", cur("EUR")));
  EXPECT_FALSE(Money::parse("1e3", cur("EUR")));
  EXPECT_FALSE(Money::parse(" 1", cur("EUR")));
  EXPECT_FALSE(Money::parse("92233720368547758.08", cur("EUR")));  // INT64_MAX + 1 cents
  EXPECT_TRUE(Money::parse("92233720368547758.07", cur("EUR")));
  EXPECT_TRUE(Money::parse("-92233720368547758.08", cur("EUR")));
  EXPECT_NE(Money::parse("1.234", cur("EUR")).error().find("more decimals"), std::string::npos);
}

TEST(MoneyFormat, RoundTripsAndPads) {
  EXPECT_EQ(eur("1234.5").to_decimal(), "1234.50");
  EXPECT_EQ(eur("-0.05").to_decimal(), "-0.05");
  EXPECT_EQ(eur("0").to_decimal(), "0.00");
  EXPECT_EQ(Money(1234, cur("JPY")).to_decimal(), "1234");
  EXPECT_EQ(Money(-1, cur("BHD")).to_decimal(), "-0.001");
  EXPECT_EQ(Money(1500, cur("KWD")).to_string(), "1.500 KWD");
  EXPECT_EQ(Money(std::numeric_limits<std::int64_t>::min(), cur("EUR")).to_decimal(), "-92233720368547758.08");
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    const auto v = static_cast<std::int64_t>(rng());
    for (auto code : {"EUR", "JPY", "BHD"}) {
      Money m(v, cur(code));
      auto back = Money::parse(m.to_decimal(), cur(code));
      ASSERT_TRUE(back) << m.to_decimal();
      EXPECT_EQ(back->minor_units(), v);
    }
  }
}

TEST(MoneyArithmetic, SameCurrencyOnly) {
  EXPECT_EQ((eur("1.10") + eur("2.20")).to_decimal(), "3.30");
  EXPECT_EQ((eur("1.10") - eur("2.20")).to_decimal(), "-1.10");
  EXPECT_EQ((-eur("1.10")).to_decimal(), "-1.10");
  Money m = eur("5");
  m += eur("1");
  m -= eur("0.5");
  EXPECT_EQ(m.to_decimal(), "5.50");
  EXPECT_THROW((void)(eur("1") + Money(1, cur("USD"))), MoneyError);
  EXPECT_THROW((void)(eur("1") - Money(1, cur("JPY"))), MoneyError);
  EXPECT_THROW((void)(eur("1") < Money(1, cur("USD"))), MoneyError);
  EXPECT_LT(eur("1"), eur("2"));
  EXPECT_EQ(eur("2.00"), eur("2"));
}

TEST(MoneyArithmetic, OverflowIsDetectedNeverWrapped) {
  const auto max = std::numeric_limits<std::int64_t>::max();
  const auto min = std::numeric_limits<std::int64_t>::min();
  EXPECT_THROW((void)(Money(max, cur("EUR")) + Money(1, cur("EUR"))), MoneyError);
  EXPECT_THROW((void)(Money(min, cur("EUR")) - Money(1, cur("EUR"))), MoneyError);
  EXPECT_THROW((void)(-Money(min, cur("EUR"))), MoneyError);
  EXPECT_THROW((void)Money(max / 2 + 1, cur("EUR")).times(2), MoneyError);
  EXPECT_THROW((void)Money(max, cur("EUR")).multiply({3, 2}), MoneyError);
  // The intermediate product exceeds 64 bits but the result fits: exact.
  EXPECT_EQ(Money(max, cur("EUR")).multiply({1000, 1000}).minor_units(), max);
  EXPECT_EQ(Money(max - 1, cur("EUR")).multiply({1, 2}).minor_units(), (max - 1) / 2);
}

TEST(MoneyMultiply, RoundingModes) {
  const Ratio third{1, 3};
  // 0.10 / 3 = 0.0333…
  EXPECT_EQ(eur("0.10").multiply(third, Rounding::half_even).minor_units(), 3);
  EXPECT_EQ(eur("0.10").multiply(third, Rounding::up).minor_units(), 4);
  EXPECT_EQ(eur("0.10").multiply(third, Rounding::down).minor_units(), 3);
  // Ties: 0.25 * 1/10 = 0.025 -> half_even 0.02, half_up 0.03
  const Ratio tenth{1, 10};
  EXPECT_EQ(eur("0.25").multiply(tenth, Rounding::half_even).minor_units(), 2);
  EXPECT_EQ(eur("0.35").multiply(tenth, Rounding::half_even).minor_units(), 4);
  EXPECT_EQ(eur("0.25").multiply(tenth, Rounding::half_up).minor_units(), 3);
  EXPECT_EQ(eur("0.25").multiply(tenth, Rounding::down).minor_units(), 2);
  EXPECT_EQ(eur("0.25").multiply(tenth, Rounding::up).minor_units(), 3);
  // Negative amounts round symmetrically (away from / toward zero, not toward -infinity).
  EXPECT_EQ(eur("-0.25").multiply(tenth, Rounding::half_even).minor_units(), -2);
  EXPECT_EQ(eur("-0.25").multiply(tenth, Rounding::half_up).minor_units(), -3);
  EXPECT_EQ(eur("-0.10").multiply(third, Rounding::up).minor_units(), -4);
  EXPECT_EQ(eur("-0.10").multiply(third, Rounding::down).minor_units(), -3);
  // Default is half-even.
  EXPECT_EQ(eur("0.25").multiply(tenth).minor_units(), 2);
  // Three-decimal and zero-decimal currencies.
  EXPECT_EQ(Money(1005, cur("BHD")).multiply({1, 2}).minor_units(), 502);  // 0.5025 BHD -> 0.502
  EXPECT_EQ(Money(1005, cur("JPY")).multiply({12, 100}).minor_units(), 121);  // 120.6 -> 121
  EXPECT_EQ(eur("10000.00").multiply(*Ratio::parse("12%")).to_decimal(), "1200.00");
}

TEST(MoneyMultiply, MatchesReferenceOnRandomInputs) {
  // Reference: exact rational comparison done with long division on the magnitudes.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t amount = static_cast<std::int64_t>(rng() % 2000001) - 1000000;
    const std::int64_t num = static_cast<std::int64_t>(rng() % 2001) - 1000;
    const std::int64_t den = static_cast<std::int64_t>(rng() % 999) + 1;
    const Int128 p = static_cast<Int128>(amount) * num;
    const Int128 floor_q = p >= 0 ? p / den : -((-p + den - 1) / den);
    const Int128 rem2 = 2 * (p - floor_q * den);  // in [0, 2den)
    Int128 half_even = floor_q;
    if (rem2 > den || (rem2 == den && (floor_q % 2 != 0))) half_even = floor_q + 1;
    const Money m(amount, cur("EUR"));
    ASSERT_EQ(m.multiply({num, den}, Rounding::half_even).minor_units(), static_cast<std::int64_t>(half_even))
        << amount << " * " << num << "/" << den;
    const Int128 trunc = p / den;
    ASSERT_EQ(m.multiply({num, den}, Rounding::down).minor_units(), static_cast<std::int64_t>(trunc));
  }
}

TEST(Ratio, Parses) {
  auto r = Ratio::parse("12%");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->numerator, 12);
  EXPECT_EQ(r->denominator, 100);
  r = Ratio::parse("0.125");
  EXPECT_EQ(r->numerator, 125);
  EXPECT_EQ(r->denominator, 1000);
  r = Ratio::parse("-1.5");
  EXPECT_EQ(r->numerator, -15);
  r = Ratio::parse("3/4");
  EXPECT_EQ(r->numerator, 3);
  EXPECT_EQ(r->denominator, 4);
  EXPECT_FALSE(Ratio::parse("3/0"));
  EXPECT_FALSE(Ratio::parse("abc"));
  EXPECT_FALSE(Ratio::parse("%"));
  EXPECT_FALSE(Ratio::parse("1.5/2"));
  // Found by fuzz_scalars: out-of-range parts are an error, never an exception.
  EXPECT_FALSE(Ratio::parse("99999999999999999999/1"));
  EXPECT_FALSE(Ratio::parse("1/99999999999999999999"));
  EXPECT_FALSE(Ratio::parse("-99999999999999999999"));
  EXPECT_FALSE(Ratio::parse("0.0000000000000000001"));
}

TEST(Rounding, NamesRoundTrip) {
  for (auto r : {Rounding::half_even, Rounding::half_up, Rounding::down, Rounding::up}) {
    EXPECT_EQ(*parse_rounding(to_string(r)), r);
  }
  EXPECT_FALSE(parse_rounding("bankers"));
}

TEST(MoneyAllocate, PartsSumToWhole) {
  auto parts = eur("100.00").allocate(std::vector<std::int64_t>{1, 1, 1});
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].to_decimal(), "33.34");
  EXPECT_EQ(parts[1].to_decimal(), "33.33");
  EXPECT_EQ(parts[2].to_decimal(), "33.33");
  auto neg = eur("-100.00").allocate(std::vector<std::int64_t>{1, 1, 1});
  EXPECT_EQ(neg[0].to_decimal(), "-33.34");
  EXPECT_EQ(neg[2].to_decimal(), "-33.33");
  // Largest remainder, not first-come: 70/30 of 0.05 = 0.035/0.015 -> 0.04/0.01.
  auto lr = eur("0.05").allocate(std::vector<std::int64_t>{70, 30});
  EXPECT_EQ(lr[0].minor_units(), 4);
  EXPECT_EQ(lr[1].minor_units(), 1);
  auto zero_weight = eur("1.00").allocate(std::vector<std::int64_t>{0, 1});
  EXPECT_EQ(zero_weight[0].minor_units(), 0);
  EXPECT_EQ(zero_weight[1].minor_units(), 100);
  EXPECT_THROW((void)eur("1").allocate(std::vector<std::int64_t>{}), MoneyError);
  EXPECT_THROW((void)eur("1").allocate(std::vector<std::int64_t>{0, 0}), MoneyError);
  EXPECT_THROW((void)eur("1").allocate(std::vector<std::int64_t>{1, -1}), MoneyError);
}

TEST(MoneyAllocate, RandomSplitsAlwaysSumExactlyAndStayWithinOneUnit) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 5000; ++i) {
    const std::int64_t amount = static_cast<std::int64_t>(rng() % 20000001) - 10000000;
    std::vector<std::int64_t> weights(1 + rng() % 8);
    for (auto& w : weights) w = static_cast<std::int64_t>(rng() % 1000);
    if (std::accumulate(weights.begin(), weights.end(), std::int64_t{0}) == 0) weights[0] = 1;
    const std::int64_t total_w = std::accumulate(weights.begin(), weights.end(), std::int64_t{0});
    auto parts = Money(amount, cur("JPY")).allocate(weights);
    std::int64_t sum = 0;
    for (std::size_t k = 0; k < parts.size(); ++k) {
      sum += parts[k].minor_units();
      const Int128 exact_times_w = static_cast<Int128>(amount) * weights[k];  // part * total_w ≈ this
      const Int128 diff = static_cast<Int128>(parts[k].minor_units()) * total_w - exact_times_w;
      ASSERT_LT(diff < 0 ? -diff : diff, static_cast<Int128>(total_w)) << "part off by a unit or more";
    }
    ASSERT_EQ(sum, amount);
  }
}

TEST(RatioPercent, TwoDecimalsRoundedHalfEven) {
  EXPECT_EQ(percent_text(Ratio{187, 200}), "93.50%");
  EXPECT_EQ(percent_text(Ratio{2, 3}), "66.67%");
  EXPECT_EQ(percent_text(Ratio{1, 1}), "100.00%");
  EXPECT_EQ(percent_text(Ratio{0, 7}), "0.00%");
  EXPECT_EQ(percent_text(Ratio{1, 20000}), "0.00%");  // half a hundredth: ties go to the even 0
  EXPECT_EQ(percent_text(Ratio{3, 20000}), "0.02%");  // one and a half: to the even 2
  EXPECT_EQ(percent_hundredths(Ratio{187, 200}), 9350);
  EXPECT_TRUE(percent_is_exact(Ratio{187, 200}));
  EXPECT_FALSE(percent_is_exact(Ratio{2, 3}));
}

}  // namespace
}  // namespace pactwatch::core
