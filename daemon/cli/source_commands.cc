#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>
#include <map>

#include "context.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/net/http.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/sources/drop.h"
#include "pactwatch/sources/generate.h"
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
  net::HttpClient http({std::chrono::seconds(s->connect_timeout_s), std::chrono::seconds(s->timeout_s), s->verify_tls,
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
      std::cerr << "pactwatch: token request to " << net::redact_url(tr.url) << " failed: "
                << (resp ? "HTTP " + std::to_string(resp->status) + " " + resp->body.substr(0, 200) : resp.error().message) << '\n';
      return 1;
    }
    if (auto ok = c.accept_token(*resp); !ok) {
      std::cerr << "pactwatch: " << ok.error() << '\n';
      return 1;
    }
    std::cout << "token: obtained from " << net::redact_url(tr.url) << '\n';
  }
  auto req = c.probe();
  if (s->auth == "basic") req.basic_auth = std::pair(s->user, *secret);
  else if (s->auth == "token") req.basic_auth = std::pair(s->user + "/token", *secret);
  else if (s->auth == "api_key") req.basic_auth = std::pair(*secret, std::string("X"));
  else if (s->auth == "bearer") req.headers.emplace_back("Authorization", "Bearer " + *secret);
  else if (s->auth == "oauth") req.headers.emplace_back("Authorization", "Bearer " + c.bearer());
  req.headers.emplace_back("Accept", "application/json");
  auto resp = http.send(req);
  const std::string where = net::redact_url(req.url);
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
              << r.unchanged << " unchanged, " << r.unattributed << " unattributed, " << r.quarantined << " set aside; "
              << r.requests << " request(s), " << r.retries << " retried, " << r.rate_limited << " rate-limited\n";
    if (r.restarts > 0) {
      std::cout << label << ": the vendor dropped the paging position " << r.restarts
                << " time(s); restarted from the stored position\n";
    }
    if (!r.quarantined_ids.empty()) {
      std::cout << label << ": set aside (they could not be mapped):";
      for (const auto& id : r.quarantined_ids) std::cout << ' ' << id;
      std::cout << " (see 'pactwatch sources quarantine " << a.name << "')\n";
    }
    if (r.history_skipped > 0) std::cout << label << ": history for " << r.history_skipped << " item(s) not stored yet, skipped\n";
    if (!r.unattributed_ids.empty()) {
      std::cout << label << ": unattributed ids:";
      for (const auto& id : r.unattributed_ids) std::cout << ' ' << id;
      std::cout << " (add them to a partner's external_ids." << a.name << " in partners.yaml)\n";
    }
    std::cout << label << ": cursor " << (r.cursor.empty() ? "(none)" : r.cursor)
              << (options.since ? " (a backfill: the cursor stays where it was)" : "") << '\n';
    if (!r.ok) {
      std::cerr << "pactwatch: " << label << ": " << r.error << '\n';
      return 1;
    }
  }
  return 0;
}

namespace {

std::string cli_actor() {
  const char* u = getenv("USER");
  return std::string("cli ") + (u ? u : "unknown");
}

}  // namespace

int cmd_sources_cursor_show(const config::Config& config, const StoreArgs& st, const std::string& name) {
  const auto* s = find_source(config, name);
  if (!s) return 1;
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  std::vector<std::string> keys{name};
  if (s->kind != "file") {
    auto streams = sources::make_streams(*s);
    if (!streams) {
      std::cerr << "pactwatch: " << streams.error() << '\n';
      return 1;
    }
    keys.clear();
    for (const auto& c : *streams) keys.push_back(c->stream().empty() ? name : name + "#" + c->stream());
  }
  for (const auto& key : keys) std::cout << key << ": " << db->sources().cursor(key).value_or("(none: the next sync starts at the configured since)") << '\n';
  return 0;
}

