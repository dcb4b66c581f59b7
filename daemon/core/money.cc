#include "pactwatch/core/money.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <limits>
#include <numeric>

namespace pactwatch::core {

namespace {

// ISO 4217 active codes most used in trade, with their minor-unit exponents.
constexpr std::array<CurrencyInfo, 44> kCurrencies{{
    {"AED", 2, "UAE Dirham"},       {"ARS", 2, "Argentine Peso"},
    {"AUD", 2, "Australian Dollar"}, {"BHD", 3, "Bahraini Dinar"},
    {"BRL", 2, "Brazilian Real"},   {"CAD", 2, "Canadian Dollar"},
    {"CHF", 2, "Swiss Franc"},      {"CLP", 0, "Chilean Peso"},
    {"CNY", 2, "Yuan Renminbi"},    {"COP", 2, "Colombian Peso"},
    {"CZK", 2, "Czech Koruna"},     {"DKK", 2, "Danish Krone"},
    {"EGP", 2, "Egyptian Pound"},   {"EUR", 2, "Euro"},
    {"GBP", 2, "Pound Sterling"},   {"HKD", 2, "Hong Kong Dollar"},
    {"HUF", 2, "Forint"},           {"IDR", 2, "Rupiah"},
    {"ILS", 2, "New Israeli Sheqel"}, {"INR", 2, "Indian Rupee"},
    {"ISK", 0, "Iceland Krona"},    {"JOD", 3, "Jordanian Dinar"},
    {"JPY", 0, "Yen"},              {"KRW", 0, "Won"},
    {"KWD", 3, "Kuwaiti Dinar"},    {"MXN", 2, "Mexican Peso"},
    {"MYR", 2, "Malaysian Ringgit"}, {"NGN", 2, "Naira"},
    {"NOK", 2, "Norwegian Krone"},  {"NZD", 2, "New Zealand Dollar"},
    {"OMR", 3, "Rial Omani"},       {"PHP", 2, "Philippine Peso"},
    {"PLN", 2, "Zloty"},            {"RON", 2, "Romanian Leu"},
    {"SAR", 2, "Saudi Riyal"},      {"SEK", 2, "Swedish Krona"},
    {"SGD", 2, "Singapore Dollar"}, {"THB", 2, "Baht"},
    {"TND", 3, "Tunisian Dinar"},   {"TRY", 2, "Turkish Lira"},
    {"TWD", 2, "New Taiwan Dollar"}, {"USD", 2, "US Dollar"},
    {"VND", 0, "Dong"},             {"ZAR", 2, "Rand"},
}};

constexpr std::int64_t kPow10[] = {1, 10, 100, 1000, 10000};

std::int64_t checked(Int128 v, const char* what) {
  if (v > std::numeric_limits<std::int64_t>::max() || v < std::numeric_limits<std::int64_t>::min()) {
    throw MoneyError(std::string("money overflow in ") + what);
  }
  return static_cast<std::int64_t>(v);
}

void require_same(const Money& a, const Money& b, const char* what) {
  if (!(a.currency() == b.currency())) {
    throw MoneyError(std::string("cannot ") + what + " " + std::string(a.currency().code()) +
                     " and " + std::string(b.currency().code()));
  }
}

}  // namespace

struct CurrencyTableAccess {
  static Currency make(const CurrencyInfo& i) { return Currency(i.code, i.exponent); }
};

std::span<const CurrencyInfo> currency_table() { return kCurrencies; }

std::expected<Currency, std::string> Currency::from_code(std::string_view code) {
  for (const auto& c : kCurrencies) {
    if (code == c.code) return CurrencyTableAccess::make(c);
  }
  return std::unexpected("unknown currency '" + std::string(code) + "' (expected an ISO 4217 code such as EUR)");
}

std::string_view to_string(Rounding r) {
  switch (r) {
    case Rounding::half_even: return "half_even";
    case Rounding::half_up: return "half_up";
    case Rounding::down: return "down";
    case Rounding::up: return "up";
  }
  return "half_even";
}

std::expected<Rounding, std::string> parse_rounding(std::string_view s) {
  for (auto r : {Rounding::half_even, Rounding::half_up, Rounding::down, Rounding::up}) {
    if (s == to_string(r)) return r;
  }
  return std::unexpected("unknown rounding '" + std::string(s) + "' (expected half_even, half_up, down or up)");
}

namespace {

// Parses "[-+]digits[.digits]" into an integer scaled by 10^frac_digits, reporting the number of
// fraction digits seen. Used by both Money and Ratio.
struct Decimal {
  Int128 scaled = 0;  // value * 10^fraction_digits
  int fraction_digits = 0;
};

// "'TEXT' WHY", built by appending (GCC 12 at -O3 misreports "'" + std::string(...) under -Wrestrict).
std::string quoted(std::string_view text, std::string_view why) {
  std::string m;
  m.reserve(text.size() + why.size() + 3);
  m += '\'';
  m += text;
  m += "' ";
  m += why;
  return m;
}

std::expected<Decimal, std::string> parse_decimal(std::string_view s) {
  Decimal d;
  if (s.empty()) return std::unexpected("empty number");
  bool negative = false;
  std::size_t i = 0;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    i = 1;
  }
  bool any_digit = false;
  bool in_fraction = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (in_fraction) return std::unexpected(quoted(s, "has two decimal points"));
      in_fraction = true;
      continue;
    }
    if (c < '0' || c > '9') {
      return std::unexpected(quoted(s, std::string("is not a decimal number (unexpected '") + c + "')"));
    }
    any_digit = true;
    d.scaled = d.scaled * 10 + (c - '0');
    if (in_fraction) ++d.fraction_digits;
    if (d.scaled > (static_cast<Int128>(1) << 100) || d.fraction_digits > 18) {
      return std::unexpected(quoted(s, "is too large or too precise"));
    }
  }
  if (!any_digit) return std::unexpected(quoted(s, "has no digits"));
  if (in_fraction && s.back() == '.') return std::unexpected(quoted(s, "ends with a decimal point"));
  if (negative) d.scaled = -d.scaled;
  return d;
}

