#include "common.h"

#include <date/date.h>

#include <cstdio>
#include <sstream>

namespace pactwatch::sources {

std::expected<Page, std::string> Connector::parse(const net::HttpResponse& response, const std::string& cursor) const {
  try {
    return parse_page(response, cursor);
  } catch (const detail::BadField& e) {
    return std::unexpected(std::string(e.what()));
  }
}

std::string Connector::describe_probe(const net::HttpResponse& r) const {
  return "HTTP " + std::to_string(r.status) + ", " + std::to_string(r.body.size()) + " bytes";
}

net::HttpRequest Connector::token_request(const std::string&, const std::string&) const { return {}; }

std::expected<void, std::string> Connector::accept_token(const net::HttpResponse&) { return {}; }

namespace wire {

std::optional<core::Instant> instant(const nlohmann::json& v) {
  if (v.is_number_integer()) return core::from_unix_ms(v.get<std::int64_t>());
  if (!v.is_string()) return std::nullopt;
  std::string s = v.get<std::string>();
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (s.size() > 15) return std::nullopt;
    return core::from_unix_ms(std::stoll(s));  // epoch milliseconds in a string (HubSpot)
  }
  if (auto t = core::parse_rfc3339(s)) return *t;
  // "2026-07-10T09:00:00.000+0000": an offset without a colon (Jira, Salesforce).
  if (s.size() >= 5) {
    const std::string tail = s.substr(s.size() - 5);
    if ((tail[0] == '+' || tail[0] == '-') && std::all_of(tail.begin() + 1, tail.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::string fixed = s.substr(0, s.size() - 2) + ":" + s.substr(s.size() - 2);
      if (auto t = core::parse_rfc3339(fixed)) return *t;
    }
  }
  // "2026-07-10 09:00:00" (ServiceNow, UTC)
  if (s.size() == 19 && s[10] == ' ') {
    std::string fixed = s;
    fixed[10] = 'T';
    if (auto t = core::parse_rfc3339(fixed + "Z")) return *t;
  }
  // "2026-07-10" (a date: midnight UTC)
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
    if (auto t = core::parse_rfc3339(s + "T00:00:00Z")) return *t;
  }
  return std::nullopt;
}

std::string rfc3339(core::Instant t) { return core::format_rfc3339(t); }

}  // namespace wire

namespace detail {

std::string query_time(core::Instant t, const char* format) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  return date::format(format, date::sys_seconds(secs.time_since_epoch()));
}

std::optional<std::string> decimal_text(const nlohmann::json& v) {
  std::string s;
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_number_integer()) {
    s = std::to_string(v.get<std::int64_t>());
  } else if (v.is_number_float()) {
    // A JSON number (Salesforce currency fields): its shortest round-trip text, converted once at
    // the edge; Money::parse refuses more decimals than the currency has.
    s = v.dump();
    if (s.find_first_of("eE") != std::string::npos) return std::nullopt;
    if (s.size() > 2 && s.ends_with(".0")) s.resize(s.size() - 2);
  } else {
    return std::nullopt;
  }
  if (s.empty()) return std::nullopt;
  // Trailing zeros after the decimal point say nothing ("38033.970" is 38033.97 exactly): they
  // are dropped, so an amount is refused only for decimals its currency cannot hold.
  const auto dot = s.find('.');
  const std::size_t digits_from = s[0] == '-' || s[0] == '+' ? 1 : 0;
  const bool plain = dot != std::string::npos && dot > digits_from &&
                     std::all_of(s.begin() + static_cast<std::ptrdiff_t>(digits_from), s.end(),
                                 [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) &&
                     s.find('.', dot + 1) == std::string::npos;
  if (plain) {
    while (s.size() > dot + 1 && s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string text_of(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_null()) return "";
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::expected<nlohmann::json, std::string> parse_body(const net::HttpResponse& r) {
  const auto type = r.header("Content-Type").value_or("");
  if (!type.empty() && type.find("json") == std::string::npos) {
    std::string start = r.body.substr(0, 60);
    for (char& c : start) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return std::unexpected("expected JSON, got " + type + " (\"" + start + "\")");
  }
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    return std::unexpected(r.body.empty() ? std::string("an empty body") : "not valid JSON (truncated or damaged, " +
                                                                             std::to_string(r.body.size()) + " bytes)");
  }
  return j;
}

std::string cursor_text(const nlohmann::json& c) { return c.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

nlohmann::json cursor_json(const std::string& cursor) {
  if (cursor.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(cursor, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::optional<std::string> cstr(const nlohmann::json& c, const char* key) {
  if (!c.is_object() || !c.contains(key) || !c[key].is_string()) return std::nullopt;
  return c[key].get<std::string>();
}

std::optional<std::int64_t> cint(const nlohmann::json& c, const char* key) {
  if (!c.is_object() || !c.contains(key) || !c[key].is_number_integer()) return std::nullopt;
  return c[key].get<std::int64_t>();
}

void put_instant(nlohmann::json& rec, const char* key, const nlohmann::json& v) {
  if (v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty())) return;
  const bool numeric = v.is_number() || (v.is_string() && std::all_of(v.get_ref<const std::string&>().begin(),
                                                                       v.get_ref<const std::string&>().end(),
                                                                       [](char c) { return c >= '0' && c <= '9'; }));
  auto t = wire::instant(v);
  // Epoch milliseconds below 10^11 are before March 1973: epoch seconds, not a date of this trade.
  constexpr std::int64_t kEarliestMs = 100'000'000'000;
  if (t && (!numeric || core::to_unix_ms(*t) >= kEarliestMs)) {
    rec[key] = wire::rfc3339(*t);
    return;
  }
  std::string shown = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  const std::string id = rec.contains("id") ? text_of(rec["id"]) : std::string("?");
  throw BadField("record " + id + ": " + key + " is " + shown + ", not a date-time this source sends");
}

}  // namespace detail

std::expected<std::unique_ptr<Connector>, std::string> make_connector(const config::SourceConfig& s) {
  if (s.kind == "zendesk") return make_zendesk(s);
  if (s.kind == "jira") return make_jira(s);
  if (s.kind == "servicenow") return make_servicenow(s);
  if (s.kind == "freshdesk") return make_freshdesk(s);
  if (s.kind == "salesforce") return make_salesforce(s);
  if (s.kind == "hubspot") return make_hubspot(s);
  if (s.kind == "file") return std::unexpected("a file source is a drop directory, not an API (it has no connector)");
  return std::unexpected("unknown source kind '" + s.kind + "'");
}

std::expected<std::vector<std::unique_ptr<Connector>>, std::string> make_streams(const config::SourceConfig& s) {
  auto main = make_connector(s);
  if (!main) return std::unexpected(main.error());
  std::vector<std::unique_ptr<Connector>> out;
  out.push_back(std::move(*main));
  if (s.kind == "zendesk" && s.option("status_history", "true") != "false") out.push_back(make_zendesk_ticket_events(s));
  if (s.kind == "zendesk" && s.option("satisfaction", "true") != "false") out.push_back(make_zendesk_ratings(s));
  return out;
}

}  // namespace pactwatch::sources
