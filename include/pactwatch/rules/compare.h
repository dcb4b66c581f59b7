// What a proposed contract version changes, term by term, against another version (the one in
// force): every target, weight, KPI, brand standard, obligation and compensation term that
// differs, found by comparing the two versions' canonical forms (rules::canonical_contract) leaf
// by leaf, so that no term of the contract language can be left out of the comparison.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/rules/contract.h"

namespace pactwatch::rules {

// One term that differs. `section` is the contract's top-level key ("kpis", "compensation",
// "effective", ...); `rule` the id of the KPI, standard or obligation within kpis, brand_standards
// or obligations ("" elsewhere); `path` the term within it, dotted ("target", "tiers[1].pay",
// "" for the rule or section as a whole). A term only in the proposal has no `before`; one
// dropped from it has no `after`. Values are the canonical form's text.
struct TermChange {
  std::string section;
  std::string rule;
  std::string path;
  std::optional<std::string> before;
  std::optional<std::string> after;
  friend bool operator==(const TermChange&, const TermChange&) = default;
};

// Rules in `before` and `after` that are new (`added`), dropped or changed, by id.
struct RuleChange {
  std::string section;
  std::string rule;
  enum class Kind { added, dropped, changed } kind = Kind::changed;
};

struct Comparison {
  std::vector<TermChange> terms;  // sorted by section, rule, path
  std::vector<RuleChange> rules;  // sorted by section, rule
};

// Compares two canonical forms (`before` empty: a first version, every term new). The version
// number itself is not a term. An error when either is not a canonical form.
[[nodiscard]] std::expected<Comparison, std::string> compare_contracts(std::string_view before, std::string_view after);

}  // namespace pactwatch::rules
