// REST API v1: routing, authentication, authorization, rate limits, pagination, problems, and the
// handlers. The route table below is the one list of what the API serves and who may call it; the
// authorization test matrix and the OpenAPI check read it through Api::routes().
// Over 800 lines for now: the route table and its handlers; splitting the handlers by route family (partners, ledger, tokens) is open in issue 20.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>

#include "internal.h"
#include "pactwatch/api/http_server.h"
#include "pactwatch/api/tokens.h"
#include "pactwatch/ledger/report.h"
#include "pactwatch/ledger/verify.h"

namespace pactwatch::api {

namespace {

constexpr std::string_view kProblemType = "urn:pactwatch:problem:";

}  // namespace

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const auto j = path.find('/', i);
    out.emplace_back(path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j;
  }
  return out;
}

namespace {

using Handler = Result<json> (*)(Api::Impl&, Call&);

struct Route {
  const char* method;
  const char* pattern;
  std::vector<Role> roles;
  Handler handler;
  bool audited = false;  // finance and admin calls are written to the audit log
};

std::string query(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// The media type of a Content-Type value, without its parameters: "application/json; charset=utf-8"
// -> "application/json" (RFC 9110 section 8.3.1; compared case-insensitively by the caller).
std::string_view media_type(std::string_view content_type) { return trim(content_type.substr(0, content_type.find(';'))); }

Result<json> parse_body(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  const auto ct = req.get_header_value("Content-Type");
  if (!iequals(media_type(ct), "application/json")) {
    return std::unexpected(Problem{415, "unsupported-media-type", "Unsupported media type",
                                   "send the body as application/json"});
  }
  auto body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return std::unexpected(bad_request("the body is not a JSON object"));
  return body;
}

// ---- handlers ----

Result<json> list_partners(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  Reader r(impl.db, *c.rules, c.now, c.who);
  std::vector<std::pair<std::vector<std::string>, json>> keyed;
  for (const auto* p : r.partners()) keyed.push_back({{p->id}, r.partner_json(*p)});
  return page_of(std::move(keyed), *page);
}

Result<json> get_partner(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  const auto* p = r.partner(c.params.at("partner"));
  json out = r.partner_json(*p);
  json versions = json::array();
  for (const auto* v : r.versions_of(p->id)) versions.push_back(r.version_json(*v));
  out["contract_versions"] = versions;
  return out;
}

std::string standing_key(const std::string& partner, const httplib::Request& req, const Principal& who) {
  return partner + '\n' + query(req, "period") + '\n' + (who.sees_drafts() ? "d" : "e");
}

// A partner's standing as rendered less than api.standing_cache ago.
std::optional<std::string> standing_in_memory(Api::Impl& impl, const std::string& key, core::Instant now) {
  const auto ttl = impl.options.standing_cache_ttl;
  if (ttl.count() <= 0) return std::nullopt;
  std::lock_guard lock(impl.standing_mutex);
  auto it = impl.standing.find(key);
  if (it != impl.standing.end() && now >= it->second.at && now - it->second.at < ttl) return it->second.body;
  return std::nullopt;
}

Result<json> partner_kpis(Api::Impl& impl, Call& c) {
  const std::string key = standing_key(c.params.at("partner"), c.req, c.who);
  const auto ttl = impl.options.standing_cache_ttl;
  if (auto body = standing_in_memory(impl, key, c.now)) {
    c.res.status = 200;
    c.res.set_content(std::move(*body), "application/json");
    return json();  // the body is set
  }
  Reader r(impl.db, *c.rules, c.now, c.who, nullptr, &impl.standing_entries);
  auto out = r.kpis(c.params.at("partner"), query(c.req, "period"));
  if (!out || ttl.count() == 0) return out;
  std::string body = out->dump(-1, ' ', false, json::error_handler_t::replace);
  {
    std::lock_guard lock(impl.standing_mutex);
    if (impl.standing.size() > 10000) impl.standing.clear();
    impl.standing[key] = {body, c.now};
  }
  c.res.status = 200;
  c.res.set_content(std::move(body), "application/json");
  return json();
}

Result<json> partner_evidence(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  std::optional<int> version;
  if (const auto v = query(c.req, "version"); !v.empty()) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size() || n < 1) return std::unexpected(bad_request("version: expected a contract version number"));
    version = n;
  }
  Reader r(impl.db, *c.rules, c.now, c.who);
  return r.evidence(c.params.at("partner"), c.params.at("kpi"), query(c.req, "period"), *page, query(c.req, "contract"), version);
}

