// The API's requests about partners: their list, one partner, the KPI standing (kept in memory for
// api.standing_cache), evidence, history, statements and the what-if; and the request helpers the
// other handlers share.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "handlers.h"

namespace pactwatch::api {

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

namespace {

// The media type of a Content-Type value, without its parameters: "application/json; charset=utf-8"
// -> "application/json" (RFC 9110 section 8.3.1; compared case-insensitively by the caller).
std::string_view media_type(std::string_view content_type) { return trim(content_type.substr(0, content_type.find(';'))); }

}  // namespace

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

}  // namespace pactwatch::api
