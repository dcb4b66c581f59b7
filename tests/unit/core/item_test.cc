#include "pactwatch/core/item.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace pactwatch::core {
namespace {

Instant T(const char* text) { return *parse_rfc3339(text); }

Item ticket(const std::string& payload, std::optional<Instant> solved = std::nullopt) {
  Item i;
  i.source = "desk";
  i.external_id = "1";
  i.kind = "tickets";
  i.partner_id = "northwind";
  i.created_at = T("2026-10-05T08:00:00Z");
  i.solved_at = solved;
  i.payload = payload;
  return i;
}

bool has(const std::vector<Instant>& v, Instant t) { return std::find(v.begin(), v.end(), t) != v.end(); }

// A ticket counts by each solve its history shows, whatever the as-of instant: solved in October,
// reopened and solved again in November counts in October as of a day before the reopen.
TEST(CountingInstants, EverySolveOfTheHistoryCounts) {
  const auto item = ticket(R"({"status_history":[{"at":"2026-10-05T08:00:00Z","status":"open"},)"
                           R"({"at":"2026-10-05T10:00:00Z","status":"Solved"},{"at":"2026-10-05T12:00:00Z","status":"closed"},)"
                           R"({"at":"2026-11-05T09:00:00Z","status":"open"},{"at":"2026-11-06T09:00:00Z","status":"solved"}]})",
                           T("2026-11-06T09:00:00Z"));
  const auto instants = counting_instants(item);
  EXPECT_TRUE(has(instants, T("2026-10-05T08:00:00Z")));  // created
  EXPECT_TRUE(has(instants, T("2026-10-05T10:00:00Z")));  // the first run of solved/closed starts here
  EXPECT_FALSE(has(instants, T("2026-10-05T12:00:00Z")));  // still the same run: counts from 10:00
  EXPECT_TRUE(has(instants, T("2026-11-06T09:00:00Z")));
}

// Out of order, the history is read in time order; entries it cannot read are left out.
TEST(CountingInstants, TheHistoryIsReadInTimeOrderAndUnreadableEntriesAreSkipped) {
  const auto item = ticket(R"({"status_history":[{"at":"2026-10-06T10:00:00Z","status":"solved"},)"
                           R"({"at":"not a time","status":"solved"},{"status":"open"},)"
                           R"({"at":"2026-10-05T09:00:00Z","status":"open"}]})");
  const auto instants = counting_instants(item);
  EXPECT_EQ(instants, (std::vector<Instant>{T("2026-10-05T08:00:00Z"), T("2026-10-06T10:00:00Z")}));
  EXPECT_EQ(counting_instants(ticket("not json", T("2026-10-07T00:00:00Z"))),
            (std::vector<Instant>{T("2026-10-05T08:00:00Z"), T("2026-10-07T00:00:00Z")}));
}

TEST(CountingInstants, ADealCountsByItsCloseAndRegistrationToo) {
  Item deal;
  deal.kind = "deals";
  deal.created_at = T("2026-09-01T00:00:00Z");
  deal.payload = R"({"closed_at":"2026-10-02T00:00:00Z","registered_at":"2026-09-03T00:00:00Z","status_history":[]})";
  EXPECT_EQ(counting_instants(deal),
            (std::vector<Instant>{T("2026-09-01T00:00:00Z"), T("2026-10-02T00:00:00Z"), T("2026-09-03T00:00:00Z")}));
}

}  // namespace
}  // namespace pactwatch::core
