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

// Records per batched lookup of page_changes: a stop is noticed between slices, so a large file
// is not read through after one.
constexpr std::size_t kLookupSlice = 2000;

std::string id_text(const nlohmann::json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

bool same_entry(const nlohmann::json& a, const nlohmann::json& b) { return a.value("at", "") == b.value("at", "") && a.value("status", "") == b.value("status", ""); }

// Adds the entries of `record`'s status history that `item` lacks, in time order. False when it
// had them all.
bool add_history(store::Item& item, const nlohmann::json& record) {
  auto payload = nlohmann::json::parse(item.payload, nullptr, false);
  if (!payload.is_object()) payload = nlohmann::json::object();
  nlohmann::json history = payload.contains("status_history") && payload["status_history"].is_array() ? payload["status_history"]
                                                                                                      : nlohmann::json::array();
  bool changed = false;
  for (const auto& e : record["status_history"]) {
    if (std::none_of(history.begin(), history.end(), [&](const nlohmann::json& h) { return same_entry(h, e); })) {
      history.push_back(e);
      changed = true;
    }
  }
  if (!changed) return false;
  std::stable_sort(history.begin(), history.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a.value("at", "") < b.value("at", "");
  });
  payload["status_history"] = history;
  item.payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return true;
}

// Status history entries merged into the stored tickets they belong to: each entry once, in time
// order; the ticket's version (updated_at) stays, so a later ticket update still wins. The
// tickets are read in one batched lookup.
std::vector<store::Item> merge_history(store::Store& store, const std::string& source, const std::vector<nlohmann::json>& records,
                                       std::int64_t& skipped) {
  std::vector<const nlohmann::json*> with_history;
  std::vector<std::string> ids;
  for (const auto& rec : records) {
    if (!rec.is_object() || !rec.contains("id") || !rec.contains("status_history")) continue;
    with_history.push_back(&rec);
    ids.push_back(id_text(rec["id"]));
  }
  auto stored = store.items().find_many(source, "tickets", ids);
  std::vector<store::Item> out;
  for (std::size_t i = 0; i < with_history.size(); ++i) {
    if (!stored[i]) {
      ++skipped;  // a ticket this source has not brought (yet)
      continue;
    }
    if (add_history(*stored[i], *with_history[i])) out.push_back(std::move(*stored[i]));
  }
  return out;
}

// A ticket update that carries no status history keeps the history already stored for it
// (`stored`: the stored version of each item).
void keep_history(std::vector<store::Item>& items, const std::vector<std::optional<store::Item>>& stored) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    auto payload = nlohmann::json::parse(item.payload, nullptr, false);
    if (!payload.is_object() || payload.contains("status_history")) continue;
    if (!stored[i]) continue;
    const auto old = nlohmann::json::parse(stored[i]->payload, nullptr, false);
    if (!old.is_object() || !old.contains("status_history")) continue;
    payload["status_history"] = old["status_history"];
    item.payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

// A survey that names a ticket of the same source and no account belongs to that ticket's
// partner. The tickets are read in one batched lookup.
void attribute_by_ticket(store::Store& store, const std::string& source, std::vector<nlohmann::json>& records) {
  std::vector<nlohmann::json*> unclaimed;
  std::vector<std::string> ids;
  for (auto& rec : records) {
    if (!rec.is_object() || rec.contains("partner") || rec.contains("account") || !rec.contains("ticket_id")) continue;
    unclaimed.push_back(&rec);
    ids.push_back(id_text(rec["ticket_id"]));
  }
  const auto tickets = store.items().find_many(source, "tickets", ids);
  for (std::size_t i = 0; i < unclaimed.size(); ++i) {
    if (tickets[i] && tickets[i]->partner_id) (*unclaimed[i])["partner"] = *tickets[i]->partner_id;
  }
}