Int128 pow10_128(int n) {
  Int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

}  // namespace

std::expected<Ratio, std::string> Ratio::parse(std::string_view s) {
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    auto num = parse_decimal(s.substr(0, slash));
    auto den = parse_decimal(s.substr(slash + 1));
    if (!num || !den || num->fraction_digits || den->fraction_digits) {
      return std::unexpected("'" + std::string(s) + "' is not a fraction of two integers");
    }
    if (den->scaled <= 0) return std::unexpected("'" + std::string(s) + "' needs a positive denominator");
    constexpr Int128 kMax = std::numeric_limits<std::int64_t>::max();
    if (num->scaled > kMax || num->scaled < -kMax || den->scaled > kMax) {
      return std::unexpected("'" + std::string(s) + "' is out of range");
    }
    return Ratio{static_cast<std::int64_t>(num->scaled), static_cast<std::int64_t>(den->scaled)};
  }
  bool percent = !s.empty() && s.back() == '%';
  auto d = parse_decimal(percent ? s.substr(0, s.size() - 1) : s);
  if (!d) return std::unexpected(d.error());
  int digits = d->fraction_digits + (percent ? 2 : 0);
  if (digits > 18) return std::unexpected("'" + std::string(s) + "' is too precise");
  constexpr Int128 kMax = std::numeric_limits<std::int64_t>::max();
  const Int128 den = pow10_128(digits);
  if (d->scaled > kMax || d->scaled < -kMax || den > kMax) {
    return std::unexpected("'" + std::string(s) + "' is out of range");
  }
  return Ratio{static_cast<std::int64_t>(d->scaled), static_cast<std::int64_t>(den)};
}

std::int64_t percent_hundredths(const Ratio& r) {
  return static_cast<std::int64_t>(divide_rounded(static_cast<Int128>(r.numerator) * 10000, r.denominator, Rounding::half_even));
}

std::string percent_text(const Ratio& r) {
  const std::int64_t h = percent_hundredths(r);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%02lld%%", static_cast<long long>(h / 100), static_cast<long long>((h < 0 ? -h : h) % 100));
  return buf;
}

bool percent_is_exact(const Ratio& r) { return static_cast<Int128>(r.numerator) * 10000 % r.denominator == 0; }

Int128 divide_rounded(Int128 numerator, Int128 denominator, Rounding rounding) {
  Int128 q = numerator / denominator;  // truncates toward zero
  Int128 r = numerator % denominator;
  if (r == 0) return q;
  const bool negative = (numerator < 0) != (denominator < 0);
  const Int128 away = negative ? -1 : 1;
  const Int128 twice = (r < 0 ? -r : r) * 2;
  const Int128 den = denominator < 0 ? -denominator : denominator;
  switch (rounding) {
    case Rounding::down: return q;
    case Rounding::up: return q + away;
    case Rounding::half_up: return twice >= den ? q + away : q;
    case Rounding::half_even:
      if (twice > den) return q + away;
      if (twice < den) return q;
      return (q % 2 == 0) ? q : q + away;
  }
  return q;
}