Result<json> partner_history(Api::Impl& impl, Call& c) {
  int periods = 12;
  if (const auto p = query(c.req, "periods"); !p.empty()) {
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), periods);
    if (ec != std::errc() || ptr != p.data() + p.size() || periods < 1 || periods > 36) {
      return std::unexpected(bad_request("periods: expected an integer from 1 to 36"));
    }
  }
  Reader r(impl.db, *c.rules, c.now, c.who, &impl.history_cache);
  return r.history(c.params.at("partner"), query(c.req, "kpi"), periods);
}

Result<json> partner_statements(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  return r.statements(c.params.at("partner"), query(c.req, "period"));
}

Result<json> partner_what_if(Api::Impl& impl, Call& c) {
  auto body = parse_body(c.req);
  if (!body) return std::unexpected(body.error());
  if (!body->contains("values") || !(*body)["values"].is_object() || (*body)["values"].empty()) {
    return std::unexpected(bad_request("expected {\"period\": \"2026-10\", \"values\": {\"csat\": \"92%\"}}"));
  }
  std::map<std::string, std::string> values;
  for (const auto& [k, v] : (*body)["values"].items()) {
    if (!v.is_string()) return std::unexpected(bad_request("values." + k + ": expected a string such as \"92%\" or \"4h\""));
    values[k] = v.get<std::string>();
  }
  std::string period;
  if (body->contains("period")) {
    if (!(*body)["period"].is_string()) return std::unexpected(bad_request("period: expected a label such as \"2026-10\""));
    period = (*body)["period"].get<std::string>();
  }
  Reader r(impl.db, *c.rules, c.now, c.who);
  return r.statements(c.params.at("partner"), period, &values);
}

Result<json> compensation_report(Api::Impl& impl, Call& c) {
  const auto period = query(c.req, "period");
  if (period.empty()) return std::unexpected(bad_request("period: required, e.g. ?period=2026-10"));
  ledger::Statements st(*c.rules, impl.db);
  auto views = st.for_period(period, std::nullopt, c.now);
  if (!views) return std::unexpected(bad_request("period '" + period + "': " + views.error()));
  const auto report = ledger::make_report(period, c.now, *views);
  const bool csv = query(c.req, "format") == "csv" ||
                   (query(c.req, "format").empty() && c.req.get_header_value("Accept").find("text/csv") != std::string::npos);
  if (!query(c.req, "format").empty() && query(c.req, "format") != "csv" && query(c.req, "format") != "json") {
    return std::unexpected(bad_request("format: expected csv or json"));
  }
  if (csv) {
    c.res.set_header("Content-Disposition", "attachment; filename=\"compensation-" + period + ".csv\"");
    c.res.status = 200;
    c.res.set_content(ledger::report_csv(report), "text/csv; charset=utf-8; header=present");
    return json();  // the body is set
  }
  return ledger::report_json(report);
}

Result<json> close_period(Api::Impl& impl, Call& c) {
  auto body = parse_body(c.req);
  if (!body) return std::unexpected(body.error());
  std::optional<std::string> partner;
  if (body->contains("partner")) {
    if (!(*body)["partner"].is_string()) return std::unexpected(bad_request("partner: expected a partner id"));
    partner = (*body)["partner"].get<std::string>();
    if (!c.rules->partner(*partner)) return std::unexpected(not_found("no partner '" + *partner + "'"));
  }
  ledger::Statements st(*c.rules, impl.db);
  try {
    auto r = st.close(c.params.at("period"), partner, c.now, c.now, c.who.name + " (" + c.who.token_id + ")");
    if (!r) return std::unexpected(conflict(r.error() + "; nothing closed"));
    json outcomes = json::array();
    for (const auto& o : *r) {
      const char* kind = o.kind == ledger::CloseOutcome::Kind::closed       ? "closed"
                         : o.kind == ledger::CloseOutcome::Kind::reproduced ? "reproduced"
                         : o.kind == ledger::CloseOutcome::Kind::differs    ? "differs"
                                                                            : "skipped_draft";
      outcomes.push_back({{"partner", o.partner}, {"contract", o.contract}, {"version", o.version}, {"period", o.period},
                          {"outcome", kind}, {"total", o.total}, {"detail", o.detail}});
    }
    return json{{"period", c.params.at("period")}, {"outcomes", outcomes}};
  } catch (const store::AlreadyClosed& e) {
    return std::unexpected(conflict(std::string(e.what()) + " (closed meanwhile by another request); nothing closed"));
  }
}

