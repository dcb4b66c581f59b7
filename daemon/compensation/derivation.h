// Private to compensation: exact amounts as text, and the tape of steps that derives each statement
// line's amount (docs/compensation.md, "Derivations"). Anyone can redo the steps; the last result
// is the line's amount.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/core/money.h"
#include "pactwatch/engine/item_values.h"
#include "pactwatch/rules/contract.h"

namespace pactwatch::compensation::derivation {

using core::Int128;
using core::Money;
using core::Ratio;
using nlohmann::json;

Int128 gcd128(Int128 a, Int128 b);
// -1, 0, 1 as a < b, a == b, a > b (exactly, by cross-multiplication).
int compare(const Ratio& a, const Ratio& b);
bool holds(const Ratio& value, const rules::Threshold& t);
// A ratio as a percentage with two decimals, for people ("93.75%"); "≈" marks a rounded one.
std::string percent(const Ratio& r);
// |v| as decimal text with `decimals` digits after the point ("0.05" for 5 and 2).
std::string decimal(Int128 v, int decimals);
// The exact value of amount × ratio, to four more decimals than the currency has.
std::string exact(const Money& m, const Ratio& r);
// An exact decimal when the ratio has one of at most six decimals ("2.5"), else a fraction ("1/3").
std::string text(const Ratio& r);
// A share as a percentage ("12%", "33.5%"), exactly, or a fraction when it has no short decimal.
std::string pct(const Ratio& r);

// The steps that produce a line's amount (docs/compensation.md, "Derivations"), in order: each
// one operation on amounts written out or produced by an earlier step (referred to by its
// number), with its result. Anyone can redo them; the last result is the line's amount.
class Tape {
 public:
  using Ref = std::variant<int, Money>;  // an earlier step, or an amount written out

  Tape(core::Currency currency, core::Rounding rounding) : currency_(currency), rounding_(rounding) {}

  int given(const Money& m, std::string what) {
    return push({{"op", "given"}, {"value", m.to_decimal()}}, m, std::move(what));
  }
  int multiply(const Ref& of, const Ratio& by, std::string what) {
    const Money a = value(of);
    const Money out = a.multiply(by, rounding_);
    json s{{"op", "multiply"}, {"of", ref_json(of)}, {"by", by_text(by)}, {"rounding", std::string(core::to_string(rounding_))},
           {"formula", a.to_decimal() + " × " + by_text(by)}};
    const std::string x = exact(a, by);
    if (x.find("…") != std::string::npos || x != out.to_decimal()) s["exact"] = x;
    return push(std::move(s), out, std::move(what));
  }
  int sum(const std::vector<Ref>& of, std::string what) {
    Money out = Money::zero(currency_);
    json refs = json::array();
    std::string formula;
    for (const auto& r : of) {
      out += value(r);
      refs.push_back(ref_json(r));
      formula += (formula.empty() ? "" : " + ") + value(r).to_decimal();
    }
    return push({{"op", "sum"}, {"of", refs}, {"formula", formula.empty() ? "nothing" : formula}}, out, std::move(what));
  }
  int subtract(const Ref& from, const Ref& minus, std::string what) {
    const Money out = value(from) - value(minus);
    return push({{"op", "subtract"}, {"of", ref_json(from)}, {"minus", ref_json(minus)},
                 {"formula", value(from).to_decimal() + " − " + value(minus).to_decimal()}},
                out, std::move(what));
  }
  int negate(const Ref& of, std::string what) {
    return push({{"op", "negate"}, {"of", ref_json(of)}, {"formula", "−" + value(of).to_decimal()}}, -value(of), std::move(what));
  }
  // Part `index` of `total` split in proportion to `weights` by largest remainder.
  int allocate(const Ref& total, const std::vector<Money>& weights, std::size_t index, std::string what) {
    std::vector<std::int64_t> w;
    json wj = json::array();
    for (const auto& m : weights) {
      w.push_back(m.minor_units());
      wj.push_back(m.to_decimal());
    }
    const auto parts = value(total).allocate(w);
    return push({{"op", "allocate"}, {"total", ref_json(total)}, {"weights", wj}, {"index", index},
                 {"formula", "part " + std::to_string(index + 1) + " of " + value(total).to_decimal() + " split " +
                                 [&] {
                                   std::string t;
                                   for (const auto& m : weights) t += (t.empty() ? "" : " : ") + m.to_decimal();
                                   return t;
                                 }() + " by largest remainder"}},
                parts.at(index), std::move(what));
  }

  [[nodiscard]] Money value(const Ref& r) const { return r.index() == 0 ? results_.at(static_cast<std::size_t>(std::get<0>(r)) - 1) : std::get<1>(r); }
  [[nodiscard]] const json& steps() const { return steps_; }
  [[nodiscard]] Money last() const { return results_.back(); }

 private:
  static std::string by_text(const Ratio& r) { return pct(r); }
  static json ref_json(const Ref& r) { return r.index() == 0 ? json(std::get<0>(r)) : json(std::get<1>(r).to_decimal()); }
  int push(json step, const Money& result, std::string what) {
    const int n = static_cast<int>(results_.size()) + 1;
    step["step"] = n;
    step["what"] = std::move(what);
    step["result"] = result.to_decimal();
    steps_.push_back(std::move(step));
    results_.push_back(result);
    return n;
  }
  core::Currency currency_;
  core::Rounding rounding_;
  json steps_ = json::array();
  std::vector<Money> results_;
};

}  // namespace pactwatch::compensation::derivation