std::expected<Money, std::string> Money::parse(std::string_view s, Currency c) {
  auto d = parse_decimal(s);
  if (!d) return std::unexpected(d.error());
  if (d->fraction_digits > c.exponent()) {
    return std::unexpected("'" + std::string(s) + "' has more decimals than " + std::string(c.code()) +
                           " allows (" + std::to_string(c.exponent()) + ")");
  }
  Int128 v = d->scaled * pow10_128(c.exponent() - d->fraction_digits);
  if (v > std::numeric_limits<std::int64_t>::max() || v < std::numeric_limits<std::int64_t>::min()) {
    return std::unexpected("'" + std::string(s) + "' is out of range for money");
  }
  return Money(static_cast<std::int64_t>(v), c);
}

std::string Money::to_decimal() const {
  const int e = currency_.exponent();
  // Work on the unsigned magnitude so INT64_MIN formats correctly.
  UInt128 mag = minor_ < 0 ? static_cast<UInt128>(-static_cast<Int128>(minor_))
                                     : static_cast<UInt128>(minor_);
  const auto unit = static_cast<UInt128>(kPow10[e]);
  auto whole = static_cast<std::uint64_t>(mag / unit);
  auto frac = static_cast<std::uint64_t>(mag % unit);
  std::string out = minor_ < 0 ? "-" : "";
  out += std::to_string(whole);
  if (e > 0) {
    std::string f = std::to_string(frac);
    out += '.';
    out.append(static_cast<std::size_t>(e) - f.size(), '0');
    out += f;
  }
  return out;
}

std::string Money::to_string() const { return to_decimal() + " " + std::string(currency_.code()); }

Money operator+(const Money& a, const Money& b) {
  require_same(a, b, "add");
  return Money(checked(static_cast<Int128>(a.minor_) + b.minor_, "addition"), a.currency_);
}

Money operator-(const Money& a, const Money& b) {
  require_same(a, b, "subtract");
  return Money(checked(static_cast<Int128>(a.minor_) - b.minor_, "subtraction"), a.currency_);
}

Money Money::operator-() const { return Money(checked(-static_cast<Int128>(minor_), "negation"), currency_); }

Money Money::times(std::int64_t count) const {
  return Money(checked(static_cast<Int128>(minor_) * count, "multiplication"), currency_);
}

Money Money::multiply(Ratio r, Rounding rounding) const {
  if (r.denominator <= 0) throw MoneyError("ratio denominator must be positive");
  Int128 product = static_cast<Int128>(minor_) * r.numerator;
  return Money(checked(divide_rounded(product, r.denominator, rounding), "multiplication"), currency_);
}

std::vector<Money> Money::allocate(std::span<const std::int64_t> weights) const {
  if (weights.empty()) throw MoneyError("allocation needs at least one weight");
  Int128 total_weight = 0;
  for (auto w : weights) {
    if (w < 0) throw MoneyError("allocation weights must not be negative");
    total_weight += w;
  }
  if (total_weight == 0) throw MoneyError("allocation weights must not all be zero");

  // Allocate the magnitude, then restore the sign, so negative amounts split symmetrically.
  const Int128 amount = minor_ < 0 ? -static_cast<Int128>(minor_) : minor_;
  std::vector<Int128> parts(weights.size());
  std::vector<Int128> remainders(weights.size());
  Int128 assigned = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const Int128 p = amount * weights[i];
    parts[i] = p / total_weight;
    remainders[i] = p % total_weight;
    assigned += parts[i];
  }
  std::vector<std::size_t> order(weights.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return remainders[x] > remainders[y]; });
  for (std::size_t k = 0; assigned < amount; ++k) {
    parts[order[k]] += 1;
    assigned += 1;
  }
  std::vector<Money> out;
  out.reserve(parts.size());
  for (auto p : parts) out.emplace_back(static_cast<std::int64_t>(minor_ < 0 ? -p : p), currency_);
  return out;
}

std::strong_ordering operator<=>(const Money& a, const Money& b) {
  require_same(a, b, "compare");
  return a.minor_ <=> b.minor_;
}

bool operator==(const Money& a, const Money& b) {
  require_same(a, b, "compare");
  return a.minor_ == b.minor_;
}

}  // namespace pactwatch::core
