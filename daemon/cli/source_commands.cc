#include <iostream>
#include <map>

#include "commands.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/sources/drop.h"
#include "pactwatch/sources/sync.h"

namespace pactwatch::cli {

namespace {

const config::SourceConfig* find_source(const config::Config& config, const std::string& name) {
  const auto* s = config.source(name);
  if (!s) {
    std::string names;
    for (const auto& x : config.sources) names += (names.empty() ? "" : ", ") + x.name;
    std::cerr << "pactwatch: no source '" << name << "' in the config (sources: " << (names.empty() ? "none" : names) << ")\n";
  }
  return s;
}

}  // namespace

int cmd_sources_list(const config::Config& config) {
  if (config.sources.empty()) {
    std::cout << "no sources configured (see docs/connectors.md)\n";
    return 0;
  }
  for (const auto& s : config.sources) {
    if (s.kind == "file") {
      std::cout << s.name << "  file  " << s.path << "  " << s.items << "  every " << s.poll_interval_s << " s\n";
      continue;
    }
    std::cout << s.name << "  " << s.kind << "  " << s.url << "  auth " << s.auth << "  every " << s.poll_interval_s << " s, "
              << s.page_size << " a page\n";
  }
  return 0;
}

int cmd_sources_test(const config::Config& config, const std::string& name) {
  const auto* s = find_source(config, name);
  if (!s) return 1;
  auto connector = sources::make_connector(*s);
  if (!connector) {
    std::cerr << "pactwatch: " << connector.error() << '\n';
    return 1;
  }
  auto secret = config::read_secret(s->secret, "sources." + name + ".auth");
  if (!secret) {
    std::cerr << "pactwatch: " << secret.error() << '\n';
    return 1;
  }
  sources::HttpClient http({std::chrono::seconds(s->connect_timeout_s), std::chrono::seconds(s->timeout_s), s->verify_tls,
                            "pactwatch"});
  auto& c = **connector;
  if (c.needs_token()) {
    std::string refresh;
    if (!s->refresh_token.empty()) {
      auto t = config::read_secret(s->refresh_token, "sources." + name + ".auth refresh token");
      if (!t) {
        std::cerr << "pactwatch: " << t.error() << '\n';
        return 1;
      }
      refresh = *t;
    }
    const auto tr = c.token_request(*secret, refresh);
    auto resp = http.send(tr);
    if (!resp || resp->status != 200) {
      std::cerr << "pactwatch: token request to " << sources::redact_url(tr.url) << " failed: "
                << (resp ? "HTTP " + std::to_string(resp->status) + " " + resp->body.substr(0, 200) : resp.error().message) << '\n';
      return 1;
    }
    if (auto ok = c.accept_token(*resp); !ok) {
      std::cerr << "pactwatch: " << ok.error() << '\n';
      return 1;
    }
    std::cout << "token: obtained from " << sources::redact_url(tr.url) << '\n';
  }
  auto req = c.probe();
  if (s->auth == "basic") req.basic_auth = std::pair(s->user, *secret);
  else if (s->auth == "token") req.basic_auth = std::pair(s->user + "/token", *secret);
  else if (s->auth == "api_key") req.basic_auth = std::pair(*secret, std::string("X"));
  else if (s->auth == "bearer") req.headers.emplace_back("Authorization", "Bearer " + *secret);
  else if (s->auth == "oauth") req.headers.emplace_back("Authorization", "Bearer " + c.bearer());
  req.headers.emplace_back("Accept", "application/json");
  auto resp = http.send(req);
  const std::string where = sources::redact_url(req.url);
  if (!resp) {
    std::cerr << "pactwatch: " << name << ": " << where << ": " << resp.error().message << '\n';
    return 1;
  }
  std::cout << name << ": GET " << where << " -> HTTP " << resp->status << '\n';
  if (resp->status < 200 || resp->status >= 300) {
    std::cerr << "pactwatch: " << name << ": the request failed: " << resp->body.substr(0, 300) << '\n';
    return 1;
  }
  std::cout << name << ": " << c.describe_probe(*resp) << '\n';
  return 0;
}

int cmd_sources_sync(const config::Config& config, const StoreArgs& st, const SyncArgs& a) {
  const auto* s = find_source(config, a.name);
  if (!s) return 1;
  const std::string dir = st.rules_dir.empty() ? config.rules_dir : st.rules_dir;
  auto rules = rules::load_rule_set(dir);
  if (!rules) {
    for (const auto& d : rules.error()) std::cerr << d.to_string() << '\n';
    return 1;
  }
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const core::SystemClock clock;
  if (s->kind == "file") {
    const auto r = sources::sync_drop_directory(*s, *db, rules->partners, clock);
    std::cout << a.name << ": " << r.pages << " file(s) imported, " << r.records << " record(s), " << r.written << " written, "
              << r.unattributed << " unattributed\n";
    if (!r.ok) {
      std::cerr << "pactwatch: " << a.name << ": " << r.error << '\n';
      return 1;
    }
    return 0;
  }
  auto streams = sources::make_streams(*s);
  if (!streams) {
    std::cerr << "pactwatch: " << streams.error() << '\n';
    return 1;
  }
  sources::SyncOptions options;
  options.once = a.once;
  if (!a.since.empty()) {
    auto t = core::parse_rfc3339(a.since);
    if (!t) {
      std::cerr << "pactwatch: --since: " << t.error() << '\n';
      return 1;
    }
    options.since = *t;
  }
  // The main stream first: history streams merge into what it stored.
  for (auto& connector : *streams) {
    const std::string label = connector->stream().empty() ? a.name : a.name + " (" + connector->stream() + ")";
    const auto r = sources::sync_source(*s, *connector, *db, rules->partners, clock, options);
    std::cout << label << ": " << r.pages << " page(s), " << r.records << " record(s), " << r.written << " written, "
              << r.unattributed << " unattributed; " << r.requests << " request(s), " << r.retries << " retried, "
              << r.rate_limited << " rate-limited\n";
    if (r.history_skipped > 0) std::cout << label << ": history for " << r.history_skipped << " item(s) not stored yet, skipped\n";
    if (!r.unattributed_ids.empty()) {
      std::cout << label << ": unattributed ids:";
      for (const auto& id : r.unattributed_ids) std::cout << ' ' << id;
      std::cout << " (add them to a partner's external_ids." << a.name << " in partners.yaml)\n";
    }
    std::cout << label << ": cursor " << (r.cursor.empty() ? "(none)" : r.cursor) << '\n';
    if (!r.ok) {
      std::cerr << "pactwatch: " << label << ": " << r.error << '\n';
      return 1;
    }
  }
  return 0;
}

}  // namespace pactwatch::cli

