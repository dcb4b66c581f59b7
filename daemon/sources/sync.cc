#include "pactwatch/sources/sync.h"

#include <spdlog/spdlog.h>

#include <random>
#include <sstream>
#include <thread>

#include "pactwatch/sources/import.h"
#include "pactwatch/store/store.h"

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

void apply_auth(net::HttpRequest& req, const config::SourceConfig& src, const std::string& secret, const Connector& c) {
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

void count_error(const SyncOptions& o, const std::string& source, const std::string& kind) {
  if (o.metrics) o.metrics->error(source, kind);
}

}  // namespace

namespace {

core::Family<std::int64_t>& source_counter(core::MetricsRegistry& r, const char* name, const char* help) {
  return r.integers({name, core::MetricType::counter, help, {"source"}});
}

}  // namespace

SourceMetrics::SourceMetrics(core::MetricsRegistry& r)
    : requests_(source_counter(r, "pactwatch_source_requests_total", "HTTP requests made to the source.")),
      records_(source_counter(r, "pactwatch_source_records_total",
                              "Records received that were new or changed (items and quarantined records).")),
      rereads_(source_counter(r, "pactwatch_source_rereads_total",
                              "Records received again exactly as stored (the boundary record each poll re-reads, window overlaps).")),
      written_(source_counter(r, "pactwatch_source_items_written_total", "Items inserted or changed in the store.")),
      unattributed_(source_counter(r, "pactwatch_source_unattributed_total", "New or changed records attributed to no partner.")),
      quarantined_(source_counter(r, "pactwatch_source_quarantined_total",
                                  "Records set aside because they could not be mapped (pactwatch sources quarantine).")),
      restarts_(source_counter(r, "pactwatch_source_cursor_restarts_total",
                               "Times the vendor dropped a paging position (an expired query locator or page token) and the sync "
                               "restarted from the stored one.")),
      retries_(source_counter(r, "pactwatch_source_retries_total", "Requests retried after a rate limit, server error or timeout.")),
      syncs_(source_counter(r, "pactwatch_source_syncs_total", "Syncs run.")),
      failed_syncs_(source_counter(r, "pactwatch_source_failed_syncs_total", "Syncs that stopped on an error.")),
      last_success_(r.integers({"pactwatch_source_last_success_timestamp_seconds", core::MetricType::gauge,
                                "When the last sync succeeded (Unix time).", {"source"}})),
      errors_(r.integers({"pactwatch_source_errors_total", core::MetricType::counter, "Errors by kind.", {"source", "kind"}})) {}

void SourceMetrics::record(const std::string& source, const SyncResult& r, core::Instant now) {
  const core::LabelValues s{source};
  requests_.with(s).add(r.requests);
  records_.with(s).add(r.records - r.unchanged);  // new or changed only: a re-read of what is stored is not news
  rereads_.with(s).add(r.unchanged);
  written_.with(s).add(r.written);
  unattributed_.with(s).add(r.unattributed_new);
  quarantined_.with(s).add(r.quarantined);
  restarts_.with(s).add(r.restarts);
  retries_.with(s).add(r.retries);
  syncs_.with(s).add();
  if (!r.ok) failed_syncs_.with(s).add();
  else last_success_.with(s).set(core::to_unix_ms(now) / 1000);
  touch(s);  // a source once seen shows every series, 0 where nothing was counted
}

void SourceMetrics::error(const std::string& source, const std::string& kind) {
  touch({source});
  errors_.with({source, kind}).add();
}

void SourceMetrics::touch(const core::LabelValues& source) {
  for (Family* f : {&requests_, &records_, &rereads_, &written_, &unattributed_, &quarantined_, &restarts_, &retries_, &syncs_,
                    &failed_syncs_, &last_success_}) {
    (void)f->with(source);
  }
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
    auto item = store.find_item(source, "tickets", id);
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
    auto stored = store.find_item(item.source, item.kind, item.external_id);
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
    if (auto ticket = store.find_item(source, "tickets", id); ticket && ticket->partner_id) rec["partner"] = *ticket->partner_id;
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
    auto prev = store.find_item(item.source, item.kind, item.external_id);
    if (prev && (*prev == item || prev->updated_at > item.updated_at)) continue;  // nothing will change
    if (!item.partner_id) ++c.unattributed;
    c.changed.push_back(item);
    if (prev) c.previous.push_back(std::move(*prev));
  }
  c.intents = store::evaluation_intents_of(c.changed, c.previous);
  return c;
}