// Moves every stream's cursor of a source to start at an instant, on purpose: the one way a
// cursor moves other than by storing pages. Held under the source's lease (so a running poll
// cannot overwrite it), logged, and written to the audit log in the cursor's own transaction.
int cmd_sources_cursor_set(const config::Config& config, const StoreArgs& st, const CursorArgs& a) {
  const auto* s = find_source(config, a.name);
  if (!s) return 1;
  if (s->kind == "file") {
    std::cerr << "pactwatch: " << a.name << " is a drop directory: its cursor is the last file imported (move files instead)\n";
    return 1;
  }
  auto at = core::parse_rfc3339(a.at);
  if (!at) {
    std::cerr << "pactwatch: " << a.at << ": " << at.error() << '\n';
    return 2;
  }
  if (a.reason.find_first_not_of(" \t") == std::string::npos) {
    std::cerr << "pactwatch: --reason must say why the cursor moves (it goes to the audit log)\n";
    return 2;
  }
  auto streams = sources::make_streams(*s);
  if (!streams) {
    std::cerr << "pactwatch: " << streams.error() << '\n';
    return 1;
  }
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const core::SystemClock clock;
  const auto now = clock.now();
  const std::string lease = "source:" + a.name;
  const std::string holder = cli_actor() + " pid " + std::to_string(getpid());
  try {
    const auto fence = db->leases().claim(lease, holder, now, std::chrono::seconds(60));
    if (!fence) {
      std::string by = "another instance";
      for (const auto& l : db->leases().all()) {
        if (l.name == lease) by = l.holder + " (until " + core::format_rfc3339(l.expires_at) + ")";
      }
      std::cerr << "pactwatch: " << a.name << " is being polled by " << by
                << "; its cursor was not moved (try again once the poll is over)\n";
      return 1;
    }
    const store::LeaseGuard guard{lease, holder, *fence};
    for (const auto& c : *streams) {
      const std::string key = c->stream().empty() ? a.name : a.name + "#" + c->stream();
      const std::string before = db->sources().cursor(key).value_or("(none)");
      const std::string after = c->start_cursor(*at);
      const std::string target = key + " to " + core::format_rfc3339(*at) + " (was " + before + "): " + a.reason;
      db->sources().move_cursor(key, after, now, {0, now, cli_actor(), "admin", "source.cursor.set", target, "ok"}, &guard);
      spdlog::warn("source {}: cursor moved by {} to start at {} (was {}): {}", key, cli_actor(), core::format_rfc3339(*at), before,
                   a.reason);
      std::cout << key << ": the next sync starts at " << core::format_rfc3339(*at) << " (the cursor was " << before
                << "); recorded in the audit log\n";
    }
    db->leases().release(lease, holder);
  } catch (const store::StoreError& e) {
    db->leases().release(lease, holder);
    std::cerr << "pactwatch: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

int cmd_sources_quarantine(const config::Config& config, const StoreArgs& st, const std::string& name) {
  if (!name.empty() && !find_source(config, name)) return 1;
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const auto held = db->sources().quarantined(name.empty() ? std::nullopt : std::optional(name), 100000);
  if (held.empty()) {
    std::cout << "nothing set aside" << (name.empty() ? "" : " for " + name) << '\n';
    return 0;
  }
  for (const auto& q : held) {
    std::cout << q.source << "  " << q.kind << "  " << q.external_id << "  read " << q.seen << " time(s), first "
              << core::format_rfc3339(q.first_seen) << ", last " << core::format_rfc3339(q.last_seen) << ": " << q.reason << '\n'
              << "    " << (q.record.size() > 400 ? q.record.substr(0, 400) + "..." : q.record) << '\n';
  }
  std::cout << held.size() << " record(s) set aside. A record leaves when it maps: after the vendor corrects it (its next "
               "change is read as usual), or after fixing the cause, re-read with 'pactwatch sources sync NAME --since T'.\n";
  return 0;
}

}  // namespace pactwatch::cli

namespace pactwatch::cli {

int cmd_outbox_list(const config::Config& config, const StoreArgs& st, const std::string& status) {
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const auto deliveries = db->outbox().deliveries(status.empty() ? std::nullopt : std::optional(status));
  std::map<std::string, std::vector<const store::Delivery*>> by_event;
  for (const auto& d : deliveries) by_event[d.event_id].push_back(&d);
  const auto events = db->outbox().events(100000);
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
  const int n = db->outbox().retry(id, clock.now());
  std::cout << n << " dead deliver" << (n == 1 ? "y" : "ies") << " queued again\n";
  return n > 0 || id == "all" ? 0 : 1;
}

void register_source_commands(CLI::App& app, Context& ctx) {
  // Connectors.
  auto& sync_args = ctx.hold<SyncArgs>();
  auto& test_source = ctx.hold<std::string>();
  auto* src = app.add_subcommand("sources", "The configured sources: list, test, sync, cursors, quarantine (see docs/connectors.md)");
  src->require_subcommand(1);
  auto* src_list = src->add_subcommand("list", "The sources in the config");
  src_list->callback([&] {
    auto c = ctx.load();
    ctx.rc = c ? cmd_sources_list(*c) : kExitFailure;
  });
  auto* src_test = src->add_subcommand("test", "One authenticated request to the source; says what it saw");
  src_test->add_option("NAME", test_source, "The source's name under sources:")->required();
  src_test->callback([&] {
    auto c = ctx.load();
    ctx.rc = c ? cmd_sources_test(*c, test_source) : kExitFailure;
  });
  auto* src_sync = src->add_subcommand("sync", "Sync the source now, from its stored cursor");
  src_sync->add_option("NAME", sync_args.name, "The source's name under sources:")->required();
  src_sync->add_flag("--once", sync_args.once, "Fetch and store one page only");
  src_sync->add_option("--since", sync_args.since,
                       "A backfill: re-read from this instant (RFC 3339); the stored cursor stays where it is");
  ctx.add_store_args(src_sync);
  src_sync->callback([&] {
    auto c = ctx.load();
    ctx.rc = c ? cmd_sources_sync(*c, ctx.store, sync_args) : kExitFailure;
  });
  auto& cursor_args = ctx.hold<CursorArgs>();
  auto& cursor_source = ctx.hold<std::string>();
  auto* src_cursor = src->add_subcommand("cursor", "Show a source's cursors, or move them on purpose (audited)");
  src_cursor->require_subcommand(1);
  auto* cursor_show = src_cursor->add_subcommand("show", "Where each stream of the source stands");
  cursor_show->add_option("NAME", cursor_source, "The source's name under sources:")->required();
  ctx.add_store_args(cursor_show);
  cursor_show->callback([&] {
    auto c = ctx.load();
    ctx.rc = c ? cmd_sources_cursor_show(*c, ctx.store, cursor_source) : kExitFailure;
  });
  auto* cursor_set = src_cursor->add_subcommand(
      "set", "Make the next sync start at an instant (forward skips what lies between: the audit log records who, when and why)");
  cursor_set->add_option("NAME", cursor_args.name, "The source's name under sources:")->required();
  cursor_set->add_option("AT", cursor_args.at, "Where the next sync starts (RFC 3339)")->required();
  cursor_set->add_option("--reason", cursor_args.reason, "Why (recorded in the audit log)")->required();
  ctx.add_store_args(cursor_set);
  cursor_set->callback([&] {
    auto c = ctx.load();
    ctx.rc = c ? cmd_sources_cursor_set(*c, ctx.store, cursor_args) : kExitFailure;
  });
  auto& quarantine_source = ctx.hold<std::string>();
  auto* src_quarantine = src->add_subcommand("quarantine", "Records set aside because they could not be mapped, with the reason");
  src_quarantine->add_option("NAME", quarantine_source, "Only this source's");
  ctx.add_store_args(src_quarantine);
  src_quarantine->callback([&] {
    auto c = ctx.load();
    ctx.rc = c ? cmd_sources_quarantine(*c, ctx.store, quarantine_source) : kExitFailure;
  });
}

void register_outbox_commands(CLI::App& app, Context& ctx) {
  // Notifications.
  auto& outbox_status = ctx.hold<std::string>();
  auto& outbox_id = ctx.hold<std::string>();
  auto* outbox = app.add_subcommand("outbox", "Notification events and their deliveries (see docs/notifications.md)");
  outbox->require_subcommand(1);
  auto* ob_list = outbox->add_subcommand("list", "Events with each channel's delivery state");
  ob_list->add_option("--status", outbox_status, "Only deliveries in this state")->check(CLI::IsMember({"pending", "delivered", "dead", "skipped"}));
  ctx.add_store_args(ob_list);
  ob_list->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_outbox_list(*c, ctx.store, outbox_status) : kExitFailure;
  });
  auto* ob_retry = outbox->add_subcommand("retry", "Queue dead deliveries of an event again (ID, or all)");
  ob_retry->add_option("ID", outbox_id, "An event id from outbox list, or all")->required();
  ctx.add_store_args(ob_retry);
  ob_retry->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_outbox_retry(*c, ctx.store, outbox_id) : kExitFailure;
  });
}

