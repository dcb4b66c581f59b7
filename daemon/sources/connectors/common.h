// What the connectors share besides the sync loop: body parsing that names what is wrong, query
// time formats, cursors as small JSON objects, and the factories.
#pragma once

#include <algorithm>
#include <expected>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "pactwatch/sources/connector.h"

namespace pactwatch::sources {

std::unique_ptr<Connector> make_zendesk(const config::SourceConfig& s);
std::unique_ptr<Connector> make_zendesk_ticket_events(const config::SourceConfig& s);
std::unique_ptr<Connector> make_zendesk_ratings(const config::SourceConfig& s);
std::unique_ptr<Connector> make_jira(const config::SourceConfig& s);
std::unique_ptr<Connector> make_servicenow(const config::SourceConfig& s);
std::unique_ptr<Connector> make_freshdesk(const config::SourceConfig& s);
std::unique_ptr<Connector> make_salesforce(const config::SourceConfig& s);
std::unique_ptr<Connector> make_hubspot(const config::SourceConfig& s);

namespace detail {

// `t` in a strftime-like format, UTC (e.g. "%Y-%m-%d %H:%M:%S").
std::string query_time(core::Instant t, const char* format);
// A money amount as decimal text from a JSON string or number (never through arithmetic).
std::optional<std::string> decimal_text(const nlohmann::json& v);
// A scalar as text ("" for null).
std::string text_of(const nlohmann::json& v);
// The body as JSON, or what is wrong with it (an HTML error page, truncated JSON, empty).
std::expected<nlohmann::json, std::string> parse_body(const net::HttpResponse& r);
// Cursors are compact JSON objects; an empty or unreadable one is an empty object.
std::string cursor_text(const nlohmann::json& c);
nlohmann::json cursor_json(const std::string& cursor);
// Cursor fields, read tolerantly: a field of the wrong type (a damaged cursor) counts as absent.
std::optional<std::string> cstr(const nlohmann::json& c, const char* key);
std::optional<std::int64_t> cint(const nlohmann::json& c, const char* key);
// A field present in a shape the vendor does not send; Connector::parse turns it into the page's
// error.
class BadField : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Sets rec[key] to the RFC 3339 form of an instant in any vendor form; leaves it out when the
// value is absent, null or "". Anything else that is not an instant throws BadField naming
// rec["id"] and the field: a number or digit string before 1973 (epoch seconds read as
// milliseconds), an object, a string in no known form.
void put_instant(nlohmann::json& rec, const char* key, const nlohmann::json& v);

}  // namespace detail
}  // namespace pactwatch::sources
