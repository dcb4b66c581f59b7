// The term-by-term comparison of two contract versions (rules/compare.h), on the shipped example
// contracts: checked against a rule-level reference (a rule changed exactly when its JSON differs)
// over random edits, and leaf by leaf (one edited term is reported once, with both values).
#include "pactwatch/rules/compare.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>
#include <set>

#include "pactwatch/rules/approvals.h"
#include "pactwatch/rules/rule_set.h"

namespace pactwatch::rules {
namespace {

using nlohmann::json;
const std::filesystem::path kSource = PACTWATCH_SOURCE_DIR;

std::string canonical(const std::string& contract, int version) {
  auto set = load_rule_set(kSource / "rules/examples");
  EXPECT_TRUE(set.has_value());
  auto v = find_version(*set, contract, version);
  EXPECT_TRUE(v.has_value());
  auto c = canonical_of(**v);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error());
  return *c;
}

// Every scalar's location in a JSON document, as a JSON pointer.
void leaf_pointers(const json& v, const json::json_pointer& at, std::vector<json::json_pointer>& out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [k, c] : v.items()) leaf_pointers(c, at / k, out);
  } else if (v.is_array() && !v.empty()) {
    for (std::size_t i = 0; i < v.size(); ++i) leaf_pointers(v[i], at / i, out);
  } else {
    out.push_back(at);
  }
}

bool rule_section(const std::string& s) { return s == "kpis" || s == "brand_standards" || s == "obligations"; }

// The reference: which rules differ, by their JSON, and which other sections differ.
struct Expected {
  std::map<std::pair<std::string, std::string>, RuleChange::Kind> rules;
  std::set<std::string> sections;
};
Expected reference(const json& a, const json& b) {
  Expected out;
  std::set<std::string> keys;
  for (const auto& [k, _] : a.items()) keys.insert(k);
  for (const auto& [k, _] : b.items()) keys.insert(k);
  for (const auto& k : keys) {
    if (k == "version") continue;
    if (rule_section(k)) {
      std::map<std::string, json> ra, rb;
      if (a.contains(k)) for (const auto& r : a[k]) ra[r["id"].get<std::string>()] = r;
      if (b.contains(k)) for (const auto& r : b[k]) rb[r["id"].get<std::string>()] = r;
      for (const auto& [id, r] : ra) {
        if (!rb.count(id)) out.rules[{k, id}] = RuleChange::Kind::dropped;
        else if (rb[id] != r) out.rules[{k, id}] = RuleChange::Kind::changed;
      }
      for (const auto& [id, r] : rb) {
        if (!ra.count(id)) out.rules[{k, id}] = RuleChange::Kind::added;
      }
    } else if (a.value(k, json()) != b.value(k, json())) {
      out.sections.insert(k);
    }
  }
  return out;
}

TEST(Compare, SameContentHasNoChange) {
  const auto c = canonical("northwind-support", 3);
  auto cmp = compare_contracts(c, c);
  ASSERT_TRUE(cmp.has_value());
  EXPECT_TRUE(cmp->terms.empty());
  EXPECT_TRUE(cmp->rules.empty());
}

TEST(Compare, FirstVersionHasEveryTermNew) {
  const auto c = canonical("northwind-support", 3);
  auto cmp = compare_contracts("", c);
  ASSERT_TRUE(cmp.has_value());
  std::vector<json::json_pointer> leaves;
  leaf_pointers(json::parse(c), json::json_pointer(), leaves);
  ASSERT_FALSE(cmp->terms.empty());
  for (const auto& t : cmp->terms) {
    EXPECT_FALSE(t.before.has_value());
    EXPECT_TRUE(t.after.has_value());
  }
  for (const auto& r : cmp->rules) EXPECT_EQ(r.kind, RuleChange::Kind::added) << r.rule;
}

TEST(Compare, TwoShippedVersionsAgreeWithTheReference) {
  const auto a = canonical("northwind-support", 2), b = canonical("northwind-support", 3);
  auto cmp = compare_contracts(a, b);
  ASSERT_TRUE(cmp.has_value());
  const auto want = reference(json::parse(a), json::parse(b));
  std::map<std::pair<std::string, std::string>, RuleChange::Kind> got;
  for (const auto& r : cmp->rules) got[{r.section, r.rule}] = r.kind;
  EXPECT_EQ(got, want.rules);
  std::set<std::string> sections;
  for (const auto& t : cmp->terms) {
    if (t.rule.empty()) sections.insert(t.section);
  }
  EXPECT_EQ(sections, want.sections);
}

TEST(Compare, RandomEditsAgreeWithTheReferenceAndEachEditedTermIsReportedOnce) {
  const json base = json::parse(canonical("northwind-support", 3));
  std::vector<json::json_pointer> leaves;
  leaf_pointers(base, json::json_pointer(), leaves);
  std::mt19937 rng(20261203);
  for (int round = 0; round < 500; ++round) {
    json edited = base;
    std::set<std::string> edited_leaves;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const auto& at = leaves[rng() % leaves.size()];
      if (at.to_string() == "/version" || at.back() == "id") continue;
      edited[at] = edited[at].is_string() ? json(edited[at].get<std::string>() + "x" + std::to_string(round)) : json("n");
      edited_leaves.insert(at.to_string());
    }
    // Now and then a rule dropped or a new one added.
    if (round % 7 == 0 && edited["kpis"].size() > 1) edited["kpis"].erase(edited["kpis"].begin());
    if (round % 11 == 0) edited["kpis"].push_back(json{{"id", "new_" + std::to_string(round)}, {"target", "99%"}});
    auto cmp = compare_contracts(base.dump(), edited.dump());
    ASSERT_TRUE(cmp.has_value()) << cmp.error();
    const auto want = reference(base, edited);
    std::map<std::pair<std::string, std::string>, RuleChange::Kind> got;
    for (const auto& r : cmp->rules) got[{r.section, r.rule}] = r.kind;
    EXPECT_EQ(got, want.rules) << "round " << round;
    // Without drops and additions, exactly the edited leaves are reported, with both values.
    if (round % 7 != 0 && round % 11 != 0) {
      EXPECT_EQ(cmp->terms.size(), edited_leaves.size()) << "round " << round;
      for (const auto& t : cmp->terms) {
        EXPECT_TRUE(t.before && t.after) << t.section << " " << t.rule << " " << t.path;
        EXPECT_NE(t.before, t.after);
      }
    }
    for (std::size_t i = 1; i < cmp->terms.size(); ++i) {
      const auto& p = cmp->terms[i - 1];
      const auto& q = cmp->terms[i];
      EXPECT_LT(std::tie(p.section, p.rule, p.path), std::tie(q.section, q.rule, q.path));
    }
  }
}

TEST(Compare, NotACanonicalFormIsAnError) {
  auto cmp = compare_contracts("[1,2]", canonical("northwind-support", 3));
  ASSERT_FALSE(cmp.has_value());
  EXPECT_NE(cmp.error().find("version in force"), std::string::npos);
}

TEST(Compare, ACanonicalFormIsReadBackOnlyWhileTheFileIsUnchanged) {
  auto set = load_rule_set(kSource / "rules/examples");
  ASSERT_TRUE(set.has_value());
  auto v = **find_version(*set, "northwind-support", 3);
  v.sha256 = std::string(64, '0');
  auto c = canonical_of(v);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("changed since"), std::string::npos);
  v.file = "/nonexistent/contract.yaml";
  EXPECT_FALSE(canonical_of(v).has_value());
}

}  // namespace
}  // namespace pactwatch::rules
