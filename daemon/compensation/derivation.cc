// Exact amounts as text and the derivation steps of statement lines (docs/compensation.md,
// "Derivations"): kept apart from the statement's rules so that both read on their own.
#include "derivation.h"

#include <cstdio>

namespace pactwatch::compensation::derivation {

using core::Int128;
using core::Money;
using core::Ratio;
using nlohmann::json;

Int128 gcd128(Int128 a, Int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    const Int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// -1, 0, 1 as a < b, a == b, a > b (exactly, by cross-multiplication).
int compare(const Ratio& a, const Ratio& b) {
  const Int128 l = static_cast<Int128>(a.numerator) * b.denominator;
  const Int128 r = static_cast<Int128>(b.numerator) * a.denominator;
  return l < r ? -1 : l > r ? 1 : 0;
}

bool holds(const Ratio& value, const rules::Threshold& t) {
  return engine::holds(compare(value, std::get<Ratio>(t.value)), t.op);
}

// A ratio as a percentage with two decimals, for people ("93.75%"); "≈" marks a rounded one.
std::string percent(const Ratio& r) { return (core::percent_is_exact(r) ? "" : "≈") + core::percent_text(r); }

// |v| as decimal text with `decimals` digits after the point ("0.05" for 5 and 2).
std::string decimal(Int128 v, int decimals) {
  Int128 a = v < 0 ? -v : v;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(a % 10)));
    a /= 10;
  } while (a > 0);
  while (static_cast<int>(digits.size()) <= decimals) digits.insert(digits.begin(), '0');
  const auto point = digits.size() - static_cast<std::size_t>(decimals);
  return decimals > 0 ? digits.substr(0, point) + "." + digits.substr(point) : digits;
}

// The exact value of amount × ratio, in the currency's units, to four more decimals than the
// currency has ("1234.5678|9…" shows where the rounding cuts).
std::string exact(const Money& m, const Ratio& r) {
  const int extra = 4;
  Int128 num = static_cast<Int128>(m.minor_units()) * r.numerator;
  for (int i = 0; i < extra; ++i) num *= 10;
  const Int128 q = num / r.denominator;
  const bool inexact = num % r.denominator != 0;
  std::string out = (q < 0 || (q == 0 && num < 0)) ? "-" : "";
  out += decimal(q, m.currency().exponent() + extra);
  if (inexact) out += "…";
  return out;
}

// An exact decimal when the ratio has one of at most six decimals ("2.5"), else a fraction ("1/3").
std::string text(const Ratio& r) {
  Int128 num = r.numerator, den = r.denominator;
  int decimals = 0;
  while (den != 1 && decimals < 6) {
    num *= 10;
    ++decimals;
    const Int128 g = gcd128(num, den);
    num /= g;
    den /= g;
  }
  if (den != 1) return std::to_string(r.numerator) + "/" + std::to_string(r.denominator);
  std::string out = decimal(num, decimals);
  if (decimals > 0) {
    while (out.back() == '0') out.pop_back();  // "2.500000" -> "2.5", "3.000000" -> "3."
    if (out.back() == '.') out.pop_back();
  }
  return (num < 0 ? "-" : "") + out;
}

// A share as a percentage ("12%", "33.5%"), exactly, or a fraction when it has no short decimal.
std::string pct(const Ratio& r) {
  if (r.numerator > INT64_MAX / 100 || r.numerator < INT64_MIN / 100) return text(r);
  const Ratio hundred{r.numerator * 100, r.denominator};
  const std::string t = text(hundred);
  return t.find('/') == std::string::npos ? t + "%" : text(r);
}

}  // namespace pactwatch::compensation::derivation