// One closed statement's bundle. A statement of another partner, a contract that is not the
// partner's and a statement that does not exist all answer the same 404, word for word.
Result<json> statement_bundle(Api::Impl& impl, Call& c) {
  const auto& partner = c.params.at("partner");
  const auto& contract = c.params.at("contract");
  const auto& period = c.params.at("period");
  const auto& version_text = c.params.at("version");
  const Problem missing = not_found("no closed statement of contract '" + contract + "' v" + version_text + " for " + period +
                                    " of partner '" + partner + "'");
  int version = 0;
  auto [ptr, ec] = std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
  if (ec != std::errc() || ptr != version_text.data() + version_text.size()) return std::unexpected(missing);
  auto bundle = ledger::statement_bundle(*c.rules, impl.db, contract, version, period);
  if (!bundle || (*bundle)["statement"]["partner"] != partner) return std::unexpected(missing);
  c.res.set_header("Content-Disposition", "attachment; filename=\"statement-" + contract + "-v" + std::to_string(version) + "-" +
                                              period + ".json\"");
  return std::move(*bundle);
}

Result<json> verify_ledger(Api::Impl& impl, Call& c) {
  return ledger::verify_json(ledger::verify_ledger(*c.rules, impl.db));
}

Result<json> list_contracts(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  Reader r(impl.db, *c.rules, c.now, c.who);
  std::map<std::string, std::vector<const rules::ContractVersion*>> by_id;
  for (const auto& v : c.rules->contracts) {
    if (r.may_see(v)) by_id[v.contract].push_back(&v);
  }
  std::vector<std::pair<std::vector<std::string>, json>> keyed;
  for (const auto& [id, versions] : by_id) {
    const auto* latest = *std::max_element(versions.begin(), versions.end(), [](auto* a, auto* b) { return a->version < b->version; });
    keyed.push_back({{id}, json{{"id", id}, {"partner", latest->partner}, {"versions", versions.size()},
                                {"latest", r.version_json(*latest)}}});
  }
  return page_of(std::move(keyed), *page);
}

Result<json> contract_versions(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  json items = json::array();
  for (const auto& v : c.rules->contracts) {
    if (v.contract == c.params.at("contract") && r.may_see(v)) items.push_back(r.version_json(v));
  }
  if (items.empty()) return std::unexpected(not_found("no contract '" + c.params.at("contract") + "'"));
  return json{{"contract", c.params.at("contract")}, {"items", items}};
}

// An event's data with its links as they are now (events stored with older links show working ones).
json event_data(const store::OutboxEvent& e) {
  json data = json::parse(e.payload, nullptr, false);
  if (!data.is_object()) data = json::object();
  for (const auto& [name, path] : store::event_links(e)) data[name] = path;
  return data;
}

json event_json(store::Store& db, const store::OutboxEvent& e) {
  json deliveries = json::array();
  for (const auto& d : db.deliveries_of(e.id)) {
    deliveries.push_back({{"channel", d.channel}, {"status", d.status}, {"attempts", d.attempts},
                          {"next_attempt_at", core::format_rfc3339(d.next_attempt_at)},
                          {"last_error", d.last_error.empty() ? json(nullptr) : json(d.last_error)},
                          {"delivered_at", d.delivered_at ? json(core::format_rfc3339(*d.delivered_at)) : json(nullptr)}});
  }
  return json{{"id", e.id}, {"type", e.type}, {"partner", e.partner}, {"contract", e.contract}, {"version", e.version},
              {"period", e.period}, {"subject", e.subject}, {"created_at", core::format_rfc3339(e.created_at)},
              {"data", event_data(e)}, {"deliveries", deliveries}};
}