namespace pactwatch::cli {

int cmd_outbox_list(const config::Config& config, const StoreArgs& st, const std::string& status) {
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const auto deliveries = db->deliveries(status.empty() ? std::nullopt : std::optional(status));
  std::map<std::string, std::vector<const store::Delivery*>> by_event;
  for (const auto& d : deliveries) by_event[d.event_id].push_back(&d);
  const auto events = db->outbox_events(100000);
  int shown = 0;
  for (const auto& e : events) {
    const auto it = by_event.find(e.id);
    if (!status.empty() && it == by_event.end()) continue;
    std::cout << core::format_rfc3339(e.created_at) << "  " << e.type << "  " << e.id << '\n';
    if (it != by_event.end()) {
      for (const auto* d : it->second) {
        std::cout << "    " << d->channel << ": " << d->status << ", " << d->attempts << " attempt(s)";
        if (d->status == "pending") std::cout << ", next " << core::format_rfc3339(d->next_attempt_at);
        if (!d->last_error.empty()) std::cout << ", last error: " << d->last_error;
        std::cout << '\n';
      }
    }
    ++shown;
  }
  if (shown == 0) std::cout << (status.empty() ? "the outbox is empty\n" : "no " + status + " deliveries\n");
  return 0;
}

int cmd_outbox_retry(const config::Config& config, const StoreArgs& st, const std::string& id) {
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const core::SystemClock clock;
  const int n = db->retry_deliveries(id, clock.now());
  std::cout << n << " dead deliver" << (n == 1 ? "y" : "ies") << " queued again\n";
  return n > 0 || id == "all" ? 0 : 1;
}

}  // namespace pactwatch::cli
