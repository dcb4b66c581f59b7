// Money: an integer count of minor units in one ISO 4217 currency. Never floating point.
#pragma once

#include <compare>
#include <concepts>
#include <cstdint>
#include <expected>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pactwatch::core {

// 128-bit intermediates keep products of two int64 values exact (a GCC/Clang extension).
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

// A currency from the ISO 4217 table pactwatch knows (see currency_table()).
class Currency {
 public:
  [[nodiscard]] static std::expected<Currency, std::string> from_code(std::string_view code);

  [[nodiscard]] std::string_view code() const { return {code_, 3}; }
  // Number of decimal places of the minor unit: JPY 0, EUR 2, BHD 3.
  [[nodiscard]] int exponent() const { return exponent_; }

  friend bool operator==(const Currency& a, const Currency& b) {
    return a.code() == b.code();
  }

 private:
  Currency(const char* code, int exponent) : exponent_(exponent) {
    for (int i = 0; i < 3; ++i) code_[i] = code[i];
  }
  char code_[3];
  int exponent_;
  friend struct CurrencyTableAccess;
};

struct CurrencyInfo {
  const char* code;
  int exponent;
  const char* name;
};
// The table of supported currencies, in a stable order.
[[nodiscard]] std::span<const CurrencyInfo> currency_table();

// How a computation that cannot be exact chooses its result.
enum class Rounding {
  half_even,  // banker's rounding: ties go to the even neighbour (the default)
  half_up,    // ties go away from zero
  down,       // toward zero (truncate)
  up,         // away from zero
};
[[nodiscard]] std::string_view to_string(Rounding r);
[[nodiscard]] std::expected<Rounding, std::string> parse_rounding(std::string_view s);

// An exact rational multiplier such as 12% (12/100) or 1/3. The denominator is positive.
struct Ratio {
  std::int64_t numerator = 0;
  std::int64_t denominator = 1;

  // Parses "0.12", "12%", "-1.5", "3/4".
  [[nodiscard]] static std::expected<Ratio, std::string> parse(std::string_view s);
};

// A ratio as a percentage in hundredths of a percent, rounded half-even (187/200 -> 9350). The
// denominator must be positive.
[[nodiscard]] std::int64_t percent_hundredths(const Ratio& r);
// The same as text with two decimals: "93.50%". Every percentage a document, a statement or the
// portal shows is this one (a statement marks a rounded one with "≈").
[[nodiscard]] std::string percent_text(const Ratio& r);
// Whether percent_text shows the ratio exactly (no rounding).
[[nodiscard]] bool percent_is_exact(const Ratio& r);

// Thrown when money arithmetic would lose or mix information: currency mismatch or overflow.
class MoneyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Money {
 public:
  Money(std::int64_t minor_units, Currency currency) : minor_(minor_units), currency_(currency) {}
  // Money from floating point is never allowed.
  template <std::floating_point F>
  Money(F, Currency) = delete;

  [[nodiscard]] static Money zero(Currency c) { return Money(0, c); }
  // Parses a decimal string in the currency's units: "1234.50", "-0.5", "1234" (JPY).
  // More decimals than the currency has are an error, not a silent rounding.
  [[nodiscard]] static std::expected<Money, std::string> parse(std::string_view decimal, Currency c);

  [[nodiscard]] std::int64_t minor_units() const { return minor_; }
  [[nodiscard]] Currency currency() const { return currency_; }
  [[nodiscard]] bool is_zero() const { return minor_ == 0; }
  [[nodiscard]] bool is_negative() const { return minor_ < 0; }

  // "1234.50", "-0.05", "1234" (JPY), "1.234" (BHD).
  [[nodiscard]] std::string to_decimal() const;
  // "1234.50 EUR".
  [[nodiscard]] std::string to_string() const;

  // Same-currency arithmetic; a currency mismatch or an overflow throws MoneyError.
  friend Money operator+(const Money& a, const Money& b);
  friend Money operator-(const Money& a, const Money& b);
  Money operator-() const;
  Money& operator+=(const Money& b) { return *this = *this + b; }
  Money& operator-=(const Money& b) { return *this = *this - b; }

  // Multiplication by an integer count is exact (or throws on overflow).
  [[nodiscard]] Money times(std::int64_t count) const;
  // Multiplication by a ratio rounds explicitly; the rounding is always named by the caller.
  [[nodiscard]] Money multiply(Ratio r, Rounding rounding = Rounding::half_even) const;

  // Splits this amount in proportion to the weights by largest remainder: the parts always sum
  // exactly to the whole. Ties in remainder go to the earlier weight. Weights must be >= 0 with a
  // positive sum.
  [[nodiscard]] std::vector<Money> allocate(std::span<const std::int64_t> weights) const;

  // Comparisons need one currency (a mismatch throws MoneyError).
  friend std::strong_ordering operator<=>(const Money& a, const Money& b);
  friend bool operator==(const Money& a, const Money& b);

  template <typename T>
    requires std::floating_point<T>
  friend Money operator+(const Money&, T) = delete;
  template <typename T>
    requires std::floating_point<T>
  friend Money operator*(const Money&, T) = delete;

 private:
  std::int64_t minor_;
  Currency currency_;
};

// Divides numerator by denominator (denominator > 0) with the given rounding, in 128-bit.
[[nodiscard]] Int128 divide_rounded(Int128 numerator, Int128 denominator, Rounding rounding);

}  // namespace pactwatch::core