Result<json> list_notifications(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  const auto status = query(c.req, "status");
  if (!status.empty() && status != "pending" && status != "delivered" && status != "dead") {
    return std::unexpected(bad_request("status: expected pending, delivered or dead"));
  }
  if (!status.empty()) {
    // The events with a delivery in that state (status=dead: the dead-letter list), by event id.
    std::vector<std::string> ids;
    for (const auto& d : impl.db.deliveries(status)) ids.push_back(d.event_id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<std::pair<std::vector<std::string>, json>> keyed;
    for (const auto& id : ids) {
      if (page->after && std::vector<std::string>{id} <= *page->after) continue;
      if (keyed.size() > page->limit) break;
      if (auto e = impl.db.outbox_event(id)) keyed.push_back({{id}, event_json(impl.db, *e)});
    }
    PageRequest all{std::nullopt, page->limit};
    return page_of(std::move(keyed), all);
  }
  // Every event in the order written, keyset on (created_at, id).
  core::Instant after_at{};
  std::string after_id;
  if (page->after) {
    if (page->after->size() != 2) return std::unexpected(bad_request("cursor: not a cursor of this list"));
    std::int64_t ms = 0;
    const auto& t = (*page->after)[0];
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (ec != std::errc() || ptr != t.data() + t.size()) return std::unexpected(bad_request("cursor: not a cursor of this list"));
    after_at = core::from_unix_ms(ms);
    after_id = (*page->after)[1];
  } else {
    after_at = core::from_unix_ms(std::numeric_limits<std::int64_t>::min());
  }
  auto events = impl.db.outbox_events_after(after_at, after_id, page->limit + 1);
  json items = json::array();
  json next = nullptr;
  for (std::size_t i = 0; i < events.size() && i < page->limit; ++i) items.push_back(event_json(impl.db, events[i]));
  if (events.size() > page->limit) {
    const auto& last = events[page->limit - 1];
    next = encode_cursor({std::to_string(core::to_unix_ms(last.created_at)), last.id});
  }
  return json{{"items", items}, {"next_cursor", next}};
}

Result<json> retry_notification(Api::Impl& impl, Call& c) {
  const auto& id = c.params.at("event");
  if (id != "all" && !impl.db.outbox_event(id)) return std::unexpected(not_found("no notification event '" + id + "'"));
  const int n = impl.db.retry_deliveries(id, c.now);
  return json{{"event", id}, {"requeued", n}};
}

Result<json> list_audit(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  // Newest first, keyset on the sequence number.
  std::optional<std::int64_t> before;
  if (page->after) {
    std::int64_t seq = 0;
    const auto& t = page->after->front();
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), seq);
    if (page->after->size() != 1 || ec != std::errc() || ptr != t.data() + t.size()) {
      return std::unexpected(bad_request("cursor: not a cursor of this list"));
    }
    before = seq;
  }
  const auto entries = impl.db.audit_log(page->limit + 1, before);
  json items = json::array();
  for (std::size_t i = 0; i < entries.size() && i < page->limit; ++i) {
    const auto& e = entries[i];
    items.push_back({{"seq", e.seq}, {"at", core::format_rfc3339(e.at)}, {"actor", e.actor}, {"role", e.role},
                     {"action", e.action}, {"target", e.target}, {"outcome", e.outcome}});
  }
  json next = entries.size() > page->limit ? json(encode_cursor({std::to_string(entries[page->limit - 1].seq)})) : json(nullptr);
  return json{{"items", items}, {"next_cursor", next}};
}

const std::vector<Route>& route_table() {
  using enum Role;
  static const std::vector<Route> routes{
      {"GET", "/v1/partners", {admin, finance, viewer, partner}, list_partners},
      {"GET", "/v1/partners/{partner}", {admin, finance, viewer, partner}, get_partner},
      {"GET", "/v1/partners/{partner}/kpis", {admin, finance, viewer, partner}, partner_kpis},
      {"GET", "/v1/partners/{partner}/kpis/{kpi}/evidence", {admin, finance, viewer, partner}, partner_evidence},
      {"GET", "/v1/partners/{partner}/history", {admin, finance, viewer, partner}, partner_history},
      {"GET", "/v1/partners/{partner}/statements", {admin, finance, partner}, partner_statements, true},
      {"POST", "/v1/partners/{partner}/what-if", {admin, finance, partner}, partner_what_if},
      {"GET", "/v1/compensation", {admin, finance}, compensation_report, true},
      {"POST", "/v1/periods/{period}/close", {admin, finance}, close_period, true},
      {"GET", "/v1/partners/{partner}/statements/{contract}/{version}/{period}/bundle", {admin, finance, partner}, statement_bundle, true},
      {"GET", "/v1/ledger/verify", {admin, finance}, verify_ledger, true},
      {"GET", "/v1/contracts", {admin, finance, viewer, partner}, list_contracts},
      {"GET", "/v1/contracts/{contract}/versions", {admin, finance, viewer, partner}, contract_versions},
      {"GET", "/v1/notifications", {admin}, list_notifications},
      {"POST", "/v1/notifications/{event}/retry", {admin}, retry_notification, true},
      {"GET", "/v1/audit", {admin}, list_audit},
  };
  return routes;
}