// Adds to `c` the items that change what is stored, with the versions they replace.
void add_changes(PageChanges& c, std::span<const store::Item> items, std::vector<std::optional<store::Item>>& stored) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    auto& prev = stored[i];
    if (prev && (*prev == item || prev->updated_at > item.updated_at)) continue;  // nothing will change
    if (!item.partner_id) ++c.unattributed;
    c.changed.push_back(item);
    if (prev) c.previous.push_back(std::move(*prev));
  }
}

// What a page changes, from the stored versions already read for it.
PageChanges changes_of(std::span<const store::Item> items, std::vector<std::optional<store::Item>>& stored) {
  PageChanges c;
  add_changes(c, items, stored);
  c.intents = store::evaluation_intents_of(c.changed, c.previous);
  return c;
}

}  // namespace

std::vector<std::optional<store::Item>> stored_versions(store::Store& store, std::span<const store::Item> items) {
  std::vector<std::optional<store::Item>> out(items.size());
  // One lookup per source and kind (a page or a file has one of each).
  std::map<std::pair<std::string, std::string>, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < items.size(); ++i) groups[{items[i].source, items[i].kind}].push_back(i);
  for (const auto& [key, places] : groups) {
    std::vector<std::string> ids;
    ids.reserve(places.size());
    for (std::size_t i : places) ids.push_back(items[i].external_id);
    auto found = store.items().find_many(key.first, key.second, ids);
    for (std::size_t k = 0; k < places.size(); ++k) out[places[k]] = std::move(found[k]);
  }
  return out;
}

