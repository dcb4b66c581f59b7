// The route stage alone: the channel's filter, the contract's notify block, partner channels to
// the partner's contacts and never for a contract that is not enforced.
#include <gtest/gtest.h>

#include "pactwatch/notify/stages.h"

namespace pactwatch::notify {
namespace {

store::OutboxEvent event(const std::string& type) {
  store::OutboxEvent e;
  e.id = type + "/support/3/2026-10/kpi:p1/1";
  e.type = type;
  e.partner = "northwind";
  e.contract = "support";
  e.version = 3;
  e.period = "2026-10";
  e.subject = "kpi:p1";
  return e;
}

config::ChannelConfig channel(const std::string& audience = "brand") {
  config::ChannelConfig c;
  c.name = "ch";
  c.type = audience == "partner" ? "email" : "webhook";
  c.audience = audience;
  c.to = {"ops@brand.example"};
  return c;
}

// A rule set with northwind's contract `support` v3, its notify block as given.
rules::RuleSet rule_set(bool enforced, std::optional<std::vector<std::string>> brand, std::vector<std::string> partner,
                        std::vector<rules::Contact> contacts = {{"account-manager", "ops@northwind.example"},
                                                                {"finance", "billing@northwind.example"}}) {
  rules::RuleSet set;
  rules::PartnerDef nw;
  nw.id = "northwind";
  nw.contacts = std::move(contacts);
  set.partners = {nw};
  rules::ContractVersion v;
  v.contract = "support";
  v.version = 3;
  v.partner = "northwind";
  v.enforced = enforced;
  v.notify_brand = std::move(brand);
  v.notify_partner = std::move(partner);
  set.contracts = {v};
  return set;
}

TEST(Route, WithoutRulesTheChannelsFilterAlone) {
  auto ch = channel();
  EXPECT_TRUE(route(ch, event("kpi.breached"), nullptr).send) << "no filter: every event";
  ch.events = {"kpi.breached", "kpi.recovered"};
  EXPECT_TRUE(route(ch, event("kpi.breached"), nullptr).send);
  EXPECT_FALSE(route(ch, event("standard.violated"), nullptr).send);
  EXPECT_EQ(route(ch, event("kpi.breached"), nullptr).recipients, std::vector<std::string>{"ops@brand.example"});
}

TEST(Route, BrandChannelsGetTheContractsBrandList) {
  const auto set = rule_set(true, std::vector<std::string>{"standard.violated"}, {"kpi.breached"});
  EXPECT_TRUE(route(channel(), event("standard.violated"), &set).send);
  EXPECT_FALSE(route(channel(), event("kpi.breached"), &set).send);
  // Narrowed further by the channel's own filter.
  auto ch = channel();
  ch.events = {"kpi.breached"};
  EXPECT_FALSE(route(ch, event("standard.violated"), &set).send);
}

TEST(Route, BrandChannelsGetEverythingWhenTheContractNamesNoBrandList) {
  const auto set = rule_set(true, std::nullopt, {"kpi.breached"});
  EXPECT_TRUE(route(channel(), event("kpi.at_risk"), &set).send);
  EXPECT_TRUE(route(channel(), event("statement.closed"), &set).send);
  // Another contract's (or version's) block does not apply.
  auto other = event("kpi.at_risk");
  other.version = 4;
  const auto narrow = rule_set(true, std::vector<std::string>{}, {});
  EXPECT_FALSE(route(channel(), event("kpi.at_risk"), &narrow).send) << "an empty brand list sends nothing";
  EXPECT_TRUE(route(channel(), other, &narrow).send) << "v4 is not in the rule set: the channel's filter alone";
}

TEST(Route, PartnerChannelsGoToThePartnersContactsWithThePartnersList) {
  const auto set = rule_set(true, std::nullopt, {"kpi.breached"});
  const auto r = route(channel("partner"), event("kpi.breached"), &set);
  EXPECT_TRUE(r.send);
  EXPECT_EQ(r.recipients, (std::vector<std::string>{"ops@northwind.example", "billing@northwind.example"}))
      << "the partner's contacts, not the channel's `to`";
  EXPECT_FALSE(route(channel("partner"), event("kpi.at_risk"), &set).send) << "not in the partner's list";
}

TEST(Route, PartnerChannelsNeverGetADraftNorAnythingWithoutRulesOrContacts) {
  const auto draft = rule_set(false, std::nullopt, {"kpi.breached"});
  EXPECT_FALSE(route(channel("partner"), event("kpi.breached"), &draft).send) << "a draft never notifies the partner";
  EXPECT_FALSE(route(channel("partner"), event("kpi.breached"), nullptr).send) << "no contract known: nothing to the partner";
  const auto no_mail = rule_set(true, std::nullopt, {"kpi.breached"}, {{"account-manager", ""}});
  const auto r = route(channel("partner"), event("kpi.breached"), &no_mail);
  EXPECT_FALSE(r.send) << "no contact with an address";
  EXPECT_TRUE(r.recipients.empty());
  const auto set = rule_set(true, std::nullopt, {"kpi.breached"});
  auto elsewhere = event("kpi.breached");
  elsewhere.partner = "contoso";  // not in partners.yaml: nobody to write to
  EXPECT_FALSE(route(channel("partner"), elsewhere, &set).send);
}

// The acts on an agreement go to the party that did not act, whatever the version's notify block
// says (it is part of what is being agreed) and though the version is not enforced; the
// agreement itself goes to both.
TEST(Route, ContractEventsGoToThePartyThatDidNotAct) {
  const auto draft = rule_set(false, std::vector<std::string>{}, {});
  auto by = [](const std::string& type, const std::string& subject) {
    auto e = event(type);
    e.period.clear();
    e.subject = subject;
    return e;
  };
  EXPECT_TRUE(route(channel("partner"), by("contract.proposed", "brand"), &draft).send);
  EXPECT_FALSE(route(channel("brand"), by("contract.proposed", "brand"), &draft).send);
  EXPECT_TRUE(route(channel("brand"), by("contract.approved", "partner"), &draft).send);
  EXPECT_FALSE(route(channel("partner"), by("contract.approved", "partner"), &draft).send);
  EXPECT_TRUE(route(channel("brand"), by("contract.rejected", "partner"), &draft).send);
  EXPECT_TRUE(route(channel("partner"), by("contract.withdrawn", "brand"), &draft).send);
  for (const char* audience : {"brand", "partner"}) {
    EXPECT_TRUE(route(channel(audience), by("contract.enforced", "agreement"), &draft).send) << audience;
  }
  // To the partner's contacts; narrowed by the channel's own filter like any event.
  EXPECT_EQ(route(channel("partner"), by("contract.proposed", "brand"), &draft).recipients,
            (std::vector<std::string>{"ops@northwind.example", "billing@northwind.example"}));
  auto ch = channel("partner");
  ch.events = {"kpi.breached"};
  EXPECT_FALSE(route(ch, by("contract.proposed", "brand"), &draft).send);
  const auto no_mail = rule_set(false, std::nullopt, {}, {{"account-manager", ""}});
  EXPECT_FALSE(route(channel("partner"), by("contract.proposed", "brand"), &no_mail).send) << "no contact with an address";
}

}  // namespace
}  // namespace pactwatch::notify
