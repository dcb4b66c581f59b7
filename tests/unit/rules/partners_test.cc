#include "pactwatch/rules/partners.h"

#include <gtest/gtest.h>

#include "pactwatch/rules/rule_set.h"
#include "temp_dir.h"

namespace pactwatch::rules {
namespace {

std::vector<std::string> problems(const std::string& yaml) {
  std::vector<std::string> out;
  auto r = parse_partners(yaml, "partners.yaml");
  if (!r) {
    for (const auto& d : r.error()) out.push_back(d.to_string());
  }
  return out;
}

TEST(Partners, ParsesAFullPartner) {
  auto r = parse_partners(R"(
partners:
  - id: northwind
    name: Northwind Support Ltd
    kind: outsourcer
    tier: gold
    contacts:
      - {role: account-manager, email: ops@northwind.example}
    external_ids:
      zendesk: 509974
      tag: [partner_northwind, nw]
  - id: contoso-eu
    name: Contoso EU
    kind: reseller
)",
                          "partners.yaml");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  const auto& nw = (*r)[0];
  EXPECT_EQ(nw.id, "northwind");
  EXPECT_EQ(nw.kind, "outsourcer");
  EXPECT_EQ(nw.tier, "gold");
  ASSERT_EQ(nw.contacts.size(), 1u);
  EXPECT_EQ(nw.contacts[0].email, "ops@northwind.example");
  EXPECT_EQ(nw.external_ids.at("zendesk"), std::vector<std::string>{"509974"});
  EXPECT_EQ(nw.external_ids.at("tag").size(), 2u);
  EXPECT_EQ((*r)[1].tier, "");
}

TEST(Partners, ReportsAllProblemsWithPositions) {
  auto p = problems(R"(partners:
  - id: Northwind
    name: N
    kind: outsorcer
  - id: dup
    name: A
    kind: var
  - id: dup
    kind: si
    treshold: 3
    contacts:
      - {role: x, email: not-an-email}
)");
  ASSERT_EQ(p.size(), 6u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "partners.yaml:2:9: partner 'Northwind': id must be a slug of lower-case letters, digits and '-' (at most 64)");
  EXPECT_EQ(p[1], "partners.yaml:4:11: partner 'Northwind': unknown kind 'outsorcer' (expected reseller, distributor, var, si, oem, outsourcer or supplier); did you mean 'outsourcer'?");
  EXPECT_EQ(p[2], "partners.yaml:10:5: partner 'dup': unknown key 'treshold'");
  EXPECT_EQ(p[3], "partners.yaml:8:9: partner 'dup': duplicate partner id");
  EXPECT_EQ(p[4], "partners.yaml:8:5: partner 'dup': missing required key 'name'");
  EXPECT_EQ(p[5], "partners.yaml:12:26: partner 'dup': 'not-an-email' is not an email address");
}

TEST(Partners, RejectsWrongShapes) {
  EXPECT_EQ(problems("[]\n").at(0), "partners.yaml:1:1: expected a mapping with a 'partners' list");
  EXPECT_EQ(problems("partners: {}\n").at(0), "partners.yaml:1:11: partners: expected a list");
  EXPECT_EQ(problems("other: 1\n").size(), 2u);
  EXPECT_FALSE(problems("partners:\n  - just-a-string\n").empty());
}

TEST(Partners, Slugs) {
  EXPECT_TRUE(is_slug("northwind"));
  EXPECT_TRUE(is_slug("contoso-eu-2"));
  EXPECT_FALSE(is_slug(""));
  EXPECT_FALSE(is_slug("-x"));
  EXPECT_FALSE(is_slug("x-"));
  EXPECT_FALSE(is_slug("Northwind"));
  EXPECT_FALSE(is_slug("north wind"));
  EXPECT_FALSE(is_slug(std::string(65, 'a')));
}

TEST(RuleSet, LoadsDirectoryAndReportsFileProblems) {
  testutils::TempDir dir;
  auto empty = load_rule_set(dir.path());
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->partners.empty());
  dir.write("partners.yaml", "partners:\n  - {id: a, name: A, kind: var}\n");
  auto one = load_rule_set(dir.path());
  ASSERT_TRUE(one);
  EXPECT_EQ(one->partners.size(), 1u);
  dir.write("partners.yaml", "partners:\n  - {id: a, name: A, kind: nope}\n");
  auto bad = load_rule_set(dir.path());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error()[0].file, (dir.path() / "partners.yaml").string());
  EXPECT_FALSE(load_rule_set(dir.path() / "missing"));
}

}  // namespace
}  // namespace pactwatch::rules

namespace pactwatch::rules {
namespace {

TEST(ShippedRules, DemoRulesAreValid) {
  auto set = load_rule_set(std::filesystem::path(PACTWATCH_SOURCE_DIR) / "rules" / "examples");
  ASSERT_TRUE(set) << set.error()[0].to_string();
  EXPECT_EQ(set->partners.size(), 4u);
}

}  // namespace
}  // namespace pactwatch::rules
