// The portal's contracts and their proposals (docs/rules.md, "From proposal to enforcement"): the
// versions a session may see with their agreement state, and a proposal's page (its comparison,
// what-if and thread) with a form for each act the session's party may take now. The same read
// model and acts as the API's /v1/contracts routes (Proposals), as pages and forms.
#include <algorithm>
#include <cctype>

#include "portal.h"

namespace pactwatch::api::portal {

namespace {

using namespace html::literals;

// Where a version stands: its agreement (from the acts recorded so far) or, for a version no act
// was recorded on, what its file makes it.
std::string state_text(const rules::ContractVersion& v, const core::Agreement& now) {
  if (now.state == core::AgreementState::draft && v.enforced) return "enforced";
  return std::string(core::to_string(now.state));
}

Markup state_badge(const std::string& state) {
  std::string label = state;
  std::replace(label.begin(), label.end(), '_', ' ');
  return "<span class=\"badge st-"_html + state + "\">"_html + label + "</span>"_html;
}

// Whether the version waits for an act of `who`'s party (proposed, or approved by the other side
// only) and `who` is one who acts for it (not finance or a viewer).
bool awaits(const Principal& who, const core::Agreement& a) {
  using enum core::AgreementState;
  // Awaiting an approval from the session's side: only approver and partner sessions approve.
  if (who.role != Role::approver && who.role != Role::partner) return false;
  if (a.state == proposed) return true;
  return who.party() == core::Party::partner ? a.state == approved_by_brand : a.state == approved_by_partner;
}

std::string proposal_link(const rules::ContractVersion& v) {
  return "/portal/contracts/" + url_part(v.contract) + "/versions/" + std::to_string(v.version);
}

std::string act_label(core::ContractAct a) {
  std::string label(core::to_string(a));
  std::replace(label.begin(), label.end(), '_', ' ');
  label[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(label[0])));
  return label;
}

Markup comparison_html(const json& cmp) {
  Markup h = "<p class=\"muted\">"_html;
  h += cmp.at("against_version").is_null()
           ? std::string("Against nothing: the contract's first agreement, every term is new.")
           : "Against v" + std::to_string(cmp.at("against_version").get<int>()) + ", the version in force.";
  h += "</p>"_html;
  if (cmp.value("compensation_withheld", false)) h += "<p class=\"muted\">Compensation terms differ too; they are not shown to viewers.</p>"_html;
  if (cmp.at("terms").empty()) return h + "<p>No term differs.</p>"_html;
  // Each rule's (or section's) terms under one heading row, with whether the rule is new, dropped or changed.
  std::map<std::pair<std::string, std::string>, std::string> change;
  for (const auto& r : cmp.at("rules")) change[{r.at("section").get<std::string>(), r.at("rule").get<std::string>()}] = r.at("change");
  h += "<div class=\"scroll\"><table class=\"comparison\"><caption class=\"muted\">Terms that differ, by rule</caption><thead><tr>"
       "<th scope=\"col\">Term</th><th scope=\"col\">Before</th><th scope=\"col\">After</th></tr></thead>"_html;
  std::optional<std::pair<std::string, std::string>> group;
  for (const auto& t : cmp.at("terms")) {
    const std::pair<std::string, std::string> key{t.at("section").get<std::string>(), t.at("rule").is_null() ? "" : t.at("rule").get<std::string>()};
    if (key != group) {
      if (group) h += "</tbody>"_html;
      group = key;
      const auto c = change.find(key);
      h += "<tbody><tr><th scope=\"rowgroup\" colspan=\"3\">"_html + key.first + (key.second.empty() ? "" : " · " + key.second) +
           (c == change.end() ? "" : " — " + c->second) + "</th></tr>"_html;
    }
    h += "<tr><td class=\"term\">"_html + (t.at("path").get<std::string>().empty() ? "(whole)" : t.at("path").get<std::string>()) +
         "</td><td class=\"term\">"_html + (t.at("before").is_null() ? "—" : t.at("before").get<std::string>()) + "</td><td class=\"term\">"_html +
         (t.at("after").is_null() ? "—" : t.at("after").get<std::string>()) + "</td></tr>"_html;
  }
  return h + "</tbody></table></div>"_html;
}

Markup what_if_html(const json& wi) {
  if (wi.at("periods").empty()) return "<p class=\"muted\">No closed period of this contract to price yet.</p>"_html;
  Markup h = "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Period</th><th scope=\"col\" class=\"num\">Paid</th>"
             "<th scope=\"col\" class=\"num\">Under this version</th><th scope=\"col\" class=\"num\">Difference</th>"
             "<th scope=\"col\">Note</th></tr></thead><tbody>"_html;
  for (const auto& p : wi.at("periods")) {
    const auto cur = " " + p.at("currency").get<std::string>();
    h += "<tr><th scope=\"row\">"_html + p.at("period").get<std::string>() + "</th><td class=\"num\">"_html + p.at("closed").get<std::string>() +
         cur + " <span class=\"muted\">(v"_html + std::to_string(p.at("closed_version").get<int>()) + ")</span></td><td class=\"num\">"_html +
         (p.at("proposed").is_null() ? std::string("—") : p.at("proposed").get<std::string>() + cur) + "</td><td class=\"num\">"_html +
         (p.at("difference").is_null() ? std::string("—") : p.at("difference").get<std::string>() + cur) + "</td><td>"_html +
         p.at("note").get<std::string>() + "</td></tr>"_html;
  }
  return h + "</tbody></table></div>"_html;
}

Markup thread_html(const json& thread) {
  if (thread.empty()) return "<p class=\"muted\">No act yet.</p>"_html;
  Markup h = "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">Party</th>"
             "<th scope=\"col\">Act</th><th scope=\"col\">Comment</th></tr></thead><tbody>"_html;
  for (const auto& a : thread) {
    std::string act = a.at("act").get<std::string>();
    std::replace(act.begin(), act.end(), '_', ' ');
    h += "<tr><td>"_html + a.at("at").get<std::string>() + "</td><td>"_html + a.at("actor_name").get<std::string>() + "</td><td>"_html +
         a.at("party").get<std::string>() + "</td><td>"_html + act + "</td><td>"_html + a.at("comment").get<std::string>() + "</td></tr>"_html;
  }
  return h + "</tbody></table></div>"_html;
}

// The form of one act: the CSRF token, the act, the content hash the page shows (an approval or a
// proposal of content that changed since is refused as stale), and a comment, required where the
// act needs a reason.
Markup act_form(const Session& s, const rules::ContractVersion& v, core::ContractAct a, const std::string& kept) {
  using core::ContractAct;
  const std::string act(core::to_string(a));
  const bool reason = a == ContractAct::reject || a == ContractAct::request_changes || a == ContractAct::comment;
  Markup f = "<form method=\"post\" action=\""_html + proposal_link(v) + "/act\"><input type=\"hidden\" name=\"csrf\" value=\""_html + s.csrf +
             "\"><input type=\"hidden\" name=\"act\" value=\""_html + act + "\">"_html;
  if (a == ContractAct::approve || a == ContractAct::propose) f += "<input type=\"hidden\" name=\"sha256\" value=\""_html + v.sha256 + "\">"_html;
  if (a != ContractAct::approve) {
    f += "<label for=\"comment-"_html + act + "\">"_html +
         (a == ContractAct::comment ? "Comment" : reason ? "Why (" + act_label(a) + ")" : "Comment (optional)") +
         "</label><textarea id=\"comment-"_html + act + "\" name=\"comment\" rows=\"3\" maxlength=\"4000\""_html +
         (reason ? " required"_html : Markup()) + ">"_html + kept + "</textarea>"_html;
  }
  const std::string button = a == ContractAct::approve ? "Approve v" + std::to_string(v.version) + " as shown (" + v.sha256.substr(0, 12) + "…)"
                                          : act_label(a);
  return f + "<p><button type=\"submit\">"_html + button + "</button></p></form>"_html;
}

// The proposal page, with a refusal to show (`error`) and the comment to keep when an act failed.
void render_proposal(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                     const std::map<std::string, std::string>& params, const rules::RuleSet& rules, int status, const std::string& error,
                     const std::string& kept_comment, std::optional<core::ContractAct> kept_act) {
  const auto& contract = params.at("contract");
  const auto& version = params.at("version");
  Proposals proposals(impl.db, rules, impl.clock.now(), s.who);
  Markup body = "<p><a href=\"/portal/contracts\">← Contracts</a></p>"_html;
  const std::string title = contract + " v" + version;
  auto v = proposals.find(contract, version);
  if (!v) return send_html(res, v.error().status, page(title, body + "<h1>Not found</h1>"_html + problem_html(v.error()), &s.who, s.csrf));
  auto p = proposals.proposal(contract, version);
  if (!p) return send_html(res, p.error().status, page(title, body + problem_html(p.error()), &s.who, s.csrf));
  const auto agreement = proposals.agreement_now(**v);
  const auto state = state_text(**v, agreement);
  std::string state_label = state;
  std::replace(state_label.begin(), state_label.end(), '_', ' ');
  body += "<h1>"_html + title + " "_html + state_badge(state) + "</h1>"_html;
  if (!error.empty()) body += "<p class=\"error\" role=\"alert\">"_html + error + "</p>"_html;
  const auto* partner = proposals.reader().partner((*v)->partner);
  body += "<section class=\"card\"><dl class=\"facts\"><dt>Partner</dt><dd>"_html + (partner ? partner->name : (*v)->partner) +
          "</dd><dt>State</dt><dd>"_html + state_label + ((*v)->enforced ? (state == "enforced" ? "" : " · enforced") : " · not enforced") +
          "</dd><dt>Content (sha256)</dt><dd><code>"_html + (*v)->sha256 + "</code></dd><dt>Effective</dt><dd>"_html +
          p->at("effective_from").get<std::string>() + " – " +
          (p->at("effective_until").is_null() ? std::string("open-ended") : p->at("effective_until").get<std::string>()) +
          "</dd><dt>Follows</dt><dd>"_html +
          (p->at("in_force_version").is_null() ? std::string("no enforced version (a first agreement)")
                                               : "v" + std::to_string(p->at("in_force_version").get<int>()) + ", the version in force") +
          "</dd></dl>"_html + (awaits(s.who, agreement) ? "<p class=\"awaits\">Awaits your side's review.</p>"_html : Markup()) +
          "</section>"_html;

  body += "<section class=\"card\"><h2>What changes</h2>"_html;
  if (auto cmp = proposals.comparison(contract, version)) body += comparison_html(*cmp);
  else body += problem_html(cmp.error());
  body += "</section>"_html;

  if (s.who.role != Role::viewer) {
    const std::string periods = req.has_param("periods") ? req.get_param_value("periods") : "";
    body += "<section class=\"card\"><h2>What it would have paid</h2><form method=\"get\" action=\""_html + proposal_link(**v) +
            "\"><label for=\"periods\">Closed periods to price (1 to 12)</label><input id=\"periods\" name=\"periods\" type=\"number\" "
            "min=\"1\" max=\"12\" value=\""_html + (periods.empty() ? std::string("1") : periods) +
            "\"> <button type=\"submit\">Show</button></form>"_html;
    auto wi = proposals.what_if(contract, version, periods);
    if (wi) body += what_if_html(*wi);
    else body += problem_html(wi.error());
    if (!wi && wi.error().status == 400 && status == 200) status = 400;
    body += "</section>"_html;
  }

  body += "<section class=\"card\"><h2>Thread</h2>"_html + thread_html(p->at("thread")) + "</section>"_html;
  if (s.who.role != Role::viewer && ((*v)->enforced || agreement.agreed())) {
    body += "<section class=\"card\"><h2>Agreement record</h2><p><a href=\""_html + proposal_link(**v) +
            "/agreement\" download>Download the signed agreement record</a> (<code>"_html + agreement_file_name(**v) +
            "</code>): the terms, their hash and both approvals, signed by this installation. Check it with "
            "<code>pactwatch contract verify FILE --public-key KEY</code>.</p></section>"_html;
  }

  const auto open = proposals.open_acts(**v);
  if (!open.empty()) {
    body += "<section class=\"card acts\"><h2>Your side's acts</h2>"_html;
    if (s.who.role == Role::admin) body += "<p class=\"muted\">Approving for the brand takes an approver token.</p>"_html;
    for (auto a : open) body += act_form(s, **v, a, kept_act == a ? kept_comment : "");
    body += "</section>"_html;
  }
  send_html(res, status, page(title, body, &s.who, s.csrf));
}

}  // namespace