// The token of "Authorization: Bearer <token>"; the scheme is case-insensitive (RFC 9110 section 11.1).
std::string bearer_of(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  const std::string_view v = trim(h);
  const auto space = v.find_first_of(" \t");
  if (space == std::string_view::npos || !iequals(v.substr(0, space), "bearer")) return {};
  return std::string(trim(v.substr(space)));
}

}  // namespace

// Matches a path against a route's template; fills the captures. An {event} capture spans as
// many segments as the path has to spare: notification event ids contain '/' (sent as is or as
// %2F, which httplib has decoded already).
bool match_route(const std::vector<std::string>& tpl, const std::vector<std::string>& path, std::map<std::string, std::string>& params) {
  std::size_t spare = 0;
  const bool greedy = std::find(tpl.begin(), tpl.end(), "{event}") != tpl.end();
  if (greedy ? path.size() < tpl.size() : path.size() != tpl.size()) return false;
  if (greedy) spare = path.size() - tpl.size();
  std::map<std::string, std::string> out;
  std::size_t p = 0;
  for (std::size_t i = 0; i < tpl.size(); ++i, ++p) {
    if (tpl[i].size() > 2 && tpl[i].front() == '{') {
      std::string value = path[p];
      if (tpl[i] == "{event}") {
        for (std::size_t k = 0; k < spare; ++k) value += "/" + path[++p];
      }
      if (value.empty()) return false;
      out[tpl[i].substr(1, tpl[i].size() - 2)] = std::move(value);
    } else if (tpl[i] != path[p]) {
      return false;
    }
  }
  params = std::move(out);
  return true;
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::admin: return "admin";
    case Role::finance: return "finance";
    case Role::viewer: return "viewer";
    case Role::partner: return "partner";
  }
  return "viewer";
}

std::optional<Role> role_from(std::string_view s) {
  for (Role r : {Role::admin, Role::finance, Role::viewer, Role::partner}) {
    if (to_string(r) == s) return r;
  }
  return std::nullopt;
}

void send_problem(httplib::Response& res, const Problem& p, const std::string& instance) {
  res.status = p.status;
  json body{{"type", std::string(kProblemType) + p.slug}, {"title", p.title}, {"status", p.status}, {"detail", p.detail},
            {"instance", instance}};
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/problem+json");
}

std::string encode_cursor(const std::vector<std::string>& key) {
  const std::string raw = json(key).dump(-1, ' ', false, json::error_handler_t::replace);
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char c : raw) {
    buf = (buf << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(buf >> bits) & 63u]);
    }
  }
  if (bits > 0) out.push_back(kB64[(buf << (6 - bits)) & 63u]);
  return out;
}

std::optional<std::vector<std::string>> decode_cursor(std::string_view text) {
  if (text.size() > 2048) return std::nullopt;
  std::string raw;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char ch : text) {
    std::uint32_t v = 0;
    if (ch >= 'A' && ch <= 'Z') v = static_cast<std::uint32_t>(ch - 'A');
    else if (ch >= 'a' && ch <= 'z') v = static_cast<std::uint32_t>(ch - 'a' + 26);
    else if (ch >= '0' && ch <= '9') v = static_cast<std::uint32_t>(ch - '0' + 52);
    else if (ch == '-') v = 62;
    else if (ch == '_') v = 63;
    else return std::nullopt;
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      raw.push_back(static_cast<char>((buf >> bits) & 0xFFu));
    }
  }
  auto j = json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<PageRequest> page_request(const httplib::Request& req, const ApiOptions& options) {
  PageRequest p;
  p.limit = static_cast<std::size_t>(options.default_page_size);
  if (req.has_param("limit")) {
    const auto t = req.get_param_value("limit");
    int n = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || ptr != t.data() + t.size() || n < 1) {
      return std::unexpected(bad_request("limit: expected a positive integer (at most " + std::to_string(options.max_page_size) + ")"));
    }
    p.limit = static_cast<std::size_t>(std::min(n, options.max_page_size));
  }
  if (req.has_param("cursor")) {
    auto key = decode_cursor(req.get_param_value("cursor"));
    if (!key) return std::unexpected(bad_request("cursor: not a cursor this API gave out (use next_cursor as given)"));
    p.after = std::move(*key);
  }
  return p;
}

