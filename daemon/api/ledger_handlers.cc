// The API's ledger requests: the compensation report, closing a period, a closed statement's
// bundle and the ledger's verification.
#include <charconv>

#include "handlers.h"
#include "pactwatch/ledger/report.h"
#include "pactwatch/ledger/verify.h"

namespace pactwatch::api {

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
  bool with_open_disputes = false;
  if (body->contains("with_open_disputes")) {
    if (!(*body)["with_open_disputes"].is_boolean()) return std::unexpected(bad_request("with_open_disputes: expected true or false"));
    with_open_disputes = (*body)["with_open_disputes"].get<bool>();
  }
  ledger::Statements st(*c.rules, impl.db);
  try {
    auto r = st.close(c.params.at("period"), partner, c.now, c.now, c.who.name + " (" + c.who.token_id + ")", with_open_disputes);
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

}  // namespace pactwatch::api
