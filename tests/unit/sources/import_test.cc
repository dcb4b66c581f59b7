#include "pactwatch/sources/import.h"

#include <gtest/gtest.h>

namespace pactwatch::sources {
namespace {

std::vector<rules::PartnerDef> partners() {
  rules::PartnerDef nw;
  nw.id = "northwind";
  nw.external_ids["zendesk"] = {"509974"};
  nw.external_ids["tag"] = {"partner_nw"};
  rules::PartnerDef contoso;
  contoso.id = "contoso";
  contoso.external_ids["hubspot"] = {"8812001"};
  return {nw, contoso};
}

ImportOptions opts(const char* kind, ImportFormat f = ImportFormat::ndjson, const char* source = "zendesk") {
  ImportOptions o;
  o.kind = kind;
  o.format = f;
  o.source = source;
  return o;
}

TEST(Import, NdjsonTicketsWithAttribution) {
  const char* text =
      R"({"id": 1, "account": "509974", "priority": "urgent", "status": "solved", "created_at": "2026-10-05T08:00:00Z", "solved_at": "2026-10-05T12:00:00Z", "tags": ["vip"], "agent_replies": ["2026-10-05T08:30:00Z"]}
{"id": "2", "created_at": "2026-10-05T09:00:00Z", "tags": ["partner_nw"]}

{"id": 3, "partner": "contoso", "created_at": "2026-10-05T10:00:00Z"}
{"id": 4, "account": "999", "created_at": "2026-10-05T11:00:00Z"}
)";
  auto r = parse_import(text, "t.ndjson", opts("tickets"), partners());
  ASSERT_TRUE(r.bad_lines.empty()) << r.bad_lines[0].to_string();
  ASSERT_EQ(r.items.size(), 4u);
  EXPECT_EQ(r.items[0].partner_id, "northwind");  // by account in its source
  EXPECT_EQ(r.items[1].partner_id, "northwind");  // by tag
  EXPECT_EQ(r.items[2].partner_id, "contoso");    // explicit
  EXPECT_FALSE(r.items[3].partner_id);            // counted, kept
  EXPECT_EQ(r.unattributed, 1);
  EXPECT_EQ(r.items[0].external_id, "1");
  EXPECT_EQ(r.items[0].source, "zendesk");
  EXPECT_EQ(r.items[0].updated_at, *core::parse_rfc3339("2026-10-05T12:00:00Z"));  // newest instant
  EXPECT_EQ(r.items[0].payload, R"({"agent_replies":["2026-10-05T08:30:00Z"],"tags":["vip"]})");
}

// A record may name several accounts (Jira's Organizations field): the first, in the record's
// order, that a partner claims attributes it; a list of anything but ids is refused.
TEST(Import, AListOfAccountsAttributesByTheFirstClaimed) {
  const char* text =
      R"({"id": 1, "account": ["1", 509974, "8812001"], "created_at": "2026-10-05T08:00:00Z"}
{"id": 2, "account": ["8812001", "509974"], "created_at": "2026-10-05T08:00:00Z"}
{"id": 3, "account": ["7", "8"], "created_at": "2026-10-05T08:00:00Z"}
{"id": 4, "account": [], "created_at": "2026-10-05T08:00:00Z"}
{"id": 5, "account": [{"id": "509974"}], "created_at": "2026-10-05T08:00:00Z"}
)";
  auto zendesk = parse_import(text, "t.ndjson", opts("tickets"), partners());
  ASSERT_EQ(zendesk.items.size(), 3u);
  EXPECT_EQ(zendesk.items[0].partner_id, "northwind");  // "1" is no one's
  EXPECT_EQ(zendesk.items[1].partner_id, "northwind");  // 8812001 is contoso's in hubspot, not here
  EXPECT_FALSE(zendesk.items[2].partner_id);
  ASSERT_EQ(zendesk.bad_lines.size(), 2u);
  EXPECT_EQ(zendesk.bad_lines[0].line, 4);
  EXPECT_NE(zendesk.bad_lines[0].message.find("account: expected a string, an integer or a list of them"), std::string::npos)
      << zendesk.bad_lines[0].message;
  EXPECT_EQ(zendesk.bad_lines[1].line, 5);
  auto hubspot = parse_import(text, "t.ndjson", opts("tickets", ImportFormat::ndjson, "hubspot"), partners());
  EXPECT_EQ(hubspot.items[0].partner_id, "contoso");
  EXPECT_EQ(hubspot.items[1].partner_id, "contoso");  // the first claimed wins
}

