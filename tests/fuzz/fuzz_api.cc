// Fuzz target: the API's request handling (Api::handle), on a real SQLite store holding the
// example rules and demo items. The first byte picks who asks (no token, admin, finance, viewer,
// or the partner northwind); the rest is "METHOD /path?query", header lines, a blank line and the
// body. Checks: every answer has a known status; every error is a problem document; a partner
// token's successful answers never mention another partner.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pactwatch/api/server.h"
#include "pactwatch/api/tokens.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/sources/import.h"

namespace {

using namespace pactwatch;

struct World {
  std::filesystem::path dir;
  std::shared_ptr<const rules::RuleSet> rules;
  std::unique_ptr<store::Store> db;
  core::ManualClock clock{*core::parse_rfc3339("2026-11-20T12:00:00Z")};
  core::MetricsRegistry metrics;
  std::unique_ptr<api::Api> api;
  std::string tokens[5];  // none, admin, finance, viewer, partner northwind

  World() {
    spdlog::set_level(spdlog::level::warn);  // the audit lines of admin and finance requests
    dir = std::filesystem::temp_directory_path() / ("pactwatch-fuzz-api-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto r = rules::load_rule_set(std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples");
    if (!r) std::abort();
    rules = std::make_shared<const rules::RuleSet>(std::move(*r));
    db = std::move(*store::Store::open({"sqlite://" + (dir / "fuzz.db").string(), "", 2}));
    db->migrate(clock.now());
    std::vector<store::Partner> partners;
    for (const auto& p : rules->partners) partners.push_back({p.id, p.name, p.kind, p.tier, true});
    db->partners().sync(partners, clock.now());
    for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
      std::ifstream in(std::string(PACTWATCH_SOURCE_DIR) + "/demo/items/" + kind + ".ndjson");
      const std::string text((std::istreambuf_iterator<char>(in)), {});
      sources::ImportOptions o;
      o.kind = kind;
      db->items().upsert(sources::parse_import(text, kind, o, rules->partners).items);
    }
    const char* roles[] = {"admin", "finance", "viewer"};
    for (int i = 0; i < 3; ++i) {
      auto t = api::issue_token(roles[i], std::nullopt, roles[i], std::nullopt, clock.now());
      db->tokens().create(t.record, 2, clock.now());
      tokens[i + 1] = t.text;
    }
    auto p = api::issue_token("partner", std::string("northwind"), "northwind", std::nullopt, clock.now());
    db->tokens().create(p.record, 2, clock.now());
    tokens[4] = p.text;
    api::ApiOptions options;
    options.rate_per_second = 0;
    options.standing_cache_ttl = std::chrono::milliseconds(0);
    api = std::make_unique<api::Api>(*db, [this] { return rules; }, clock, metrics, options);
  }
  ~World() {
    api.reset();
    db.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

World& world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 8192) return 0;
  auto& w = world();
  const int who = data[0] % 5;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  httplib::Request req;
  const auto line_end = text.find('\n');
  const std::string_view first = text.substr(0, line_end);
  const auto space = first.find(' ');
  if (space == std::string_view::npos) return 0;
  req.method = std::string(first.substr(0, space));
  std::string target(first.substr(space + 1));
  if (target.empty() || target[0] != '/') target = "/v1/" + target;
  if (const auto q = target.find('?'); q != std::string::npos) {
    httplib::detail::parse_query_text(target.substr(q + 1), req.params);
    target.resize(q);
  }
  req.path = httplib::detail::decode_url(target, false);
  std::string_view rest = line_end == std::string_view::npos ? std::string_view() : text.substr(line_end + 1);
  while (!rest.empty()) {
    const auto e = rest.find('\n');
    const std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 1);
    if (h.empty()) break;
    if (const auto colon = h.find(':'); colon != std::string_view::npos) {
      std::string_view v = h.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      req.headers.emplace(std::string(h.substr(0, colon)), std::string(v));
    }
  }
  req.body = std::string(rest);
  if (who > 0) req.headers.emplace("Authorization", "Bearer " + w.tokens[who]);

  httplib::Response res;
  w.api->handle(req, res);
  static const int known[] = {200, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503};
  if (std::find(std::begin(known), std::end(known), res.status) == std::end(known)) std::abort();
  if (res.status >= 400) {
    auto j = nlohmann::json::parse(res.body, nullptr, false);
    if (j.is_discarded() || !j.contains("type") || j["status"] != res.status) std::abort();
    if (res.status == 500) std::abort();  // a request never breaks the server
  }
  if (who == 4 && res.status == 200) {
    for (const char* other : {"contoso", "fabrikam", "tailspin"}) {
      if (res.body.find(other) != std::string::npos) std::abort();
    }
  }
  return 0;
}