void contracts_page(Api::Impl& impl, const Session& s, const httplib::Request&, httplib::Response& res,
                    const std::map<std::string, std::string>&, const rules::RuleSet& rules) {
  Proposals proposals(impl.db, rules, impl.clock.now(), s.who);
  std::map<std::string, std::vector<const rules::ContractVersion*>> by_id;
  for (const auto* v : proposals.visible("")) by_id[v->contract].push_back(v);
  Markup body = "<h1>Contracts</h1>"_html;
  Markup sections;
  int waiting = 0;
  for (auto& [id, versions] : by_id) {
    std::sort(versions.begin(), versions.end(), [](auto* a, auto* b) { return a->version > b->version; });
    const auto* partner = proposals.reader().partner(versions.front()->partner);
    sections += "<section class=\"card\"><h2>"_html + id + " <span class=\"muted\">"_html +
                (partner ? partner->name : versions.front()->partner) + "</span></h2><div class=\"scroll\"><table><thead><tr>"
                "<th>Version</th><th>Effective</th><th>State</th><th>Your side</th></tr></thead><tbody>"_html;
    for (const auto* v : versions) {
      const auto agreement = proposals.agreement_now(*v);
      const bool mine = awaits(s.who, agreement);
      waiting += mine ? 1 : 0;
      const auto j = proposals.reader().version_json(*v);
      sections += (mine ? "<tr class=\"awaiting\">"_html : "<tr>"_html) + "<td><a href=\""_html + proposal_link(*v) + "\">v"_html +
                  std::to_string(v->version) + "</a></td><td>"_html + (j.at("effective_until").is_null() ? "from " + j.at("effective_from").get<std::string>()
                                                     : j.at("effective_from").get<std::string>() + " – " +
                                                           j.at("effective_until").get<std::string>()) + "</td><td>"_html +
                  state_badge(state_text(*v, agreement)) + "</td><td>"_html +
                  (mine ? "<span class=\"awaits\">Awaits your review</span>"_html : Markup()) + "</td></tr>"_html;
    }
    sections += "</tbody></table></div></section>"_html;
  }
  if (by_id.empty()) body += "<p class=\"muted\">No contract to show.</p>"_html;
  else if (waiting > 0) body += "<p class=\"awaits\">"_html + std::to_string(waiting) + " version(s) await your side's review.</p>"_html;
  send_html(res, 200, page("Contracts", body + sections, &s.who, s.csrf));
}