void register_gen_command(CLI::App& app, Context& ctx) {
  auto& gen_opts = ctx.hold<sources::GenerateOptions>();
  auto& gen_out = ctx.hold<std::string>();
  gen_out = "gen";
  auto* gen = app.add_subcommand("gen", "Write a realistic, seeded data set and matching rules (for demos and benchmarks)");
  gen->add_option("--partners", gen_opts.partners, "Number of partners")->capture_default_str();
  gen->add_option("--tickets", gen_opts.tickets, "Number of tickets")->capture_default_str();
  gen->add_option("--seed", gen_opts.seed, "Seed: the same seed writes the same files")->capture_default_str();
  gen->add_option("--out", gen_out, "Directory to write rules/, tickets.ndjson and surveys.ndjson into")->capture_default_str();
  gen->callback([&] {
    auto r = sources::generate(gen_out, gen_opts);
    if (!r) {
      std::cerr << "pactwatch: " << r.error() << '\n';
      ctx.rc = kExitFailure;
      return;
    }
    std::cout << "wrote " << gen_opts.partners << " partner(s) and their contracts to " << gen_out << "/rules, "
              << r->tickets << " ticket(s) to " << gen_out << "/tickets.ndjson and " << r->surveys << " survey(s) to "
              << gen_out << "/surveys.ndjson (import with --source gen)\n";
  });
}

}  // namespace pactwatch::cli
