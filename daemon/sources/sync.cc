#include "pactwatch/sources/sync.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <random>
#include <sstream>
#include <thread>

#include "pactwatch/sources/import.h"

namespace pactwatch::sources {

namespace {

using std::chrono::milliseconds;

std::string snippet(const std::string& body) {
  std::string s = body.substr(0, 200);
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s + (body.size() > 200 ? "…" : "");
}

void apply_auth(HttpRequest& req, const config::SourceConfig& src, const std::string& secret, const Connector& c) {
  if (src.auth == "basic") {
    req.basic_auth = std::pair(src.user, secret);
  } else if (src.auth == "token") {
    req.basic_auth = std::pair(src.user + "/token", secret);  // Zendesk API token
  } else if (src.auth == "api_key") {
    req.basic_auth = std::pair(secret, std::string("X"));  // Freshdesk: the key, and a literal X
  } else if (src.auth == "bearer") {
    req.headers.emplace_back("Authorization", "Bearer " + secret);
  } else if (src.auth == "oauth") {
    req.headers.emplace_back("Authorization", "Bearer " + c.bearer());
  }
  req.headers.emplace_back("Accept", "application/json");
}

}  // namespace

std::optional<milliseconds> retry_after(const HttpResponse& r, core::Instant now) {
  const auto h = r.header("Retry-After");
  if (!h || h->empty()) return std::nullopt;
  if (std::all_of(h->begin(), h->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (h->size() > 7) return milliseconds(86400000);  // absurdly long: cap at a day
    return milliseconds(std::stoll(*h) * 1000);
  }
  const time_t at = curl_getdate(h->c_str(), nullptr);  // an HTTP date
  if (at < 0) return std::nullopt;
  const auto delta = core::from_unix_ms(static_cast<std::int64_t>(at) * 1000) - now;
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(delta));
}

SourceMetrics& metrics() {
  static SourceMetrics m;
  return m;
}

void SourceMetrics::record(const std::string& source, const SyncResult& r, core::Instant now) {
  std::lock_guard lock(mutex_);
  auto& c = by_source_[source];
  c.requests += r.requests;
  c.records += r.records;
  c.written += r.written;
  c.unattributed += r.unattributed;
  c.retries += r.retries;
  ++c.syncs;
  if (!r.ok) ++c.failed_syncs;
  else c.last_success_ms = core::to_unix_ms(now);
}

void SourceMetrics::error(const std::string& source, const std::string& kind) {
  std::lock_guard lock(mutex_);
  ++by_source_[source].errors[kind];
}

std::string SourceMetrics::prometheus() const {
  std::lock_guard lock(mutex_);
  std::ostringstream o;
  auto family = [&](const char* name, const char* help, const char* type, auto get) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    for (const auto& [s, c] : by_source_) o << name << "{source=\"" << s << "\"} " << get(c) << '\n';
  };
  family("pactwatch_source_requests_total", "HTTP requests made to the source.", "counter", [](const Counters& c) { return c.requests; });
  family("pactwatch_source_records_total", "Records received from the source.", "counter", [](const Counters& c) { return c.records; });
  family("pactwatch_source_items_written_total", "Items inserted or changed in the store.", "counter", [](const Counters& c) { return c.written; });
  family("pactwatch_source_unattributed_total", "Records attributed to no partner.", "counter", [](const Counters& c) { return c.unattributed; });
  family("pactwatch_source_retries_total", "Requests retried after a rate limit, server error or timeout.", "counter", [](const Counters& c) { return c.retries; });
  family("pactwatch_source_syncs_total", "Syncs run.", "counter", [](const Counters& c) { return c.syncs; });
  family("pactwatch_source_failed_syncs_total", "Syncs that stopped on an error.", "counter", [](const Counters& c) { return c.failed_syncs; });
  family("pactwatch_source_last_success_timestamp_seconds", "When the last sync succeeded (Unix time).", "gauge",
         [](const Counters& c) { return c.last_success_ms / 1000; });
  o << "# HELP pactwatch_source_errors_total Errors by kind.\n# TYPE pactwatch_source_errors_total counter\n";
  for (const auto& [s, c] : by_source_) {
    for (const auto& [kind, n] : c.errors) o << "pactwatch_source_errors_total{source=\"" << s << "\",kind=\"" << kind << "\"} " << n << '\n';
  }
  return o.str();
}