TEST(Import, BadLinesAreReportedWithTheirLineNumbers) {
  const char* text =
      "{\"id\": 1, \"created_at\": \"2026-10-05T08:00:00Z\"}\n"
      "{not json}\n"
      "{\"created_at\": \"2026-10-05T08:00:00Z\"}\n"
      "{\"id\": 2, \"created_at\": \"yesterday\"}\n"
      "{\"id\": 3, \"created_at\": \"2026-10-05T08:00:00Z\", \"priorty\": \"high\"}\n"
      "{\"id\": 1, \"created_at\": \"2026-10-05T08:00:00Z\"}\n"
      "{\"id\": 5, \"partner\": \"nobody\", \"created_at\": \"2026-10-05T08:00:00Z\"}\n";
  auto r = parse_import(text, "t.ndjson", opts("tickets"), partners());
  std::vector<std::string> m;
  for (const auto& d : r.bad_lines) m.push_back(d.to_string());
  ASSERT_EQ(m.size(), 6u) << ::testing::PrintToString(m);
  EXPECT_EQ(m[0], "t.ndjson:2: not valid JSON");
  EXPECT_EQ(m[1], "t.ndjson:3: missing 'id' (a string or an integer)");
  EXPECT_EQ(m[2].substr(0, 27), "t.ndjson:4: created_at: 'ye");
  EXPECT_EQ(m[3], "t.ndjson:5: unknown field 'priorty' for tickets (did you mean 'priority'?)");
  EXPECT_EQ(m[4], "t.ndjson:6: id '1' also appears on line 1");
  EXPECT_EQ(m[5], "t.ndjson:7: partner 'nobody' is not in partners.yaml");
  EXPECT_EQ(r.items.size(), 1u);
}

TEST(Import, DealsSurveysAndEvents) {
  auto deals = parse_import(
      R"({"id": "d1", "account": "8812001", "amount": "1234.50", "currency": "EUR", "stage": "closedwon", "won": true, "closed_at": "2026-09-01T00:00:00Z"}
{"id": "d2", "amount": 12.5, "currency": "EUR"}
{"id": "d3", "amount": "1.234", "currency": "EUR"}
{"id": "d4", "amount": "10", "currency": "EURO"})",
      "d.ndjson", opts("deals", ImportFormat::ndjson, "hubspot"), partners());
  ASSERT_EQ(deals.items.size(), 1u);
  EXPECT_EQ(deals.items[0].amount_minor, 123450);
  EXPECT_EQ(deals.items[0].currency, "EUR");
  EXPECT_EQ(deals.items[0].status, "closedwon");
  EXPECT_EQ(deals.items[0].partner_id, "contoso");
  ASSERT_EQ(deals.bad_lines.size(), 3u);
  EXPECT_NE(deals.bad_lines[0].message.find("decimal string"), std::string::npos);  // never a float
  auto surveys = parse_import("{\"id\": 1, \"score\": 4, \"submitted_at\": \"2026-09-01T00:00:00Z\"}\n{\"id\": 2, \"score\": 3}\n",
                              "s.ndjson", opts("surveys"), partners());
  EXPECT_EQ(surveys.items.size(), 1u);
  EXPECT_EQ(surveys.bad_lines.size(), 1u);
  auto events = parse_import(
      "{\"id\": 1, \"name\": \"delivery\", \"at\": \"2026-09-01T00:00:00Z\", \"value\": \"12.5\", \"late\": false}\n"
      "{\"id\": 2, \"name\": \"delivery\", \"at\": \"2026-09-01T00:00:00Z\", \"value\": 1.5}\n",
      "e.ndjson", opts("events"), partners());
  EXPECT_EQ(events.items.size(), 1u);
  EXPECT_EQ(events.bad_lines.size(), 1u);
  auto unknown = parse_import("", "x", opts("calls"), partners());
  EXPECT_EQ(unknown.bad_lines.size(), 1u);
}

