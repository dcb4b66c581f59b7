// Fuzz target: every connector's page parser, over any body and cursor. The first byte picks the
// connector and whether a Link header is present; the rest is the response body. A parser may
// reject a page (that is its job) but must never crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pactwatch/net/http.h"
#include "pactwatch/sources/connector.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pactwatch;
  if (size == 0) return 0;
  static const char* kinds[] = {"zendesk", "jira", "servicenow", "freshdesk", "salesforce", "hubspot", "zendesk", "zendesk"};
  const std::size_t pick = static_cast<std::size_t>(data[0] & 0x3f) % 8;  // 6, 7: Zendesk's ticket events and satisfaction ratings streams
  const auto kind = kinds[pick];
  config::SourceConfig s;
  s.name = "fuzz";
  s.kind = kind;
  s.url = "https://fuzz.example";
  s.page_size = 2;
  s.options = {{"currency", "EUR"}, {"sla_fields", "customfield_10030"}, {"account_field", "customfield_1"}};
  auto streams = sources::make_streams(s);
  if (!streams) return 0;
  auto* connector = pick >= 6 ? &(*streams)[pick - 5] : &streams->front();
  net::HttpResponse r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/json"}};
  if (data[0] & 0x40) r.headers.emplace_back("Link", "<https://fuzz.example/next>; rel=\"next\"");
  r.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (const char* cursor : {"", R"({"since":"2026-01-01T00:00:00Z","page":3,"hwm":"2026-01-02T00:00:00Z"})",
                             R"({"since":1788000000000,"seen":9990,"after":"x","token":"t","offset":4})", "not json"}) {
    auto page = (*connector)->parse(r, cursor);
    if (page) (void)(*connector)->request(page->next_cursor, pactwatch::core::Instant{});
  }
  (void)sources::wire::instant(nlohmann::json(r.body));
  (void)net::link_next(r.body);
  return 0;
}