namespace {

bool same_entry(const nlohmann::json& a, const nlohmann::json& b) { return a.value("at", "") == b.value("at", "") && a.value("status", "") == b.value("status", ""); }

// Status history entries merged into the stored tickets they belong to: each entry once, in time
// order; the ticket's version (updated_at) stays, so a later ticket update still wins.
std::vector<store::Item> merge_history(store::Store& store, const std::string& source, const std::vector<nlohmann::json>& records,
                                       std::int64_t& skipped) {
  std::vector<store::Item> out;
  for (const auto& rec : records) {
    if (!rec.is_object() || !rec.contains("id") || !rec.contains("status_history")) continue;
    const std::string id = rec["id"].is_string() ? rec["id"].get<std::string>() : rec["id"].dump();
    auto item = store.find_item(source, id);
    if (!item) {
      ++skipped;  // a ticket this source has not brought (yet)
      continue;
    }
    auto payload = nlohmann::json::parse(item->payload, nullptr, false);
    if (!payload.is_object()) payload = nlohmann::json::object();
    nlohmann::json history = payload.contains("status_history") && payload["status_history"].is_array() ? payload["status_history"]
                                                                                                        : nlohmann::json::array();
    bool changed = false;
    for (const auto& e : rec["status_history"]) {
      if (std::none_of(history.begin(), history.end(), [&](const nlohmann::json& h) { return same_entry(h, e); })) {
        history.push_back(e);
        changed = true;
      }
    }
    if (!changed) continue;
    std::stable_sort(history.begin(), history.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
      return a.value("at", "") < b.value("at", "");
    });
    payload["status_history"] = history;
    item->payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.push_back(std::move(*item));
  }
  return out;
}