namespace {

// A failure that ends the sync: the kind it counts as in /metrics, and what to tell the operator.
struct Failure {
  std::string kind;
  std::string message;
  bool counted = false;  // already in /metrics (each failed attempt is counted as it happens)
};

// OAuth token endpoint answers that refuse the client for good (RFC 6749, section 5.2): wrong
// credentials, a revoked refresh token, a grant the client may not use. Anything else the
// endpoint says may pass (5xx, 429, a timeout) and is retried like any request.
bool token_refusal(const net::HttpResponse& r) {
  if (r.status != 400 && r.status != 401 && r.status != 403) return false;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  const std::string error = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "";
  return error == "invalid_client" || error == "invalid_grant" || error == "unauthorized_client" ||
         error == "unsupported_grant_type" || error == "invalid_scope" || error == "invalid_request" || r.status == 401;
}

// The records of a page the import shape refuses (an amount with more decimals than its
// currency, an unknown field value) become quarantined records: set aside with the reason, so
// they never block the records after them. A record without an id cannot be set aside: its page
// fails (returned as the message).
std::expected<std::vector<store::QuarantinedRecord>, std::string> quarantine_of(const Page& page, const ParsedImport& normalized,
                                                                              const std::string& source, const std::string& kind) {
  std::vector<store::QuarantinedRecord> out;
  auto add = [&](const std::string& id, const std::string& reason, const nlohmann::json& record) {
    store::QuarantinedRecord q;
    q.source = source;
    q.kind = kind;
    q.external_id = id;
    q.reason = reason;
    q.record = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.push_back(std::move(q));
  };
  for (const auto& rej : page.rejected) {
    if (rej.id.empty()) return std::unexpected("a record without an id: " + rej.reason);
    add(rej.id, rej.reason, rej.record);
  }
  for (const auto& bad : normalized.bad_lines) {
    const auto n = static_cast<std::size_t>(bad.line);
    const nlohmann::json* rec = n >= 1 && n <= page.records.size() ? &page.records[n - 1] : nullptr;
    std::string id;
    if (rec && rec->is_object() && rec->contains("id")) {
      const auto& v = (*rec)["id"];
      id = v.is_string() ? v.get<std::string>() : v.is_number_integer() ? std::to_string(v.get<std::int64_t>()) : "";
    }
    if (id.empty()) return std::unexpected(bad.to_string());
    add(id, bad.message, *rec);
  }
  return out;
}

SyncResult sync_pages(const config::SourceConfig& src, Connector& connector, store::Store& store,
                      const std::vector<rules::PartnerDef>& partners, const core::Clock& clock, const SyncOptions& opts) {
  SyncResult r;
  auto fail = [&](const Failure& f) {
    r.ok = false;
    r.error = f.message;
    if (!f.counted) count_error(opts, src.name, f.kind);
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
    if (!s) return fail({"config", s.error()});
    secret = *s;
    if (!src.refresh_token.empty()) {
      auto t = read(src.refresh_token, "sources." + src.name + ".auth refresh token");
      if (!t) return fail({"config", t.error()});
      refresh = *t;
    }
  }
  net::HttpClient http({std::chrono::seconds(src.connect_timeout_s), std::chrono::seconds(src.timeout_s), src.verify_tls,
                   "pactwatch", opts.abort});
  std::mt19937_64 rng(opts.jitter_seed ? opts.jitter_seed : std::random_device{}());
  const int rpm = src.requests_per_minute > 0 ? src.requests_per_minute : connector.default_requests_per_minute();
  std::optional<core::Instant> last_request;

  // Waits for the client-side budget, then sends; every wait goes through `sleep`.
  auto send = [&](const net::HttpRequest& req) {
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

  // One request, retried politely: transport failures and timeouts, rate limits (429, or the
  // vendor's own), 408 and 5xx wait (Retry-After, else exponential backoff with jitter) and go
  // again, up to max_retries. Any other answer is returned to the caller to judge. The token
  // request goes through here too, so a token endpoint that fails for a while is waited out
  // like any other request.
  enum class Purpose { data, token };
  auto exchange = [&](const net::HttpRequest& req, Purpose purpose) -> std::expected<net::HttpResponse, Failure> {
    const std::string where = net::redact_url(req.url);
    for (int attempt = 0;; ++attempt) {
      net::HttpRequest authed = req;
      if (purpose == Purpose::data) apply_auth(authed, src, secret, connector);
      auto got = send(authed);
      std::string kind, message;
      std::optional<milliseconds> told;
      if (!got) {
        kind = got.error().kind == net::TransportError::Kind::timeout ? "timeout"
               : got.error().kind == net::TransportError::Kind::tls   ? "tls"
                                                                 : "transport";
        message = kind + " on " + where + ": " + got.error().message;
        count_error(opts, src.name, kind);
        if (got.error().kind == net::TransportError::Kind::tls) return std::unexpected(Failure{kind, message + " (the cursor stays)", true});
      } else if (purpose == Purpose::data ? connector.rate_limited(*got) : got->status == 429) {
        ++r.rate_limited;
        kind = "rate_limited";
        message = "rate limited on " + where + " (HTTP " + std::to_string(got->status) + ")";
        count_error(opts, src.name, kind);
        told = net::retry_after(*got, clock.now());
      } else if (got->status >= 500 || got->status == 408) {
        kind = "server";
        message = "HTTP " + std::to_string(got->status) + " from " + where + ": " + snippet(got->body);
        count_error(opts, src.name, kind);
        told = net::retry_after(*got, clock.now());
      } else {
        return std::move(*got);
      }
      if (attempt >= src.max_retries) {
        return std::unexpected(Failure{kind, message + " after " + std::to_string(attempt + 1) + " attempt(s); the cursor stays", true});
      }
      const auto d = told.value_or(backoff(attempt));
      sleep(d);
      r.waited += d;
      ++r.retries;
    }
  };

  // A new OAuth token. Only an explicit refusal is an authentication failure; an endpoint that
  // stays down past the retries fails the sync like any unreachable server (the cursor stays).
  auto get_token = [&]() -> std::expected<void, Failure> {
    const net::HttpRequest tr = connector.token_request(secret, refresh);
    const std::string where = net::redact_url(tr.url);
    auto resp = exchange(tr, Purpose::token);
    if (!resp) return std::unexpected(Failure{resp.error().kind, "token request: " + resp.error().message, true});
    if (resp->status < 200 || resp->status >= 300) {
      if (token_refusal(*resp)) {
        return std::unexpected(Failure{"auth", "authentication failed: the token endpoint " + where + " refused the client (HTTP " +
                                                   std::to_string(resp->status) + "): check sources." + src.name +
                                                   ".auth; the server said: " + snippet(resp->body)});
      }
      return std::unexpected(Failure{"client", "token request to " + where + " failed (HTTP " + std::to_string(resp->status) +
                                                   "): " + snippet(resp->body)});
    }
    if (auto ok = connector.accept_token(*resp); !ok) return std::unexpected(Failure{"auth", ok.error()});
    return {};
  };
  if (connector.needs_token()) {
    if (auto t = get_token(); !t) return fail(t.error());
  }
  if (const auto setup = connector.setup_request()) {
    auto resp = exchange(*setup, Purpose::data);
    if (!resp) return fail(resp.error());
    if (resp->status == 401) {
      return fail({"auth", "authentication failed on " + net::redact_url(setup->url) + " (HTTP 401): check sources." + src.name +
                               ".auth; the server said: " + snippet(resp->body)});
    }
    if (auto ok = connector.accept_setup(*resp); !ok) return fail({"config", ok.error()});
  }

  const std::string cursor_key = connector.stream().empty() ? src.name : src.name + "#" + connector.stream();
  const bool backfill = opts.since.has_value();
  const core::Instant now = clock.now();
  core::Instant since = now - std::chrono::hours(24 * 30);
  if (!src.since.empty()) {
    if (auto t = core::parse_rfc3339(src.since)) since = *t;
  }
  std::string cursor;
  if (backfill) {
    since = *opts.since;
    r.cursor = store.cursor(cursor_key).value_or("");  // stays as it is
  } else {
    cursor = store.cursor(cursor_key).value_or("");
    r.cursor = cursor;
  }
  if (cursor.empty()) cursor = connector.start_cursor(since);  // stored only with the first page
  int stalled = 0;
  std::optional<std::string> last_restart;

  for (int page_no = 0; page_no < opts.max_pages; ++page_no) {
    if (opts.stopping && opts.stopping()) {
      r.stopped = true;
      break;
    }
    cursor = connector.begin(cursor, clock.now());
    net::HttpRequest req = connector.request(cursor, since);
    net::HttpResponse resp;
    bool refreshed = false;  // a new token for this request already
    for (;;) {
      auto got = exchange(req, Purpose::data);
      if (!got) return fail(got.error());
      resp = std::move(*got);
      const std::string where = net::redact_url(req.url);
      if (resp.status == 401 && connector.needs_token()) {
        // The session expired (mid-sync, and as often as it likes): a new token, then the same
        // request again. A fresh token refused at once is a real authentication failure.
        if (refreshed) {
          return fail({"auth", "authentication failed on " + where + " (HTTP 401) with a token just issued: check sources." +
                                   src.name + ".auth; the server said: " + snippet(resp.body)});
        }
        refreshed = true;
        if (auto t = get_token(); !t) return fail(t.error());
        continue;
      }
      if (auto restart = connector.restart_after(resp, cursor)) {
        // The vendor dropped the paging position: start again from the stored position. Twice
        // from the same position means no progress is possible: stop rather than loop.
        if (last_restart && *last_restart == *restart) {
          return fail({"client", "HTTP " + std::to_string(resp.status) + " from " + where +
                                     ": the paging position was dropped again before any progress from " + *restart +
                                     "; the cursor stays: " + snippet(resp.body)});
        }
        spdlog::warn("source {}: the paging position was dropped ({}: {}); restarting from the stored position {}", cursor_key,
                     resp.status, snippet(resp.body), *restart);
        ++r.restarts;
        last_restart = *restart;
        cursor = connector.begin(*restart, clock.now());
        req = connector.request(cursor, since);
        refreshed = false;
        continue;
      }
      if (resp.status == 401 || resp.status == 403) {
        return fail({"auth", "authentication failed on " + where + " (HTTP " + std::to_string(resp.status) + "): check sources." +
                                 src.name + ".auth; the server said: " + snippet(resp.body)});
      }
      if (resp.status < 200 || resp.status >= 300) {
        return fail({"client", "HTTP " + std::to_string(resp.status) + " from " + where + ": " + snippet(resp.body)});
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
      return fail({"malformed", "malformed page from " + net::redact_url(req.url) + ": " + page.error() +
                                    "; nothing of it stored, the cursor stays"});
    }
    std::vector<store::Item> items;
    std::vector<store::QuarantinedRecord> set_aside;
    std::int64_t unattributed = 0;
    if (connector.history_only()) {
      items = merge_history(store, src.name, page->records, r.history_skipped);
    } else {
      if (connector.kind() == "surveys") attribute_by_ticket(store, src.name, page->records);
      sources::ImportOptions io;
      io.kind = connector.kind();
      io.source = src.name;
      auto normalized = normalize_records(page->records, src.name + " page " + std::to_string(page_no + 1), io, partners);
      auto q = quarantine_of(*page, normalized, src.name, connector.kind());
      if (!q) {
        return fail({"malformed", "malformed record from " + net::redact_url(req.url) + ": " + q.error() +
                                      "; nothing of the page stored, the cursor stays"});
      }
      set_aside = std::move(*q);
      items = std::move(normalized.items);
      unattributed = normalized.unattributed;
      if (connector.kind() == "tickets") keep_history(store, items);
    }
    // What the page changes, and the evaluation intents its transaction records (always: the
    // evaluation a page calls for is as durable as the page).
    auto changes = page_changes(store, items);
    const std::int64_t unattributed_new = changes.unattributed;
    if (opts.collect_changes) {
      r.changed.insert(r.changed.end(), changes.changed.begin(), changes.changed.end());
      r.previous.insert(r.previous.end(), changes.previous.begin(), changes.previous.end());
    }
    for (const auto& q : set_aside) {
      spdlog::warn("source {}: record {} set aside (quarantine): {}", cursor_key, q.external_id, q.reason);
    }
    spdlog::debug("source {}: storing a page of {} record(s){}{}", cursor_key, items.size(),
                  set_aside.empty() ? "" : ", " + std::to_string(set_aside.size()) + " set aside",
                  backfill ? " (a backfill: the cursor stays)" : " with its cursor");
    const auto counts = store.store_source_page(
        {cursor_key, items, set_aside, backfill ? std::nullopt : std::optional<std::string>(page->next_cursor)}, clock.now(),
        changes.write(opts.lease));
    // A page that leads back to itself (a repeated page) is harmless once; a source that keeps
    // doing it would be followed forever.
    stalled = !page->done && page->next_cursor == cursor ? stalled + 1 : 0;
    if (stalled >= 3) {
      return fail({"malformed", "the source answered with the same page " + std::to_string(stalled) + " times in a row (" +
                                    net::redact_url(req.url) + "); stopped, the cursor stays"});
    }
    cursor = page->next_cursor;
    if (!backfill) r.cursor = cursor;
    ++r.pages;
    r.records += static_cast<std::int64_t>(items.size() + set_aside.size());
    r.written += counts.written;
    r.unchanged += counts.unchanged + counts.requarantined;
    r.quarantined += counts.quarantined;
    r.released += counts.released;
    r.unattributed += unattributed;
    r.unattributed_new += unattributed_new;
    for (const auto& i : items) {
      if (!i.partner_id && r.unattributed_ids.size() < 20) r.unattributed_ids.push_back(i.external_id);
    }
    for (const auto& q : set_aside) {
      if (r.quarantined_ids.size() < 20) r.quarantined_ids.push_back(q.external_id);
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
    count_error(options, source.name, "store");
  }
  if (options.metrics) options.metrics->record(source.name, r, clock.now());
  return r;
}

}  // namespace pactwatch::sources