json page_of(std::vector<std::pair<std::vector<std::string>, json>> keyed, const PageRequest& page) {
  json items = json::array();
  json next = nullptr;
  std::size_t taken = 0;
  for (std::size_t i = 0; i < keyed.size(); ++i) {
    if (page.after && keyed[i].first <= *page.after) continue;
    if (taken == page.limit) {
      next = encode_cursor(keyed[i - 1].first);
      break;
    }
    items.push_back(std::move(keyed[i].second));
    ++taken;
  }
  return json{{"items", items}, {"next_cursor", next}};
}

Result<Principal> Api::Impl::authenticate(std::string_view token, bool cached_only) {
  const Problem invalid{401, "unauthorized", "Unauthorized", "the token is not valid (unknown, revoked or expired)"};
  if (!well_formed(token)) return std::unexpected(invalid);
  const auto hash = token_hash(token);
  const auto now = clock.now();
  std::optional<store::ApiToken> rec;
  {
    std::lock_guard lock(tokens_mutex);
    auto it = token_cache.find(hash);
    if (it != token_cache.end() && now - it->second.fetched < options.token_cache_ttl) rec = it->second.token;
  }
  if (!rec && cached_only) return std::unexpected(Problem{401, "unauthorized", "Unauthorized", "not in the token cache"});
  if (!rec) {
    rec = db.token_by_hash(hash);
    if (!rec) return std::unexpected(invalid);
    std::lock_guard lock(tokens_mutex);
    if (token_cache.size() > 10000) token_cache.clear();
    token_cache[hash] = {*rec, now};
  }
  // The lookup was by hash; compare the stored hash in constant time all the same.
  if (!constant_time_equal(rec->sha256, hash) || !rec->live_at(now)) return std::unexpected(invalid);
  auto role = role_from(rec->role);
  if (!role) return std::unexpected(invalid);
  return Principal{rec->id, rec->name, *role, rec->partner};
}

std::optional<int> Api::Impl::rate_limited(const std::string& token_id, bool take) {
  if (options.rate_per_second <= 0) return std::nullopt;
  const auto now = clock.now();
  std::lock_guard lock(rate_mutex);
  auto [it, fresh] = buckets.try_emplace(token_id, Bucket{static_cast<double>(options.rate_burst), now});
  auto& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(static_cast<double>(options.rate_burst), b.tokens + std::max(0.0, elapsed) * options.rate_per_second);
    b.at = now;
  }
  if (b.tokens >= 1.0) {
    if (take) b.tokens -= 1.0;
    return std::nullopt;
  }
  return std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / options.rate_per_second)));
}

void Api::Impl::charge(const std::string& token_id, double cpu_seconds) {
  if (options.rate_per_second <= 0) return;
  const double unit = std::chrono::duration<double>(options.cost_unit).count();
  if (unit <= 0) return;
  const double units = std::floor(cpu_seconds / unit);
  if (units <= 1.0) return;  // the one taken at the start
  std::lock_guard lock(rate_mutex);
  auto it = buckets.find(token_id);
  if (it == buckets.end()) return;
  // The debt is capped at a minute of the rate, so that Retry-After never passes a minute.
  it->second.tokens = std::max(-60.0 * options.rate_per_second, it->second.tokens - (units - 1.0));
}

Api::Impl::Impl(store::Store& d, RulesSnapshot r, const core::Clock& c, core::MetricsRegistry& metrics, ApiOptions o)
    : db(d),
      rules(std::move(r)),
      clock(c),
      options(o),
      history_cache(o.standing_cache_ttl, o.history_cache_ttl),
      requests(metrics.integers({"pactwatch_api_requests_total", core::MetricType::counter,
                                 "API and portal requests by route template, method and status.", {"route", "method", "code"}})),
      request_seconds(metrics.reals({"pactwatch_api_request_seconds_total", core::MetricType::counter,
                                     "Time spent answering API and portal requests.", {"route", "method", "code"}})) {}

void Api::Impl::count(const std::string& method, const std::string& pattern, int status, double seconds) {
  const core::LabelValues labels{pattern, method, std::to_string(status)};
  requests.with(labels).add();
  request_seconds.with(labels).add(seconds);
}

