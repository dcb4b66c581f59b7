// What the portal's pages share (portal.cc): the session a page runs for, the page frame and its
// headers, and the pages kept in files of their own (portal_contracts.cc, portal_disputes.cc). Pages are called by
// portal.cc's dispatch after the session, rate limit, role and CSRF checks of their route.
#pragma once

#include <map>
#include <string>

#include "html.h"
#include "internal.h"

namespace pactwatch::api::portal {

using html::Markup;

struct Session {
  Principal who;
  std::string csrf;  // the token every form of the session carries
};

using PortalHandler = void (*)(Api::Impl&, const Session&, const httplib::Request&, httplib::Response&,
                               const std::map<std::string, std::string>&, const rules::RuleSet&);

// The headers every portal answer carries (CSP, no sniffing, no referrer, no framing, no store).
void security_headers(httplib::Response& res);
// Percent-encodes everything but unreserved characters (RFC 3986), for a path segment or a query value.
[[nodiscard]] std::string url_part(const std::string& s);
// A whole page: the header (with the navigation and sign-out form when signed in) around `body`.
[[nodiscard]] Markup page(const std::string& title, const Markup& body, const Principal* who, const std::string& csrf);
void send_html(httplib::Response& res, int status, const Markup& html);
[[nodiscard]] Markup problem_html(const Problem& p);

// Contracts and their proposals (portal_contracts.cc).
void contracts_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                    const std::map<std::string, std::string>& params, const rules::RuleSet& rules);
void proposal_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                   const std::map<std::string, std::string>& params, const rules::RuleSet& rules);
void agreement_download(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                        const std::map<std::string, std::string>& params, const rules::RuleSet& rules);
void act_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
              const std::map<std::string, std::string>& params, const rules::RuleSet& rules);

// Disputes (portal_disputes.cc).
// The "Dispute" form of one evidence entry (`entry`; none: the rule as a whole) of `rule` in a
// period, for a partner session and a contract version that allows disputes; nothing otherwise.
// `n` keeps the form's field ids unique on the page.
// The items accepted disputes and corrections left out of a rule, for its evidence page.
[[nodiscard]] Markup excluded_card(const nlohmann::json& evidence);
[[nodiscard]] Markup evidence_dispute_form(const Session& s, const rules::RuleSet& rules, const std::string& contract, int version,
                                           const std::string& period, const std::string& rule, const json* entry, int n);
void disputes_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                   const std::map<std::string, std::string>& params, const rules::RuleSet& rules);
void open_dispute_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                       const std::map<std::string, std::string>& params, const rules::RuleSet& rules);
void dispute_act_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                      const std::map<std::string, std::string>& params, const rules::RuleSet& rules);
// An act on a correction from the disputes page (the partner accepts, rejects or comments; the
// brand's approver and finance withdraw or comment).
void correction_act_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                         const std::map<std::string, std::string>& params, const rules::RuleSet& rules);

}  // namespace pactwatch::api::portal
