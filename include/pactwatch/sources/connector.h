// Connectors: one per vendor API, each a request builder and a page parser over the vendor's real
// wire format. Everything else — auth headers, rate limits, retries, budgets, storing a page with
// its cursor — is the sync loop's (sync.h), shared by all of them. Page parsers are pure and
// fuzzed.
#pragma once

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/config/config.h"
#include "pactwatch/core/time.h"
#include "pactwatch/net/http.h"

namespace pactwatch::sources {

// One parsed page: records in the import shape (docs/import.md), mapped from the vendor's, and
// the cursor to store with them.
// A record the connector read but could not map (a value no item can hold, such as an amount it
// cannot read): set aside with the reason (the quarantine) instead of failing the page, so it never
// blocks the records after it.
struct Rejected {
  std::string id;  // the record's id at the source
  std::string reason;
  nlohmann::json record;  // as the vendor sent it
};

struct Page {
  std::vector<nlohmann::json> records;
  std::vector<Rejected> rejected;
  std::string next_cursor;  // stored in the same transaction as the records
  bool done = false;        // nothing more to fetch now
};

class Connector {
 public:
  virtual ~Connector() = default;
  // The item kind the records are (tickets, deals, events).
  [[nodiscard]] virtual std::string kind() const = 0;
  // A source may have more than one stream (Zendesk: tickets, and ticket events for status
  // history); each keeps its own cursor, stored as "NAME#STREAM". "" is the main stream.
  [[nodiscard]] virtual std::string stream() const { return {}; }
  // A history stream's records are {id, status_history} for items the main stream brought: they
  // are merged into the stored items (entries added once, in time order), not stored as items.
  [[nodiscard]] virtual bool history_only() const { return false; }
  // The cursor a first sync (or a sync --since) starts from; "" when `request` takes `since` itself.
  [[nodiscard]] virtual std::string start_cursor(core::Instant) const { return {}; }
  // Completes a cursor before its request is made: a connector that reads in windows closed when
  // they begin (HubSpot) closes an open one at `now`. Others return the cursor as it is.
  [[nodiscard]] virtual std::string begin(const std::string& cursor, core::Instant /*now*/) const { return cursor; }
  // The request for the page after `cursor` ("" when nothing is stored yet: start at `since`).
  [[nodiscard]] virtual net::HttpRequest request(const std::string& cursor, core::Instant since) const = 0;
  // A vendor may drop a paging position it handed out (Salesforce's query locator, Jira's page
  // token). Given the answer to the request made from `cursor`: when it is such a refusal, the
  // cursor to restart from, built only from what the cursor says is stored (the newest update
  // stored, or the window's start); nullopt for any other answer.
  [[nodiscard]] virtual std::optional<std::string> restart_after(const net::HttpResponse& /*refusal*/,
                                                                 const std::string& /*cursor*/) const {
    return std::nullopt;
  }
  // A request made once before the first page (Jira: the API user's time zone, when the config
  // names none), and what to take from its answer (any status: the connector decides).
  [[nodiscard]] virtual std::optional<net::HttpRequest> setup_request() const { return std::nullopt; }
  virtual std::expected<void, std::string> accept_setup(const net::HttpResponse&) { return {}; }
  // Parses a 2xx response; an error says what is wrong with the page (nothing of it is stored).
  // A field present in a shape the vendor does not send (a date-time as a number of seconds, an
  // object where a string was) is an error too, naming the record and the field: a vendor
  // changing shape mid-run stops the sync rather than storing wrong values.
  [[nodiscard]] std::expected<Page, std::string> parse(const net::HttpResponse& response, const std::string& cursor) const;
  // Vendor-specific rate-limit answers besides HTTP 429 (Salesforce: 403 REQUEST_LIMIT_EXCEEDED).
  [[nodiscard]] virtual bool rate_limited(const net::HttpResponse& r) const { return r.status == 429; }
  // The client-side request budget when the config sets none (requests per minute; 0: none).
  [[nodiscard]] virtual int default_requests_per_minute() const { return 0; }
  // A cheap authenticated request for `pactwatch sources test`.
  [[nodiscard]] virtual net::HttpRequest probe() const = 0;
  // Describes what a probe's response shows ("authenticated as ...", "instance ...").
  [[nodiscard]] virtual std::string describe_probe(const net::HttpResponse& r) const;
  // OAuth (Salesforce): the token request, and how to read its answer into a bearer token and
  // the base URL to call. Others authenticate on every request from the config.
  [[nodiscard]] virtual bool needs_token() const { return false; }
  [[nodiscard]] virtual net::HttpRequest token_request(const std::string& secret, const std::string& refresh_token) const;
  virtual std::expected<void, std::string> accept_token(const net::HttpResponse& r);

 protected:
  // The vendor's page parser behind `parse`; the helpers in detail:: may throw BadField.
  [[nodiscard]] virtual std::expected<Page, std::string> parse_page(const net::HttpResponse& response,
                                                                     const std::string& cursor) const = 0;

 public:
  [[nodiscard]] virtual std::string bearer() const { return {}; }
};

// The connector for a configured source (its kind), or a message.
[[nodiscard]] std::expected<std::unique_ptr<Connector>, std::string> make_connector(const config::SourceConfig& source);
// Every stream of a source, the main one first (a sync runs them in this order).
[[nodiscard]] std::expected<std::vector<std::unique_ptr<Connector>>, std::string> make_streams(const config::SourceConfig& source);

// Shared parsing helpers for connectors (and their fuzz targets).
namespace wire {
// An instant in any of the vendors' forms: RFC 3339 ("2026-07-10T09:00:00Z", "…+03:00"), Jira's
// offset without a colon ("2026-07-10T09:00:00.000+0000"), ServiceNow's "YYYY-MM-DD HH:MM:SS"
// (UTC), epoch milliseconds in a string or number (HubSpot), a date alone (Salesforce CloseDate,
// midnight UTC).
[[nodiscard]] std::optional<core::Instant> instant(const nlohmann::json& v);
[[nodiscard]] std::string rfc3339(core::Instant t);
}  // namespace wire

}  // namespace pactwatch::sources