void Api::Impl::audit(const Principal& who, const std::string& action, const std::string& target, const std::string& outcome) {
  spdlog::info("audit: {} ({}, {}) {} {} -> {}", who.token_id, who.name, to_string(who.role), action, target, outcome);
  try {
    db.append_audit({0, clock.now(), who.token_id + " " + who.name, std::string(to_string(who.role)), action, target, outcome});
  } catch (const store::StoreError& e) {
    spdlog::error("audit log: {}", e.what());
  }
}

Api::Api(store::Store& db, RulesSnapshot rules, const core::Clock& clock, core::MetricsRegistry& metrics, ApiOptions options)
    : impl_(std::make_unique<Impl>(db, std::move(rules), clock, metrics, options)) {}
Api::~Api() = default;

std::vector<RouteInfo> Api::routes() {
  std::vector<RouteInfo> out;
  for (const auto& r : route_table()) {
    RouteInfo info{r.method, r.pattern, {}};
    for (Role role : r.roles) info.roles.emplace_back(to_string(role));
    out.push_back(std::move(info));
  }
  for (auto& r : portal_routes()) out.push_back(std::move(r));
  return out;
}

std::string Api::prometheus() const {
  std::string out;
  impl_->requests.render(out);
  impl_->request_seconds.render(out);
  return out;
}

namespace {

// Each route's template as segments, split once.
struct Compiled {
  const Route* route;
  std::vector<std::string> segments;
};
const std::vector<Compiled>& compiled_routes() {
  static const std::vector<Compiled> compiled = [] {
    std::vector<Compiled> out;
    for (const auto& r : route_table()) out.push_back({&r, split_path(r.pattern)});
    return out;
  }();
  return compiled;
}

// What a request's head decides, before any handler or body: the route, who asks, and the rules.
struct Gate {
  const Route* route = nullptr;
  std::string pattern = "unmatched";
  std::map<std::string, std::string> params;
  std::optional<Principal> who;
  std::shared_ptr<const rules::RuleSet> rules;
  bool admitted = false;
};

// Routes (404, 405), authenticates (401, 503), rate-limits (429), authorizes (403) and checks the
// partner in the path (404) in that order; a refusal is written to `res`. `take` spends one
// request of the token's rate; without it the rate is only looked at.
Gate gate(Api::Impl& impl, const httplib::Request& req, httplib::Response& res, bool take, bool cached_only = false) {
  Gate g;
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  const auto path = split_path(req.path);
  std::string allow;
  for (const auto& c : compiled_routes()) {
    std::map<std::string, std::string> p;
    if (!match_route(c.segments, path, p)) continue;
    if (req.method == c.route->method || (req.method == "HEAD" && std::string_view(c.route->method) == "GET")) {
      g.route = c.route;
      g.params = std::move(p);
      break;
    }
    allow += (allow.empty() ? "" : ", ") + std::string(c.route->method);
  }
  if (!g.route) {
    if (!allow.empty()) {
      res.set_header("Allow", allow);
      send_problem(res, {405, "method-not-allowed", "Method not allowed", req.method + " is not served here; use " + allow},
                   req.path);
    } else {
      send_problem(res, not_found("no such resource"), req.path);
    }
    return g;
  }
  g.pattern = g.route->pattern;
  const std::string token = bearer_of(req);
  if (token.empty()) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"pactwatch\"");
    send_problem(res, {401, "unauthorized", "Unauthorized", "send an API token: Authorization: Bearer pw_..."}, req.path);
    return g;
  }
  Result<Principal> who;
  try {
    who = impl.authenticate(token, cached_only);
  } catch (const store::StoreError& e) {
    spdlog::error("API {} {}: {}", req.method, g.pattern, e.what());
    send_problem(res, {503, "unavailable", "Service unavailable", "the store is unreachable; try again shortly"}, req.path);
    return g;
  }
  if (!who) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"pactwatch\", error=\"invalid_token\"");
    send_problem(res, who.error(), req.path);
    return g;
  }
  if (auto wait = impl.rate_limited(who->token_id, take)) {
    res.set_header("Retry-After", std::to_string(*wait));
    send_problem(res, {429, "rate-limited", "Too many requests",
                       "this token is over its rate limit; retry after " + std::to_string(*wait) + " s"},
                 req.path);
    return g;
  }
  const auto& roles = g.route->roles;
  if (std::find(roles.begin(), roles.end(), who->role) == roles.end()) {
    send_problem(res, {403, "forbidden", "Forbidden", "a " + std::string(to_string(who->role)) + " token may not " + req.method + " " + g.pattern},
                 req.path);
    return g;
  }
  g.rules = impl.rules();
  // The partner comes from the token: another partner's resources do not exist for it.
  if (auto it = g.params.find("partner"); it != g.params.end()) {
    const bool visible = g.rules && g.rules->partner(it->second) && (who->role != Role::partner || who->partner == it->second);
    if (!visible) {
      send_problem(res, not_found("no partner '" + it->second + "'"), req.path);
      return g;
    }
  }
  if (!g.rules) {
    send_problem(res, {503, "unavailable", "Service unavailable", "no rules are loaded yet"}, req.path);
    return g;
  }
  g.who = std::move(*who);
  g.admitted = true;
  return g;
}