TEST(Import, CsvWithQuotesListsAndCustomFields) {
  const char* text =
      "id,account,priority,created_at,tags,status_history,custom.region,reopens\r\n"
      "1,509974,urgent,2026-10-05T08:00:00Z,vip;escalated_to_brand,2026-10-05T08:00:00Z open;2026-10-05T12:00:00Z solved,emea,2\r\n"
      "2,509974,\"high\",2026-10-05T09:00:00Z,,,\"multi\nline, \"\"quoted\"\"\",0\r\n"
      "3,509974,low\r\n";
  auto r = parse_import(text, "t.csv", opts("tickets", ImportFormat::csv), partners());
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].payload,
            R"({"custom":{"region":"emea"},"reopens":2,"status_history":[{"at":"2026-10-05T08:00:00Z","status":"open"},{"at":"2026-10-05T12:00:00Z","status":"solved"}],"tags":["vip","escalated_to_brand"]})");
  EXPECT_EQ(r.items[1].payload, R"({"custom":{"region":"multi\nline, \"quoted\""},"reopens":0})");
  ASSERT_EQ(r.bad_lines.size(), 1u);
  EXPECT_EQ(r.bad_lines[0].to_string(), "t.csv:5: has 3 fields, the header 8");  // records start on their own line
}

TEST(Import, InvalidUtf8InCsvIsReplacedNotFatal) {
  // Found by fuzz_import: a CSV cell that is not UTF-8 made serialization throw.
  auto r = parse_import("id,created_at,custom.note\n1,2026-10-05T08:00:00Z,caf\xe9\n", "t.csv",
                        opts("tickets", ImportFormat::csv), partners());
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].payload, "{\"custom\":{\"note\":\"caf\xef\xbf\xbd\"}}");
}

TEST(Import, WrongTypesAreErrorsNotExceptions) {
  // Found by fuzz_import: a list where a string belongs threw from the JSON library.
  auto r = parse_import(
      "{\"id\": 1, \"created_at\": \"2026-10-05T08:00:00Z\", \"priority\": [\"x\"]}\n"
      "{\"id\": 2, \"created_at\": \"2026-10-05T08:00:00Z\", \"reopens\": \"two\"}\n"
      "{\"id\": 3, \"created_at\": \"2026-10-05T08:00:00Z\", \"tags\": [1]}\n"
      "{\"id\": [4], \"created_at\": \"2026-10-05T08:00:00Z\"}\n",
      "t.ndjson", opts("tickets"), partners());
  std::vector<std::string> m;
  for (const auto& d : r.bad_lines) m.push_back(d.to_string());
  EXPECT_EQ(m, (std::vector<std::string>{"t.ndjson:1: priority: expected a string", "t.ndjson:2: reopens: expected a whole number",
                                         "t.ndjson:3: tags: expected a list of strings",
                                         "t.ndjson:4: id: expected a string or an integer"}));
}

TEST(Csv, Rfc4180) {
  auto r = parse_csv("a,b\n\"x,1\",\"y\"\"z\"\n\n1,2", "f.csv");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[1].fields[0], "x,1");
  EXPECT_EQ((*r)[1].fields[1], "y\"z");
  EXPECT_EQ((*r)[2].line, 4);
  EXPECT_FALSE(parse_csv("a\n\"open", "f.csv"));
  EXPECT_FALSE(parse_csv("a\nb\"c\n", "f.csv"));
}

}  // namespace
}  // namespace pactwatch::sources