PageChanges page_changes(store::Store& store, const std::vector<store::Item>& items, const std::atomic<bool>* abort) {
  PageChanges c;
  const std::span<const store::Item> all(items);
  for (std::size_t from = 0; from < all.size(); from += kLookupSlice) {
    if (abort && abort->load()) {
      c.stopped = true;
      break;
    }
    const auto slice = all.subspan(from, std::min(kLookupSlice, all.size() - from));
    auto stored = stored_versions(store, slice);
    add_changes(c, slice, stored);
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

// --- fetch with retries --------------------------------------------------------------------

// The HTTP side of one sync: the source's credentials, the client-side request budget, polite
// retries, OAuth tokens and the vendor's dropped paging positions. Counts what it does in the
// sync's result (requests, retries, rate limits, waits, restarts).
class Fetcher {
 public:
  Fetcher(const config::SourceConfig& src, Connector& connector, const core::Clock& clock, const SyncOptions& opts,
          SyncResult& result)
      : src_(src),
        connector_(connector),
        clock_(clock),
        opts_(opts),
        r_(result),
        sleep_(opts.sleep ? opts.sleep : [](milliseconds d) { std::this_thread::sleep_for(d); }),
        rng_(opts.jitter_seed ? opts.jitter_seed : std::random_device{}()),
        rpm_(src.requests_per_minute > 0 ? src.requests_per_minute : connector.default_requests_per_minute()) {}

  // Reads the credentials, then gets a token when the connector needs one and sends its setup
  // request when it has one.
  std::expected<void, Failure> start();
  // The answer to `request` (the page after `cursor`), retried; a new token when the session
  // expired; after a dropped paging position, `cursor` and `request` start again from the stored
  // position. Any answer but a 2xx is a failure.
  std::expected<net::HttpResponse, Failure> fetch_page(std::string& cursor, net::HttpRequest& request, core::Instant since);

 private:
  enum class Purpose { data, token };
  std::expected<void, Failure> read_secrets();
  std::expected<net::HttpResponse, net::TransportError> send(const net::HttpRequest& req);
  milliseconds backoff(int attempt);
  std::expected<net::HttpResponse, Failure> exchange(const net::HttpRequest& req, Purpose purpose);
  std::expected<void, Failure> get_token();
  std::expected<void, Failure> setup();
  [[nodiscard]] Failure auth_failure(const std::string& where, const net::HttpResponse& resp, const std::string& detail) const;

  const config::SourceConfig& src_;
  Connector& connector_;
  const core::Clock& clock_;
  const SyncOptions& opts_;
  SyncResult& r_;
  std::function<void(milliseconds)> sleep_;
  std::optional<net::HttpClient> http_;
  std::mt19937_64 rng_;
  int rpm_;
  std::optional<core::Instant> last_request_;
  std::string secret_, refresh_;
  std::optional<std::string> last_restart_;
};

std::expected<void, Failure> Fetcher::read_secrets() {
  auto read = [&](const config::SecretRef& ref, std::string_view what) -> std::expected<std::string, std::string> {
    if (opts_.read_secret) return opts_.read_secret(ref, what);
    return config::read_secret(ref, what);
  };
  auto s = read(src_.secret, "sources." + src_.name + ".auth");
  if (!s) return std::unexpected(Failure{"config", s.error()});
  secret_ = *s;
  if (!src_.refresh_token.empty()) {
    auto t = read(src_.refresh_token, "sources." + src_.name + ".auth refresh token");
    if (!t) return std::unexpected(Failure{"config", t.error()});
    refresh_ = *t;
  }
  return {};
}

std::expected<void, Failure> Fetcher::start() {
  if (auto ok = read_secrets(); !ok) return ok;
  http_.emplace(net::HttpOptions{std::chrono::seconds(src_.connect_timeout_s), std::chrono::seconds(src_.timeout_s),
                                         src_.verify_tls, "pactwatch", opts_.abort});
  if (connector_.needs_token()) {
    if (auto t = get_token(); !t) return t;
  }
  return setup();
}

// Waits for the client-side budget, then sends; every wait goes through `sleep`.
std::expected<net::HttpResponse, net::TransportError> Fetcher::send(const net::HttpRequest& req) {
  if (rpm_ > 0 && last_request_) {
    const auto interval = milliseconds(60000 / rpm_);
    const auto elapsed = std::chrono::duration_cast<milliseconds>(clock_.now() - *last_request_);
    if (elapsed < interval) {
      sleep_(interval - elapsed);
      r_.waited += interval - elapsed;
    }
  }
  last_request_ = clock_.now();
  ++r_.requests;
  return http_->send(req);
}

milliseconds Fetcher::backoff(int attempt) {
  const std::int64_t cap = std::min<std::int64_t>(60000, 1000LL << std::min(attempt, 6));
  std::uniform_int_distribution<std::int64_t> jitter(cap / 2, cap);
  return milliseconds(jitter(rng_));
}

// One request, retried politely: transport failures and timeouts, rate limits (429, or the
// vendor's own), 408 and 5xx wait (Retry-After, else exponential backoff with jitter) and go
// again, up to max_retries. Any other answer is returned to the caller to judge. The token
// request goes through here too, so a token endpoint that fails for a while is waited out like
// any other request.
std::expected<net::HttpResponse, Failure> Fetcher::exchange(const net::HttpRequest& req, Purpose purpose) {
  const std::string where = net::redact_url(req.url);
  for (int attempt = 0;; ++attempt) {
    net::HttpRequest authed = req;
    if (purpose == Purpose::data) apply_auth(authed, src_, secret_, connector_);
    auto got = send(authed);
    std::string kind, message;
    std::optional<milliseconds> told;
    if (!got) {
      kind = got.error().kind == net::TransportError::Kind::timeout ? "timeout"
             : got.error().kind == net::TransportError::Kind::tls   ? "tls"
                                                                    : "transport";
      message = kind + " on " + where + ": " + got.error().message;
      count_error(opts_, src_.name, kind);
      if (got.error().kind == net::TransportError::Kind::tls) return std::unexpected(Failure{kind, message + " (the cursor stays)", true});
    } else if (purpose == Purpose::data ? connector_.rate_limited(*got) : got->status == 429) {
      ++r_.rate_limited;
      kind = "rate_limited";
      message = "rate limited on " + where + " (HTTP " + std::to_string(got->status) + ")";
      count_error(opts_, src_.name, kind);
      told = net::retry_after(*got, clock_.now());
    } else if (got->status >= 500 || got->status == 408) {
      kind = "server";
      message = "HTTP " + std::to_string(got->status) + " from " + where + ": " + snippet(got->body);
      count_error(opts_, src_.name, kind);
      told = net::retry_after(*got, clock_.now());
    } else {
      return std::move(*got);
    }
    if (attempt >= src_.max_retries) {
      return std::unexpected(Failure{kind, message + " after " + std::to_string(attempt + 1) + " attempt(s); the cursor stays", true});
    }
    const auto d = told.value_or(backoff(attempt));
    sleep_(d);
    r_.waited += d;
    ++r_.retries;
  }
}

// A new OAuth token. Only an explicit refusal is an authentication failure; an endpoint that
// stays down past the retries fails the sync like any unreachable server (the cursor stays).
std::expected<void, Failure> Fetcher::get_token() {
  const net::HttpRequest tr = connector_.token_request(secret_, refresh_);
  const std::string where = net::redact_url(tr.url);
  auto resp = exchange(tr, Purpose::token);
  if (!resp) return std::unexpected(Failure{resp.error().kind, "token request: " + resp.error().message, true});
  if (resp->status < 200 || resp->status >= 300) {
    if (token_refusal(*resp)) {
      return std::unexpected(Failure{"auth", "authentication failed: the token endpoint " + where + " refused the client (HTTP " +
                                                 std::to_string(resp->status) + "): check sources." + src_.name +
                                                 ".auth; the server said: " + snippet(resp->body)});
    }
    return std::unexpected(Failure{"client", "token request to " + where + " failed (HTTP " + std::to_string(resp->status) +
                                                 "): " + snippet(resp->body)});
  }
  if (auto ok = connector_.accept_token(*resp); !ok) return std::unexpected(Failure{"auth", ok.error()});
  return {};
}

std::expected<void, Failure> Fetcher::setup() {
  const auto request = connector_.setup_request();
  if (!request) return {};
  auto resp = exchange(*request, Purpose::data);
  if (!resp) return std::unexpected(resp.error());
  if (resp->status == 401) return std::unexpected(auth_failure(net::redact_url(request->url), *resp, "(HTTP 401)"));
  if (auto ok = connector_.accept_setup(*resp); !ok) return std::unexpected(Failure{"config", ok.error()});
  return {};
}

Failure Fetcher::auth_failure(const std::string& where, const net::HttpResponse& resp, const std::string& detail) const {
  return {"auth", "authentication failed on " + where + " " + detail + ": check sources." + src_.name +
                      ".auth; the server said: " + snippet(resp.body)};
}

std::expected<net::HttpResponse, Failure> Fetcher::fetch_page(std::string& cursor, net::HttpRequest& req, core::Instant since) {
  bool refreshed = false;  // a new token for this request already
  for (;;) {
    auto resp = exchange(req, Purpose::data);
    if (!resp) return resp;
    const std::string where = net::redact_url(req.url);
    if (resp->status == 401 && connector_.needs_token()) {
      // The session expired (mid-sync, and as often as it likes): a new token, then the same
      // request again. A fresh token refused at once is a real authentication failure.
      if (refreshed) return std::unexpected(auth_failure(where, *resp, "(HTTP 401) with a token just issued"));
      refreshed = true;
      if (auto t = get_token(); !t) return std::unexpected(t.error());
      continue;
    }
    if (auto restart = connector_.restart_after(*resp, cursor)) {
      // The vendor dropped the paging position: start again from the stored position. Twice
      // from the same position means no progress is possible: stop rather than loop.
      if (last_restart_ && *last_restart_ == *restart) {
        return std::unexpected(Failure{"client", "HTTP " + std::to_string(resp->status) + " from " + where +
                                                     ": the paging position was dropped again before any progress from " +
                                                     *restart + "; the cursor stays: " + snippet(resp->body)});
      }
      const std::string cursor_key = connector_.stream().empty() ? src_.name : src_.name + "#" + connector_.stream();
      spdlog::warn("source {}: the paging position was dropped ({}: {}); restarting from the stored position {}", cursor_key,
                   resp->status, snippet(resp->body), *restart);
      ++r_.restarts;
      last_restart_ = *restart;
      cursor = connector_.begin(*restart, clock_.now());
      req = connector_.request(cursor, since);
      refreshed = false;
      continue;
    }
    if (resp->status == 401 || resp->status == 403) {
      return std::unexpected(auth_failure(where, *resp, "(HTTP " + std::to_string(resp->status) + ")"));
    }
    if (resp->status < 200 || resp->status >= 300) {
      return std::unexpected(Failure{"client", "HTTP " + std::to_string(resp->status) + " from " + where + ": " + snippet(resp->body)});
    }
    return resp;
  }
}

// --- page to items -------------------------------------------------------------------------

// A page's answer read by its connector; a parser bug must not take the daemon down.
std::expected<Page, Failure> read_page(const Connector& connector, const net::HttpResponse& resp, const std::string& cursor,
                                       const net::HttpRequest& req) {
  std::expected<Page, std::string> page = std::unexpected(std::string("no page"));
  try {
    page = connector.parse(resp, cursor);
  } catch (const std::exception& e) {
    page = std::unexpected(std::string("could not be read (") + e.what() + ")");
  }
  if (!page) {
    return std::unexpected(Failure{"malformed", "malformed page from " + net::redact_url(req.url) + ": " + page.error() +
                                                    "; nothing of it stored, the cursor stays"});
  }
  return std::move(*page);
}

// What a page stores: its items (or, for a history stream, the stored tickets it adds history
// to) and the records set aside.
struct PageItems {
  std::vector<store::Item> items;
  std::vector<store::QuarantinedRecord> set_aside;
  std::int64_t unattributed = 0;
};

std::expected<PageItems, Failure> page_to_items(store::Store& store, const config::SourceConfig& src, const Connector& connector,
                                                Page& page, int page_no, const net::HttpRequest& req,
                                                const std::vector<rules::PartnerDef>& partners, SyncResult& r) {
  PageItems out;
  if (connector.history_only()) {
    out.items = merge_history(store, src.name, page.records, r.history_skipped);
    return out;
  }
  if (connector.kind() == "surveys") attribute_by_ticket(store, src.name, page.records);
  sources::ImportOptions io;
  io.kind = connector.kind();
  io.source = src.name;
  auto normalized = normalize_records(page.records, src.name + " page " + std::to_string(page_no + 1), io, partners);
  auto q = quarantine_of(page, normalized, src.name, connector.kind());
  if (!q) {
    return std::unexpected(Failure{"malformed", "malformed record from " + net::redact_url(req.url) + ": " + q.error() +
                                                    "; nothing of the page stored, the cursor stays"});
  }
  out.set_aside = std::move(*q);
  out.items = std::move(normalized.items);
  out.unattributed = normalized.unattributed;
  return out;
}

// --- the page loop -------------------------------------------------------------------------

SyncResult& fail(SyncResult& r, const SyncOptions& o, const std::string& source, const Failure& f) {
  r.ok = false;
  r.error = f.message;
  if (!f.counted) count_error(o, source, f.kind);
  return r;
}

// Adds a stored page to the sync's result.
void count_page(SyncResult& r, const PageItems& page, const PageChanges& changes, const store::SourcePageCounts& counts,
                bool collect) {
  if (collect) {
    r.changed.insert(r.changed.end(), changes.changed.begin(), changes.changed.end());
    r.previous.insert(r.previous.end(), changes.previous.begin(), changes.previous.end());
  }
  ++r.pages;
  r.records += static_cast<std::int64_t>(page.items.size() + page.set_aside.size());
  r.written += counts.written;
  r.unchanged += counts.unchanged + counts.requarantined;
  r.quarantined += counts.quarantined;
  r.released += counts.released;
  r.unattributed += page.unattributed;
  r.unattributed_new += changes.unattributed;
  for (const auto& i : page.items) {
    if (!i.partner_id && r.unattributed_ids.size() < 20) r.unattributed_ids.push_back(i.external_id);
  }
  for (const auto& q : page.set_aside) {
    if (r.quarantined_ids.size() < 20) r.quarantined_ids.push_back(q.external_id);
  }
}

// Stores a page with its cursor (none for a backfill) and, in the same transaction, the
// evaluation intents of what it changes (always: the evaluation a page calls for is as durable
// as the page). The page's stored versions are read in one batched lookup, for both the
// history a ticket update keeps and what the page changes.
PageChanges store_page(store::Store& store, const Connector& connector, const std::string& cursor_key, PageItems& page,
                       const std::optional<std::string>& next_cursor, const core::Clock& clock, const SyncOptions& opts,
                       store::SourcePageCounts& counts) {
  auto stored = stored_versions(store, page.items);
  if (!connector.history_only() && connector.kind() == "tickets") keep_history(page.items, stored);
  auto changes = changes_of(page.items, stored);
  for (const auto& q : page.set_aside) {
    spdlog::warn("source {}: record {} set aside (quarantine): {}", cursor_key, q.external_id, q.reason);
  }
  spdlog::debug("source {}: storing a page of {} record(s){}{}", cursor_key, page.items.size(),
                page.set_aside.empty() ? "" : ", " + std::to_string(page.set_aside.size()) + " set aside",
                next_cursor ? " with its cursor" : " (a backfill: the cursor stays)");
  counts = store.sources().store_page({cursor_key, page.items, page.set_aside, next_cursor}, clock.now(), changes.write(opts.lease));
  return changes;
}

SyncResult sync_pages(const config::SourceConfig& src, Connector& connector, store::Store& store,
                      const std::vector<rules::PartnerDef>& partners, const core::Clock& clock, const SyncOptions& opts) {
  SyncResult r;
  Fetcher fetcher(src, connector, clock, opts, r);
  if (auto started = fetcher.start(); !started) return fail(r, opts, src.name, started.error());

  const std::string cursor_key = connector.stream().empty() ? src.name : src.name + "#" + connector.stream();
  const bool backfill = opts.since.has_value();
  core::Instant since = clock.now() - std::chrono::hours(24 * 30);
  if (!src.since.empty()) {
    if (auto t = core::parse_rfc3339(src.since)) since = *t;
  }
  std::string cursor;
  if (backfill) {
    since = *opts.since;
    r.cursor = store.sources().cursor(cursor_key).value_or("");  // stays as it is
  } else {
    cursor = store.sources().cursor(cursor_key).value_or("");
    r.cursor = cursor;
  }
  if (cursor.empty()) cursor = connector.start_cursor(since);  // stored only with the first page
  int stalled = 0;

  for (int page_no = 0; page_no < opts.max_pages; ++page_no) {
    if (opts.stopping && opts.stopping()) {
      r.stopped = true;
      break;
    }
    cursor = connector.begin(cursor, clock.now());
    net::HttpRequest req = connector.request(cursor, since);
    auto resp = fetcher.fetch_page(cursor, req, since);
    if (!resp) return fail(r, opts, src.name, resp.error());
    auto page = read_page(connector, *resp, cursor, req);
    if (!page) return fail(r, opts, src.name, page.error());
    auto items = page_to_items(store, src, connector, *page, page_no, req, partners, r);
    if (!items) return fail(r, opts, src.name, items.error());
    store::SourcePageCounts counts;
    const auto changes = store_page(store, connector, cursor_key, *items,
                                    backfill ? std::nullopt : std::optional<std::string>(page->next_cursor), clock, opts, counts);
    // A page that leads back to itself (a repeated page) is harmless once; a source that keeps
    // doing it would be followed forever.
    stalled = !page->done && page->next_cursor == cursor ? stalled + 1 : 0;
    if (stalled >= 3) {
      return fail(r, opts, src.name, {"malformed", "the source answered with the same page " + std::to_string(stalled) +
                                                 " times in a row (" + net::redact_url(req.url) + "); stopped, the cursor stays"});
    }
    cursor = page->next_cursor;
    if (!backfill) r.cursor = cursor;
    count_page(r, *items, changes, counts, opts.collect_changes);
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
