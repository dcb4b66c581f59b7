#include "pactwatch/rules/contract.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/rules/rule_set.h"

namespace pactwatch::rules {
namespace {

const std::filesystem::path kSource = PACTWATCH_SOURCE_DIR;

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every bad fixture (tests/rules/bad/NAME/, a rules directory) produces exactly the diagnostics
// in its expected.txt, in order, with paths relative to the fixture.
TEST(RuleFixtures, EveryBadFixtureGivesExactlyItsErrors) {
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSource / "tests/rules/bad")) {
    const auto dir = entry.path();
    auto report = check_rule_set(dir);
    std::string got;
    for (const auto& d : report.problems) {
      std::string line = d.to_string();
      const std::string prefix = dir.string() + "/";
      if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
      got += line + "\n";
    }
    EXPECT_FALSE(report.problems.empty()) << dir.filename();
    EXPECT_EQ(got, read(dir / "expected.txt")) << dir.filename();
    ++cases;
  }
  EXPECT_GE(cases, 15);
}

TEST(RuleFixtures, ShippedExamplesPassWithTheirStatus) {
  auto report = check_rule_set(kSource / "rules/examples");
  for (const auto& d : report.problems) ADD_FAILURE() << d.to_string();
  const auto& cs = report.set.contracts;
  ASSERT_EQ(cs.size(), 5u);
  std::map<std::string, bool> enforced;
  for (const auto& c : cs) enforced[c.contract + " v" + std::to_string(c.version)] = c.enforced;
  EXPECT_FALSE(enforced.at("contoso-resale v1"));  // the partner has not signed yet
  EXPECT_TRUE(enforced.at("northwind-support v2"));
  EXPECT_TRUE(enforced.at("northwind-support v3"));
  EXPECT_TRUE(enforced.at("fabrikam-field v1"));
  EXPECT_TRUE(enforced.at("tailspin-supply v1"));
  // Every rule in every shipped contract explains itself.
  for (const auto& c : cs) {
    for (const auto& k : c.kpis) EXPECT_FALSE(k.description.empty() || k.rationale.empty()) << c.contract << " " << k.id;
    for (const auto& s : c.brand_standards) EXPECT_FALSE(s.description.empty() || s.rationale.empty()) << s.id;
    for (const auto& o : c.obligations) EXPECT_FALSE(o.description.empty() || o.rationale.empty()) << o.id;
  }
}

const char* kContract = R"(# a comment
contract: support
version: 1
partner: northwind
effective: {from: 2026-01-01, until: 2026-12-31}
currency: EUR
calendar: desk
kpis:
  - id: p1_first_reply
    source: tickets
    where: priority == "urgent"
    measure: {ratio: first_reply <= 1h}
    objective: {target: ">= 95%", warning: ">= 97%"}
    min_sample: 20
)";

TEST(ContractHash, StableUnderFormattingChangesAndApprovals) {
  const auto h = *contract_hash(kContract, "a.yaml");
  EXPECT_EQ(h.size(), 64u);
  // Comments, whitespace, quoting, key order and flow vs block style do not change the meaning.
  const std::string reformatted = R"(calendar: "desk"
contract: 'support'
version: "1"
partner: northwind
currency: EUR
effective:
  until: 2026-12-31
  from: 2026-01-01
kpis:
  - objective:
      warning: ">= 97%"
      target: ">= 95%"
    min_sample: 20
    measure:
      ratio: first_reply <= 1h
    where: 'priority == "urgent"'
    source: tickets
    id: p1_first_reply     # trailing comment
)";
  EXPECT_EQ(*contract_hash(reformatted, "b.yaml"), h);
  const std::string approved = std::string(kContract) +
                               "approvals:\n  - {party: brand, by: a@b.example, at: 2026-01-01T00:00:00Z, sha256: " + h + "}\n";
  EXPECT_EQ(*contract_hash(approved, "c.yaml"), h);
}

TEST(ContractHash, ChangesWithAnyChangeOfMeaning) {
  const auto h = *contract_hash(kContract, "a.yaml");
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {">= 95%", ">= 96%"}, {"first_reply <= 1h", "first_reply <= 2h"}, {"until: 2026-12-31", "until: 2026-12-30"},
           {"min_sample: 20", "min_sample: 21"}, {"partner: northwind", "partner: contoso"}}) {
    std::string changed = kContract;
    changed.replace(changed.find(from), from.size(), to);
    EXPECT_NE(*contract_hash(changed, "x.yaml"), h) << from << " -> " << to;
  }
  // The hash is SHA-256 of the canonical form, which anyone can recompute.
  auto canonical = canonical_contract(kContract, "a.yaml");
  ASSERT_TRUE(canonical);
  EXPECT_EQ(core::sha256_hex(*canonical), h);
  EXPECT_EQ(canonical->substr(0, 23), R"({"calendar":"desk","con)");
  EXPECT_EQ(core::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Contract, EnforcedOnlyWithBothApprovalsOfTheCurrentHash) {
  const auto h = *contract_hash(kContract, "a.yaml");
  auto with = [&](const std::string& approvals) {
    return parse_contract(std::string(kContract) + "approvals:\n" + approvals, "c.yaml");
  };
  const std::string brand = "  - {party: brand, by: ops@brand.example, at: 2025-12-15T10:00:00Z, sha256: " + h + "}\n";
  const std::string partner = "  - {party: partner, by: coo@nw.example, at: 2025-12-16T09:30:00Z, sha256: " + h + "}\n";
  const std::string stale = "  - {party: partner, by: coo@nw.example, at: 2025-12-16T09:30:00Z, sha256: " +
                            std::string(64, 'a') + "}\n";
  auto both = with(brand + partner);
  ASSERT_TRUE(both);
  EXPECT_TRUE(both->enforced);
  EXPECT_EQ(both->status_note, "approved by ops@brand.example and coo@nw.example");
  auto only_brand = with(brand);
  EXPECT_FALSE(only_brand->enforced);
  EXPECT_EQ(only_brand->status_note, "missing the partner approval");
  auto old = with(brand + stale);
  EXPECT_FALSE(old->enforced);
  EXPECT_NE(old->status_note.find("is for other content (aaaaaaaaaaaa"), std::string::npos) << old->status_note;
  auto none = parse_contract(kContract, "c.yaml");
  EXPECT_FALSE(none->enforced);
  EXPECT_EQ(none->status_note, "not approved");
}

