// REST API v1: routing, authentication, authorization, rate limits and problems. The route table
// below is the one list of what the API serves and who may call it; the authorization test matrix
// and the OpenAPI check read it through Api::routes(). The handlers it names live by resource in
// partner_handlers.cc, ledger_handlers.cc, contract_handlers.cc, dispute_handlers.cc and
// admin_handlers.cc (handlers.h); keyset pages in paging.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>

#include "handlers.h"
#include "pactwatch/api/http_server.h"
#include "pactwatch/api/tokens.h"

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

struct Route {
  const char* method;
  const char* pattern;
  std::vector<Role> roles;
  Handler handler;
  bool audited = false;  // finance and admin calls are written to the audit log
};

const std::vector<Route>& route_table() {
  using enum Role;
  static const std::vector<Route> routes{
      {"GET", "/v1/partners", {admin, approver, finance, viewer, partner}, list_partners},
      {"GET", "/v1/partners/{partner}", {admin, approver, finance, viewer, partner}, get_partner},
      {"GET", "/v1/partners/{partner}/kpis", {admin, approver, finance, viewer, partner}, partner_kpis},
      {"GET", "/v1/partners/{partner}/kpis/{kpi}/evidence", {admin, approver, finance, viewer, partner}, partner_evidence},
      {"GET", "/v1/partners/{partner}/history", {admin, approver, finance, viewer, partner}, partner_history},
      {"GET", "/v1/partners/{partner}/statements", {admin, finance, partner}, partner_statements, true},
      {"POST", "/v1/partners/{partner}/what-if", {admin, finance, partner}, partner_what_if},
      {"GET", "/v1/compensation", {admin, finance}, compensation_report, true},
      {"POST", "/v1/periods/{period}/close", {admin, finance}, close_period, true},
      {"GET", "/v1/partners/{partner}/statements/{contract}/{version}/{period}/bundle", {admin, finance, partner}, statement_bundle, true},
      {"GET", "/v1/ledger/verify", {admin, finance}, verify_ledger, true},
      {"GET", "/v1/contracts", {admin, approver, finance, viewer, partner}, list_contracts},
      {"GET", "/v1/contracts/{contract}/versions", {admin, approver, finance, viewer, partner}, contract_versions},
      {"GET", "/v1/contracts/{contract}/versions/{version}/proposal", {admin, approver, finance, viewer, partner}, proposal},
      {"GET", "/v1/contracts/{contract}/versions/{version}/comparison", {admin, approver, finance, viewer, partner}, proposal_comparison},
      {"GET", "/v1/contracts/{contract}/versions/{version}/what-if", {admin, approver, finance, partner}, proposal_what_if},
      {"POST", "/v1/contracts/{contract}/versions/{version}/acts", {admin, approver, partner}, contract_act},
      {"GET", "/v1/contracts/{contract}/versions/{version}/agreement", {admin, approver, finance, partner}, agreement_document},
      {"GET", "/v1/partners/{partner}/disputes", {admin, approver, finance, viewer, partner}, partner_disputes},
      // Admin is admitted to every route; the dispute handlers refuse its acts (403), as the
      // contract acts route refuses its approvals.
      {"POST", "/v1/partners/{partner}/disputes", {admin, partner}, open_dispute},
      {"GET", "/v1/disputes/{id}", {admin, approver, finance, viewer, partner}, get_dispute},
      {"POST", "/v1/disputes/{id}/acts", {admin, approver, finance, partner}, dispute_act},
      // Corrections: the brand's approver and finance declare and withdraw, the partner accepts or
      // rejects; admin is refused its acts by the handlers (403), as for disputes.
      {"GET", "/v1/partners/{partner}/corrections", {admin, approver, finance, viewer, partner}, partner_corrections},
      {"POST", "/v1/partners/{partner}/corrections", {admin, approver, finance}, declare_correction},
      {"GET", "/v1/corrections/{id}", {admin, approver, finance, viewer, partner}, get_correction},
      {"POST", "/v1/corrections/{id}/acts", {admin, approver, finance, partner}, correction_act},
      {"GET", "/v1/agreement-key", {admin, approver, finance, viewer, partner}, agreement_key},
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
    case Role::approver: return "approver";
    case Role::finance: return "finance";
    case Role::viewer: return "viewer";
    case Role::partner: return "partner";
  }
  return "viewer";
}

std::optional<Role> role_from(std::string_view s) {
  for (Role r : {Role::admin, Role::approver, Role::finance, Role::viewer, Role::partner}) {
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
    rec = db.tokens().by_hash(hash);
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
    db.audit().append({0, clock.now(), who.token_id + " " + who.name, std::string(to_string(who.role)), action, target, outcome});
  } catch (const store::StoreError& e) {
    spdlog::error("audit log: {}", e.what());
  }
}

Result<ledger::SigningKey> Api::Impl::signing_key() {
  std::lock_guard lock(signing_mutex);
  if (signing) return *signing;
  const Problem none{503, "unavailable", "Service unavailable", "this installation has no key to sign agreement records"};
  if (options.signing_key_file.empty()) return std::unexpected(none);
  auto key = ledger::SigningKey::load_or_create(options.signing_key_file);
  if (!key) {
    spdlog::error("agreement records: {}", key.error());
    return std::unexpected(Problem{none.status, none.slug, none.title, none.detail + " (the log says why)"});
  }
  signing = *key;
  return *key;
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