// A ticket update that carries no status history keeps the history already stored for it.
void keep_history(store::Store& store, std::vector<store::Item>& items) {
  for (auto& item : items) {
    auto payload = nlohmann::json::parse(item.payload, nullptr, false);
    if (!payload.is_object() || payload.contains("status_history")) continue;
    auto stored = store.find_item(item.source, item.external_id);
    if (!stored) continue;
    const auto old = nlohmann::json::parse(stored->payload, nullptr, false);
    if (!old.is_object() || !old.contains("status_history")) continue;
    payload["status_history"] = old["status_history"];
    item.payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

// A survey that names a ticket of the same source and no account belongs to that ticket's partner.
void attribute_by_ticket(store::Store& store, const std::string& source, std::vector<nlohmann::json>& records) {
  for (auto& rec : records) {
    if (!rec.is_object() || rec.contains("partner") || rec.contains("account") || !rec.contains("ticket_id")) continue;
    const auto& t = rec["ticket_id"];
    const std::string id = t.is_string() ? t.get<std::string>() : t.dump();
    if (auto ticket = store.find_item(source, id); ticket && ticket->partner_id) rec["partner"] = *ticket->partner_id;
  }
}

}  // namespace

PageChanges page_changes(store::Store& store, const std::vector<store::Item>& items, const std::atomic<bool>* abort) {
  PageChanges c;
  for (const auto& item : items) {
    if (abort && abort->load()) {
      c.stopped = true;
      break;
    }
    auto prev = store.find_item(item.source, item.external_id);
    if (prev && (*prev == item || prev->updated_at > item.updated_at)) continue;  // nothing will change
    c.changed.push_back(item);
    if (prev) c.previous.push_back(std::move(*prev));
  }
  c.intents = store::evaluation_intents_of(c.changed, c.previous);
  return c;
}

namespace {

SyncResult sync_pages(const config::SourceConfig& src, Connector& connector, store::Store& store,
                      const std::vector<rules::PartnerDef>& partners, const core::Clock& clock, const SyncOptions& opts) {
  SyncResult r;
  auto fail = [&](std::string kind, std::string message) {
    r.ok = false;
    r.error = std::move(message);
    metrics().error(src.name, kind);
    return r;
  };
  const auto sleep = opts.sleep ? opts.sleep : [](milliseconds d) { std::this_thread::sleep_for(d); };
  std::string secret, refresh;
  {
    auto read = [&](const config::SecretRef& ref, std::string_view what) -> std::expected<std::string, std::string> {
      if (opts.read_secret) return opts.read_secret(ref, what);
      return config::read_secret(ref, what);
    };
    auto s = read(src.secret, "sources." + src.name + ".auth");
    if (!s) return fail("config", s.error());
    secret = *s;
    if (!src.refresh_token.empty()) {
      auto t = read(src.refresh_token, "sources." + src.name + ".auth refresh token");
      if (!t) return fail("config", t.error());
      refresh = *t;
    }
  }
  HttpClient http({std::chrono::seconds(src.connect_timeout_s), std::chrono::seconds(src.timeout_s), src.verify_tls,
                   "pactwatch", opts.abort});
  std::mt19937_64 rng(opts.jitter_seed ? opts.jitter_seed : std::random_device{}());
  const int rpm = src.requests_per_minute > 0 ? src.requests_per_minute : connector.default_requests_per_minute();
  std::optional<core::Instant> last_request;

  // Waits for the client-side budget, then sends; every wait goes through `sleep`.
  auto send = [&](const HttpRequest& req) {
    if (rpm > 0 && last_request) {
      const auto interval = milliseconds(60000 / rpm);
      const auto elapsed = std::chrono::duration_cast<milliseconds>(clock.now() - *last_request);
      if (elapsed < interval) {
        sleep(interval - elapsed);
        r.waited += interval - elapsed;
      }
    }
    last_request = clock.now();
    ++r.requests;
    return http.send(req);
  };
  auto backoff = [&](int attempt) {
    const std::int64_t cap = std::min<std::int64_t>(60000, 1000LL << std::min(attempt, 6));
    std::uniform_int_distribution<std::int64_t> jitter(cap / 2, cap);
    return milliseconds(jitter(rng));
  };

  bool refreshed = false;
  auto get_token = [&]() -> std::expected<void, std::string> {
    HttpRequest tr = connector.token_request(secret, refresh);
    auto resp = send(tr);
    if (!resp) return std::unexpected("token request to " + redact_url(tr.url) + ": " + resp.error().message);
    if (resp->status < 200 || resp->status >= 300) {
      return std::unexpected("token request to " + redact_url(tr.url) + " failed (HTTP " + std::to_string(resp->status) +
                             "): " + snippet(resp->body));
    }
    return connector.accept_token(*resp);
  };
  if (connector.needs_token()) {
    if (auto t = get_token(); !t) return fail("auth", t.error());
  }

  const std::string cursor_key = connector.stream().empty() ? src.name : src.name + "#" + connector.stream();
  const core::Instant now = clock.now();
  core::Instant since = now - std::chrono::hours(24 * 30);
  if (!src.since.empty()) {
    if (auto t = core::parse_rfc3339(src.since)) since = *t;
  }
  std::string cursor;
  if (opts.since) {
    since = *opts.since;
  } else {
    cursor = store.cursor(cursor_key).value_or("");
  }
  r.cursor = cursor;
  if (cursor.empty()) cursor = connector.start_cursor(since);  // stored only with the first page
  int stalled = 0;

  for (int page_no = 0; page_no < opts.max_pages; ++page_no) {
    if (opts.stopping && opts.stopping()) {
      r.stopped = true;
      break;
    }
    HttpRequest req = connector.request(cursor, since);
    HttpResponse resp;
    for (int attempt = 0;; ++attempt) {
      HttpRequest authed = req;
      apply_auth(authed, src, secret, connector);
      auto got = send(authed);
      const std::string where = redact_url(req.url);
      if (!got) {
        const char* kind = got.error().kind == TransportError::Kind::timeout ? "timeout"
                           : got.error().kind == TransportError::Kind::tls   ? "tls"
                                                                             : "transport";
        metrics().error(src.name, kind);
        if (attempt >= src.max_retries || got.error().kind == TransportError::Kind::tls) {
          return fail(kind, std::string(kind) + " on " + where + ": " + got.error().message + " (after " +
                                std::to_string(attempt + 1) + " attempt(s); the cursor stays)");
        }
        const auto d = backoff(attempt);
        sleep(d);
        r.waited += d;
        ++r.retries;
        continue;
      }
      resp = std::move(*got);
      if (connector.rate_limited(resp)) {
        ++r.rate_limited;
        metrics().error(src.name, "rate_limited");
        if (attempt >= src.max_retries) {
          return fail("rate_limited", "rate limited on " + where + " (HTTP " + std::to_string(resp.status) + ") after " +
                                          std::to_string(attempt + 1) + " attempt(s); the cursor stays");
        }
        const auto d = retry_after(resp, clock.now()).value_or(backoff(attempt));
        sleep(d);
        r.waited += d;
        ++r.retries;
        continue;
      }
      if (resp.status == 401 && connector.needs_token() && !refreshed) {
        refreshed = true;  // the token expired mid-sync: one new token, then the same request again
        if (auto t = get_token(); !t) return fail("auth", t.error());
        continue;
      }
      if (resp.status >= 500) {
        metrics().error(src.name, "server");
        if (attempt >= src.max_retries) {
          return fail("server", "HTTP " + std::to_string(resp.status) + " from " + where + " after " +
                                    std::to_string(attempt + 1) + " attempt(s): " + snippet(resp.body));
        }
        const auto d = retry_after(resp, clock.now()).value_or(backoff(attempt));
        sleep(d);
        r.waited += d;
        ++r.retries;
        continue;
      }
      if (resp.status == 401 || resp.status == 403) {
        return fail("auth", "authentication failed on " + where + " (HTTP " + std::to_string(resp.status) +
                                "): check sources." + src.name + ".auth; the server said: " + snippet(resp.body));
      }
      if (resp.status < 200 || resp.status >= 300) {
        return fail("client", "HTTP " + std::to_string(resp.status) + " from " + where + ": " + snippet(resp.body));
      }
      break;
    }
    std::expected<Page, std::string> page = std::unexpected(std::string("no page"));
    try {
      page = connector.parse(resp, cursor);
    } catch (const std::exception& e) {  // a parser bug must not take the daemon down
      page = std::unexpected(std::string("could not be read (") + e.what() + ")");
    }
    if (!page) {
      return fail("malformed", "malformed page from " + redact_url(req.url) + ": " + page.error() +
                                   "; nothing of it stored, the cursor stays");
    }
    std::vector<store::Item> items;
    std::int64_t unattributed = 0;
    if (connector.history_only()) {
      items = merge_history(store, src.name, page->records, r.history_skipped);
    } else {
      if (connector.kind() == "surveys") attribute_by_ticket(store, src.name, page->records);
      sources::ImportOptions io;
      io.kind = connector.kind();
      io.source = src.name;
      auto normalized = normalize_records(page->records, src.name + " page " + std::to_string(page_no + 1), io, partners);
      if (!normalized.bad_lines.empty()) {
        return fail("malformed", "malformed record from " + redact_url(req.url) + ": " + normalized.bad_lines.front().to_string() +
                                     "; nothing of the page stored, the cursor stays");
      }
      items = std::move(normalized.items);
      unattributed = normalized.unattributed;
      if (connector.kind() == "tickets") keep_history(store, items);
    }
    auto changes = page_changes(store, items);
    if (opts.collect_changes) {
      r.changed.insert(r.changed.end(), changes.changed.begin(), changes.changed.end());
      r.previous.insert(r.previous.end(), changes.previous.begin(), changes.previous.end());
    }
    spdlog::debug("source {}: storing a page of {} record(s) with its cursor", cursor_key, items.size());
    const auto counts = store.store_page(cursor_key, items, page->next_cursor, clock.now(), changes.write(opts.lease));
    // A page that leads back to itself (a repeated page) is harmless once; a source that keeps
    // doing it would be followed forever.
    stalled = !page->done && page->next_cursor == cursor ? stalled + 1 : 0;
    if (stalled >= 3) {
      return fail("malformed", "the source answered with the same page " + std::to_string(stalled) + " times in a row (" +
                                   redact_url(req.url) + "); stopped, the cursor stays");
    }
    cursor = page->next_cursor;
    r.cursor = cursor;
    ++r.pages;
    r.records += static_cast<std::int64_t>(items.size());
    r.written += counts.written;
    r.unattributed += unattributed;
    for (const auto& i : items) {
      if (!i.partner_id && r.unattributed_ids.size() < 20) r.unattributed_ids.push_back(i.external_id);
    }
    if (page->done || opts.once) break;
  }
  return r;
}

}  // namespace

SyncResult sync_source(const config::SourceConfig& source, Connector& connector, store::Store& store,
                       const std::vector<rules::PartnerDef>& partners, const core::Clock& clock,
                       const SyncOptions& options) {
  SyncResult r;
  try {
    r = sync_pages(source, connector, store, partners, clock, options);
  } catch (const store::LeaseLost&) {
    // Another instance has taken the source over: not an error, this one just stops.
    r.stopped = true;
    r.lease_lost = true;
  } catch (const store::StoreError& e) {
    // The store failed mid-page: that page's transaction rolled back, the cursor with it.
    r.ok = false;
    r.error = std::string(e.what()) + "; the page was not stored and the cursor stays";
    metrics().error(source.name, "store");
  }
  metrics().record(source.name, r, clock.now());
  return r;
}

}  // namespace pactwatch::sources