TEST(Contract, ParsesEveryPart) {
  auto c = load_contract(kSource / "rules/examples/contracts/northwind-support-v3.yaml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ(c->contract, "northwind-support");
  EXPECT_EQ(c->version, 3);
  EXPECT_EQ(c->period.kind, Period::Kind::month);
  EXPECT_EQ(c->pause_in.at("resolution"), (std::set<std::string>{"hold", "pending"}));
  ASSERT_EQ(c->kpis.size(), 7u);
  const auto& p1 = c->kpis[0];
  EXPECT_EQ(p1.id, "p1_first_reply");
  EXPECT_EQ(p1.measure.kind, MeasureKind::ratio);
  EXPECT_EQ(p1.min_sample, 20);
  EXPECT_EQ(literal_text(p1.objective.target.value), "95/100");
  ASSERT_TRUE(p1.objective.warning);
  const auto& p90 = c->kpis[4];
  EXPECT_EQ(p90.measure.kind, MeasureKind::percentile);
  EXPECT_EQ(p90.measure.percentile, 90);
  EXPECT_EQ(p90.measure.type, ValueType::duration);
  ASSERT_EQ(c->brand_standards.size(), 2u);
  EXPECT_EQ(c->brand_standards[1].severity, Severity::critical);
  ASSERT_EQ(c->obligations.size(), 1u);
  EXPECT_EQ(c->obligations[0].id, "escalation_ack");
  EXPECT_TRUE(c->in_effect_on(*calendar::parse_date("2026-06-30")));
  EXPECT_FALSE(c->in_effect_on(*calendar::parse_date("2027-01-01")));
  auto rolling = parse_contract(std::string(kContract) + "period: {rolling: 30d}\n", "r.yaml");
  ASSERT_TRUE(rolling);
  EXPECT_EQ(rolling->period.kind, Period::Kind::rolling);
  EXPECT_EQ(rolling->period.rolling, std::chrono::hours(24 * 30));
}

// The disputes block: what may be disputed and for how long; it is part of the content both
// parties approve, so it changes the hash.
TEST(ContractParse, DisputeTermsAndTheirErrors) {
  const std::string with = std::string(kContract) +
                           "disputes: {window: 10d, categories: [misattributed, brand_caused, brand_caused], pre_agreed: [brand_caused]}\n";
  auto c = parse_contract(with, "d.yaml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  ASSERT_TRUE(c->disputes.has_value());
  EXPECT_EQ(c->disputes->window_days, 10);
  EXPECT_EQ(c->disputes->categories,
            (std::vector<core::DisputeCategory>{core::DisputeCategory::misattributed, core::DisputeCategory::brand_caused}));
  EXPECT_EQ(c->disputes->pre_agreed, std::vector<core::DisputeCategory>{core::DisputeCategory::brand_caused});
  EXPECT_TRUE(c->disputes->allows(core::DisputeCategory::misattributed));
  EXPECT_FALSE(c->disputes->allows(core::DisputeCategory::other));
  EXPECT_NE(c->sha256, parse_contract(kContract, "d.yaml")->sha256);
  EXPECT_FALSE(parse_contract(kContract, "d.yaml")->disputes.has_value()) << "no block: nothing may be disputed";

  auto errors = [&](const std::string& block) {
    std::string out;
    auto r = parse_contract(std::string(kContract) + block, "d.yaml");
    if (!r) {
      for (const auto& d : r.error()) out += d.message + "\n";
    }
    return out;
  };
  EXPECT_NE(errors("disputes: {window: 36h, categories: [other]}\n").find("whole number of days"), std::string::npos);
  EXPECT_NE(errors("disputes: {window: 10d, categories: [brand_casued]}\n").find("did you mean 'brand_caused'"), std::string::npos);
  EXPECT_NE(errors("disputes: {window: 10d}\n").find("missing required key 'categories'"), std::string::npos);
  EXPECT_NE(errors("disputes: {window: 10d, categories: [other], pre_agreed: [force_majeure]}\n").find("not among the categories"),
            std::string::npos);
  EXPECT_NE(errors("disputes: {window: 10d, categories: [other], until: 2026-12-31}\n").find("until"), std::string::npos);
  EXPECT_NE(errors("disputes: 10d\n").find("expected {window"), std::string::npos);
}

}  // namespace
}  // namespace pactwatch::rules