// Processor time of the calling thread: what a request cost, whatever else the machine did meanwhile.
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

bool Api::answer_from_memory(const httplib::Request& req, httplib::Response& res) {
  Impl& impl = *impl_;
  if (req.method != "GET" || impl.options.standing_cache_ttl.count() <= 0) return false;
  const auto path = split_path(req.path);
  if (path.size() != 4 || path[0] != "v1" || path[1] != "partners" || path[3] != "kpis") return false;
  const auto started = std::chrono::steady_clock::now();
  // The same decisions as handle(), from memory only: a token not in the token cache, any refusal
  // and a standing not in memory all take the ordinary path, with nothing spent here.
  httplib::Response answer;
  auto g = gate(impl, req, answer, false, true);
  if (!g.admitted || g.pattern != "/v1/partners/{partner}/kpis") return false;
  auto body = standing_in_memory(impl, standing_key(g.params.at("partner"), req, *g.who), impl.clock.now());
  if (!body || impl.rate_limited(g.who->token_id, true)) return false;
  answer.status = 200;
  answer.set_content(std::move(*body), "application/json");
  res = std::move(answer);
  impl.count(req.method, g.pattern, 200, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return true;
}

bool Api::admit(const httplib::Request& req, httplib::Response& res) {
  auto g = gate(*impl_, req, res, false);
  if (!g.admitted) impl_->count(req.method, g.pattern, res.status, 0);
  return g.admitted;
}

std::string Api::client_key(const httplib::Request& req) {
  if (auto token = bearer_of(req); !token.empty()) return token;
  return cookie_value(req, "pw_session");
}

void Api::handle(const httplib::Request& req, httplib::Response& res) {
  Impl& impl = *impl_;
  const auto started = std::chrono::steady_clock::now();
  const double cpu_started = thread_cpu_seconds();
  auto g = gate(impl, req, res, true);
  auto finish = [&](int status) {
    impl.count(req.method, g.pattern, status, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  };
  if (!g.admitted) return finish(res.status);
  const Route& route = *g.route;
  const std::string& pattern = g.pattern;
  const Principal& who = *g.who;
  Call call{req, res, who, std::move(g.params), g.rules, impl.clock.now()};
  Result<json> out;
  try {
    out = route.handler(impl, call);
  } catch (const store::StoreError& e) {
    spdlog::error("API {} {}: {}", req.method, pattern, e.what());
    out = std::unexpected(Problem{503, "unavailable", "Service unavailable", "the store is unreachable; try again shortly"});
  } catch (const std::exception& e) {
    spdlog::error("API {} {}: {}", req.method, pattern, e.what());
    out = std::unexpected(Problem{500, "internal", "Internal error", "the request failed; the log says why"});
  }
  if (!out) {
    send_problem(res, out.error(), req.path);
  } else if (!out->is_null()) {
    res.status = 200;
    res.set_content(out->dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  }
  if (route.audited && who.is_staff()) {
    const std::string period = req.has_param("period") ? "?period=" + req.get_param_value("period") : "";
    impl.audit(who, req.method + " " + route.pattern, req.path + period,
               std::to_string(res.status) + (out ? "" : " " + out.error().detail));
  }
  // An answer is charged to the token's rate by the processor time it took (docs/api.md).
  impl.charge(who.token_id, thread_cpu_seconds() - cpu_started);
  finish(res.status);
}

void Api::mount(HttpServer& http) {
  http.set_client_key(&Api::client_key);
  http.mount(
      "/v1", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); },
      [this](const httplib::Request& req, httplib::Response& res) { return admit(req, res); },
      [this](const httplib::Request& req, httplib::Response& res) { return answer_from_memory(req, res); });
  mount_portal(*impl_, http);
}

}  // namespace pactwatch::api
