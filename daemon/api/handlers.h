// The API's handlers, one file per resource: partners (partner_handlers.cc), the ledger
// (ledger_handlers.cc), contracts, disputes (dispute_handlers.cc), notifications and the audit log
// (admin_handlers.cc). The route table in api.cc names each with its method, path template and roles; a handler runs after the
// route's admission (token, rate, role, partner) and answers with JSON or a problem.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "internal.h"

namespace pactwatch::api {

using Handler = Result<json> (*)(Api::Impl&, Call&);

// A query parameter, empty when absent.
[[nodiscard]] std::string query(const httplib::Request& req, const char* name);
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);
// Without leading and trailing spaces and tabs.
[[nodiscard]] std::string_view trim(std::string_view v);
// The JSON object a request carries (an empty one without a body); 415 or 400 otherwise.
[[nodiscard]] Result<json> parse_body(const httplib::Request& req);

// A partner's KPI standing as kept in memory: its key (partner, period, draft visibility), and the
// body rendered less than api.standing_cache ago.
[[nodiscard]] std::string standing_key(const std::string& partner, const httplib::Request& req, const Principal& who);
[[nodiscard]] std::optional<std::string> standing_in_memory(Api::Impl& impl, const std::string& key, core::Instant now);

// Partners.
Result<json> list_partners(Api::Impl& impl, Call& c);
Result<json> get_partner(Api::Impl& impl, Call& c);
Result<json> partner_kpis(Api::Impl& impl, Call& c);
Result<json> partner_evidence(Api::Impl& impl, Call& c);
Result<json> partner_history(Api::Impl& impl, Call& c);
Result<json> partner_statements(Api::Impl& impl, Call& c);
Result<json> partner_what_if(Api::Impl& impl, Call& c);
// The ledger.
Result<json> compensation_report(Api::Impl& impl, Call& c);
Result<json> close_period(Api::Impl& impl, Call& c);
Result<json> statement_bundle(Api::Impl& impl, Call& c);
Result<json> verify_ledger(Api::Impl& impl, Call& c);
// Contracts and their proposals (contract_handlers.cc).
Result<json> list_contracts(Api::Impl& impl, Call& c);
Result<json> contract_versions(Api::Impl& impl, Call& c);
Result<json> proposal(Api::Impl& impl, Call& c);
Result<json> proposal_comparison(Api::Impl& impl, Call& c);
Result<json> proposal_what_if(Api::Impl& impl, Call& c);
Result<json> contract_act(Api::Impl& impl, Call& c);
Result<json> agreement_document(Api::Impl& impl, Call& c);
Result<json> agreement_key(Api::Impl& impl, Call& c);
// Disputes (dispute_handlers.cc).
Result<json> partner_disputes(Api::Impl& impl, Call& c);
Result<json> open_dispute(Api::Impl& impl, Call& c);
Result<json> get_dispute(Api::Impl& impl, Call& c);
Result<json> dispute_act(Api::Impl& impl, Call& c);
// Corrections (dispute_handlers.cc): the brand's, answered by the partner.
Result<json> partner_corrections(Api::Impl& impl, Call& c);
Result<json> declare_correction(Api::Impl& impl, Call& c);
Result<json> get_correction(Api::Impl& impl, Call& c);
Result<json> correction_act(Api::Impl& impl, Call& c);
// Notifications, the audit log.
Result<json> list_notifications(Api::Impl& impl, Call& c);
Result<json> retry_notification(Api::Impl& impl, Call& c);
Result<json> list_audit(Api::Impl& impl, Call& c);

}  // namespace pactwatch::api