void proposal_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                   const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  render_proposal(impl, s, req, res, params, rules, 200, "", "", std::nullopt);
}

// The signed agreement record of an agreed version, as a download (the API's, for a session).
void agreement_download(Api::Impl& impl, const Session& s, const httplib::Request&, httplib::Response& res,
                        const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  Proposals proposals(impl.db, rules, impl.clock.now(), s.who);
  const auto v = proposals.find(params.at("contract"), params.at("version"));
  if (!v) return send_html(res, v.error().status, page("Not found", "<h1>Not found</h1>"_html + problem_html(v.error()), &s.who, s.csrf));
  auto doc = impl.agreement_document(**v, impl.clock.now());
  if (!doc) {
    return send_html(res, doc.error().status,
                     page("No agreement record", "<h1>No agreement record</h1>"_html + problem_html(doc.error()), &s.who, s.csrf));
  }
  security_headers(res);
  res.set_header("Content-Disposition", "attachment; filename=\"" + agreement_file_name(**v) + "\"");
  res.set_content(std::move(*doc), "application/json");
}

// An act from the proposal page's forms, through the same Proposals::act as the API: back to the
// page (303), or the page again with the refusal.
void act_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
              const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  using core::ContractAct;
  auto field = [&](const char* k) { return req.has_param(k) ? req.get_param_value(k) : std::string(); };
  const auto text = field("act");
  const auto comment = field("comment");
  const auto what = core::contract_act_from(text);
  Proposals proposals(impl.db, rules, impl.clock.now(), s.who);
  const auto v = proposals.find(params.at("contract"), params.at("version"));
  if (!v) {
    return send_html(res, v.error().status, page("Not found", "<h1>Not found</h1>"_html + problem_html(v.error()), &s.who, s.csrf));
  }
  auto refuse = [&](int status, const std::string& why) { render_proposal(impl, s, req, res, params, rules, status, why, comment, what); };
  if (!what) return refuse(400, "Choose one of the acts the page offers.");
  if ((*what == ContractAct::reject || *what == ContractAct::request_changes || *what == ContractAct::comment) && comment.find_first_not_of(" \t\r\n") == std::string::npos) {
    return refuse(400, "Say why: " + act_label(*what) + " needs a comment.");
  }
  const auto sha = field("sha256");
  auto done = proposals.act(params.at("contract"), params.at("version"), text, sha.empty() ? std::nullopt : std::optional(sha),
                            comment.empty() ? std::nullopt : std::optional(comment));
  if (!done) return refuse(done.error().status, done.error().detail);
  security_headers(res);
  res.set_redirect(proposal_link(**v), 303);
}

}  // namespace pactwatch::api::portal
