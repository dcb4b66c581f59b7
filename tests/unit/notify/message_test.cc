// What the channels put in a message, for every kind of event: the one line of text (Slack, the
// email's subject), the CloudEvent's data with its links, and the email's headers. The channel
// tests look at one breach on the wire; these look at each event type without one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pactwatch/notify/message.h"

namespace pactwatch::notify {
namespace {

using nlohmann::json;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

store::OutboxEvent event(const std::string& type, const std::string& subject, const std::string& payload) {
  store::OutboxEvent e;
  e.id = type + "/support/3/2026-10/" + subject + "/1792458000000";
  e.type = type;
  e.partner = "northwind";
  e.contract = "support";
  e.version = 3;
  e.period = "2026-10";
  e.subject = subject;
  e.created_at = T("2026-10-20T01:00:00Z");
  e.payload = payload;
  return e;
}

TEST(EventText, EachTypeInWords) {
  const std::string from = R"({"from":"met"})";
  EXPECT_EQ(event_text(event("kpi.breached", "kpi:p1", from)), "pactwatch: northwind support v3 2026-10: kpi:p1 breached (was met)");
  EXPECT_EQ(event_text(event("kpi.at_risk", "kpi:p1", from)), "pactwatch: northwind support v3 2026-10: kpi:p1 at risk (was met)");
  EXPECT_EQ(event_text(event("kpi.recovered", "kpi:p1", R"({"from":"breached"})")),
            "pactwatch: northwind support v3 2026-10: kpi:p1 recovered (was breached)");
  EXPECT_EQ(event_text(event("standard.violated", "standard:pci", from)),
            "pactwatch: northwind support v3 2026-10: standard:pci violated (was met)");
  EXPECT_EQ(event_text(event("obligation.breached", "obligation:approve", from)),
            "pactwatch: northwind support v3 2026-10: obligation:approve breached (brand obligation) (was met)");
  EXPECT_EQ(event_text(event("statement.closed", "statement", "{}")),
            "pactwatch: northwind support v3 2026-10: statement statement closed");
}

TEST(EventText, EachContractActInWordsWithWhoActedAndWhy) {
  auto contract = [](const std::string& type, const std::string& party, const json& extra) {
    json p{{"party", party}, {"by", party == "brand" ? "ops@brand.example" : "coo@northwind.example"}, {"effective_from", "2027-01-01"}};
    p.update(extra);
    return event_text(event(type, party, p.dump()));
  };
  EXPECT_EQ(contract("contract.proposed", "brand", {{"act", "propose"}}), "pactwatch: support v3 (northwind) proposed by the brand ops@brand.example");
  EXPECT_EQ(contract("contract.approved", "partner", {{"act", "approve"}}),
            "pactwatch: support v3 (northwind) approved by the partner coo@northwind.example");
  EXPECT_EQ(contract("contract.rejected", "partner", {{"act", "reject"}, {"comment", "the cap is too low"}}),
            "pactwatch: support v3 (northwind) rejected by the partner coo@northwind.example: the cap is too low");
  EXPECT_EQ(contract("contract.rejected", "brand", {{"act", "request_changes"}, {"comment", "add QA"}}),
            "pactwatch: support v3 (northwind) changes requested by the brand ops@brand.example: add QA");
  EXPECT_EQ(contract("contract.withdrawn", "brand", {{"act", "withdraw"}}),
            "pactwatch: support v3 (northwind) withdrawn by the brand ops@brand.example");
  EXPECT_EQ(contract("contract.enforced", "agreement", {{"act", "approve"}}),
            "pactwatch: support v3 (northwind) agreed by both parties; enforced from 2027-01-01");
}

TEST(EventText, AnUnknownTypeIsNamedAndAPayloadWithoutFromAddsNothing) {
  EXPECT_EQ(event_text(event("kpi.renamed", "kpi:p1", "{}")), "pactwatch: northwind support v3 2026-10: kpi:p1 kpi.renamed");
  EXPECT_EQ(event_text(event("kpi.breached", "kpi:p1", "not json")), "pactwatch: northwind support v3 2026-10: kpi:p1 breached");
  EXPECT_EQ(event_text(event("kpi.breached", "kpi:p1", R"({"from":3})")), "pactwatch: northwind support v3 2026-10: kpi:p1 breached");
}

TEST(CloudEvent, DataCarriesThePayloadTheLinksAndWhoseItIs) {
  const auto ce = json::parse(cloudevent(event("kpi.at_risk", "kpi:p1", R"({"rule":"kpi:p1","to":"at_risk"})")));
  EXPECT_EQ(ce["type"], "pactwatch.kpi.at_risk");
  EXPECT_EQ(ce["source"], "pactwatch");
  EXPECT_EQ(ce["time"], "2026-10-20T01:00:00Z");
  EXPECT_EQ(ce["datacontenttype"], "application/json");
  const auto& data = ce["data"];
  EXPECT_EQ(data["to"], "at_risk");
  EXPECT_EQ(data["partner"], "northwind");
  EXPECT_EQ(data["contract"], json({{"id", "support"}, {"version", 3}}));
  EXPECT_EQ(data["period"], "2026-10");
  EXPECT_EQ(data["standing"], "/v1/partners/northwind/kpis?period=2026-10");
  EXPECT_EQ(data["evidence"], "/v1/partners/northwind/kpis/p1/evidence?period=2026-10&contract=support&version=3");
}

TEST(CloudEvent, AStatementLinksItsStatementsAndABrokenPayloadBecomesAnObject) {
  const auto ce = json::parse(cloudevent(event("statement.closed", "statement", "[1, 2")));
  const auto& data = ce["data"];
  ASSERT_TRUE(data.is_object());
  EXPECT_EQ(data["statements"], "/v1/partners/northwind/statements?period=2026-10");
  EXPECT_FALSE(data.contains("evidence"));
  EXPECT_EQ(data["partner"], "northwind");
}

TEST(WebhookSignature, TheKeyWithOrWithoutItsPrefixSignsTheSame) {
  const std::string key = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  EXPECT_EQ(webhook_signature("whsec_" + key, "msg_1", 1614265330, "{}"), webhook_signature(key, "msg_1", 1614265330, "{}"));
  EXPECT_NE(webhook_signature(key, "msg_1", 1614265330, "{}"), webhook_signature(key, "msg_2", 1614265330, "{}"));
  EXPECT_NE(webhook_signature(key, "msg_1", 1614265330, "{}"), webhook_signature(key, "msg_1", 1614265331, "{}"));
}

TEST(EmailMessage, HeadersThenTheTextThenTheDetails) {
  config::ChannelConfig c;
  c.from = "pactwatch@brand.example";
  const auto e = event("kpi.recovered", "kpi:p1", R"({"from":"breached"})");
  const auto msg = email_message(c, {"ops@brand.example"}, e, T("2026-10-20T01:00:05Z") + std::chrono::milliseconds(750));
  const auto body_at = msg.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  const std::string head = msg.substr(0, body_at + 2);
  EXPECT_TRUE(head.starts_with("From: pactwatch@brand.example\r\nTo: ops@brand.example\r\n")) << head;
  EXPECT_NE(head.find("Subject: " + event_text(e) + "\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Date: Tue, 20 Oct 2026 01:00:05 +0000\r\n"), std::string::npos) << "whole seconds: " << head;
  EXPECT_NE(head.find("@pactwatch>\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos) << head;
  const std::string body = msg.substr(body_at + 4);
  EXPECT_TRUE(body.starts_with(event_text(e) + "\r\n\r\nEvent: kpi.recovered\r\nPartner: northwind\r\nContract: support v3\r\n"
                                               "Period: 2026-10\r\nDetails: "))
      << body;
  const auto details = json::parse(body.substr(body.find("Details: ") + 9));
  EXPECT_EQ(details["from"], "breached");
  EXPECT_EQ(details["standing"], "/v1/partners/northwind/kpis?period=2026-10");
}

}  // namespace
}  // namespace pactwatch::notify
