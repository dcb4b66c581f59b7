// The portal's disputes (docs/disputes.md): a "Dispute" form on each evidence row (and for the rule
// as a whole) of a contract version that allows disputes, for the partner; and the disputes page,
// where the partner follows its disputes, comments and withdraws, and the brand's approver and
// finance accept or reject them; below them the brand's corrections, which the partner accepts or
// rejects and the brand withdraws. The same read model and acts as the API's dispute and
// correction routes (DisputeDesk), as pages and forms.
#include <algorithm>
#include <charconv>

#include "portal.h"
#include "pactwatch/rules/approvals.h"

namespace pactwatch::api::portal {

namespace {

using namespace html::literals;

std::string field(const httplib::Request& req, const char* k) { return req.has_param(k) ? req.get_param_value(k) : std::string(); }

Markup state_badge(const std::string& state) { return "<span class=\"badge st-"_html + state + "\">"_html + state + "</span>"_html; }

std::string disputes_link(core::DisputeKind kind, std::int64_t id) {
  return "/portal/disputes#" + std::string(core::to_string(kind)) + "-" + std::to_string(id);
}

// The item kind a rule counts (tickets, deals, ...): what names an evidence item with its source and id.
std::string item_kind_of(const rules::ContractVersion& v, const std::string& rule) {
  for (const auto& k : v.kpis) {
    if (k.id == rule) return std::string(rules::to_string(k.source));
  }
  for (const auto& k : v.obligations) {
    if (k.id == rule) return std::string(rules::to_string(k.source));
  }
  for (const auto& b : v.brand_standards) {
    if (b.id == rule) return std::string(rules::to_string(b.source));
  }
  return {};
}

Markup thread_table(const json& thread) {
  Markup h = "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">Party</th>"
             "<th scope=\"col\">Act</th><th scope=\"col\">Comment</th></tr></thead><tbody>"_html;
  for (const auto& a : thread) {
    h += "<tr><td>"_html + a.at("at").get<std::string>() + "</td><td>"_html + a.at("actor_name").get<std::string>() + "</td><td>"_html +
         a.at("party").get<std::string>() + "</td><td>"_html + a.at("act").get<std::string>() + "</td><td>"_html +
         a.at("comment").get<std::string>() + "</td></tr>"_html;
  }
  return h + "</tbody></table></div>"_html;
}

// The form of one act on a dispute or correction: the CSRF token, the act and a comment (required
// where the lifecycle wants one: a rejection, a comment).
Markup act_form(const Session& s, core::DisputeKind kind, std::int64_t id, core::DisputeAct a) {
  const std::string act(core::to_string(a));
  const bool reason = a == core::DisputeAct::reject || a == core::DisputeAct::comment;
  const std::string field_id = (kind == core::DisputeKind::dispute ? "d" : "c") + std::to_string(id) + "-" + act;
  std::string label = act;
  label[0] = static_cast<char>(label[0] - 'a' + 'A');
  return "<form method=\"post\" action=\"/portal/"_html + std::string(core::to_string(kind)) + "s/" + std::to_string(id) +
         "/act\"><input type=\"hidden\" name=\"csrf\" value=\""_html +
         s.csrf + "\"><input type=\"hidden\" name=\"act\" value=\""_html + act + "\"><label for=\""_html + field_id + "\">"_html +
         (a == core::DisputeAct::comment  ? std::string("Comment")
          : a == core::DisputeAct::withdraw ? std::string("Why you withdraw it (optional)")
          : reason                          ? "Why (" + act + ")"
                                            : std::string("Comment (optional)")) +
         "</label><textarea id=\""_html + field_id + "\" name=\"comment\" rows=\"2\" maxlength=\"4000\""_html +
         (reason ? " required"_html : Markup()) + "></textarea><p><button type=\"submit\">"_html + label + "</button></p></form>"_html;
}

// The acts `s` may take on a dispute (or correction) in `state`, in the order the page offers
// them: the party that opened it comments and withdraws, the other accepts, rejects and comments.
std::vector<core::DisputeAct> open_acts(const Session& s, const DisputeDesk& desk, core::DisputeKind kind, const std::string& state) {
  using enum core::DisputeAct;
  if (!desk.acts()) return {};
  if (state != "open") return {comment};
  if (s.who.party() == core::opener_of(kind)) return {comment, withdraw};
  return {accept, reject, comment};
}

Markup act_forms(const Session& s, const DisputeDesk& desk, core::DisputeKind kind, std::int64_t id, const std::string& state) {
  const auto acts = open_acts(s, desk, kind, state);
  if (acts.empty()) return {};
  Markup h = "<div class=\"acts\">"_html;
  for (auto a : acts) h += act_form(s, kind, id, a);
  return h + "</div>"_html;
}

// The brand's corrections of `partner` (every one `s` may see when empty) in `state`, newest
// first, each with its thread and the forms of the acts `s` may take.
Result<Markup> corrections_section(Api::Impl& impl, const Session& s, const rules::RuleSet& rules, const std::string& partner,
                                   const std::string& state) {
  DisputeDesk desk(impl.db, rules, impl.clock.now(), s.who, core::DisputeKind::correction);
  auto items = desk.list(partner, state);
  if (!items) return std::unexpected(items.error());
  Markup body = "<h2 id=\"corrections\">Corrections</h2><p class=\"muted\">"_html +
                (s.who.role == Role::partner ? "Windows the brand declares its own doing (an outage): items created in them leave the "
                                               "named rules once you accept."_html
                                             : "Declared with <code>pactwatch correction declare</code> or the API; the partner accepts or "
                                               "rejects them."_html) +
                "</p>"_html;
  if (items->empty()) body += "<p class=\"muted\">No correction to show.</p>"_html;
  for (auto it = items->rbegin(); it != items->rend(); ++it) {
    const json& d = *it;
    const auto id = d.at("id").get<std::int64_t>();
    const auto st = d.at("state").get<std::string>();
    std::string rule_list;
    for (const auto& r : d.at("rules")) rule_list += (rule_list.empty() ? "" : ", ") + r.get<std::string>();
    body += "<section class=\"card\" id=\"correction-"_html + std::to_string(id) + "\"><h2>Correction #"_html + std::to_string(id) +
            " "_html + state_badge(st) + "</h2><dl class=\"facts\"><dt>Kind</dt><dd>correction (declared by the brand)</dd><dt>Partner</dt><dd>"_html +
            d.at("partner").get<std::string>() + "</dd><dt>Contract</dt><dd>"_html + d.at("contract").get<std::string>() + " v" +
            std::to_string(d.at("version").get<int>()) + "</dd><dt>Period</dt><dd>"_html + d.at("period").get<std::string>() +
            "</dd><dt>Rules</dt><dd>"_html + rule_list + "</dd><dt>Window</dt><dd>"_html + d.at("window").at("from").get<std::string>() +
            " to " + d.at("window").at("until").get<std::string>() + "</dd><dt>Category</dt><dd>"_html +
            d.at("category").get<std::string>() + "</dd><dt>Declared</dt><dd>"_html + d.at("opened_at").get<std::string>() +
            "</dd></dl><h3>Thread</h3>"_html + thread_table(d.at("thread")) + act_forms(s, desk, core::DisputeKind::correction, id, st) +
            "</section>"_html;
  }
  return body;
}

void render_disputes(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res, const rules::RuleSet& rules,
                     int status, const std::string& error) {
  DisputeDesk desk(impl.db, rules, impl.clock.now(), s.who);
  const std::string state = req.method == "GET" ? field(req, "state") : "";
  const std::string partner = req.method == "GET" ? field(req, "partner") : "";
  Markup body = "<h1>Disputes</h1>"_html;
  if (!error.empty()) body += "<p class=\"error\" role=\"alert\">"_html + error + "</p>"_html;
  body += "<form method=\"get\" action=\"/portal/disputes\"><label for=\"state\">State</label><select id=\"state\" name=\"state\">"_html;
  for (const char* st : {"", "open", "accepted", "rejected", "withdrawn"}) {
    body += "<option value=\""_html + st + "\""_html + (state == st ? " selected"_html : Markup()) + ">"_html +
            (*st ? st : "every state") + "</option>"_html;
  }
  body += "</select> <button type=\"submit\">Show</button></form>"_html;
  if (s.who.role == Role::partner) {
    body += "<p class=\"muted\">Dispute an item from its rule's evidence page, within the contract's dispute window.</p>"_html;
  } else if (!desk.resolves()) {
    body += "<p class=\"muted\">Your role reads disputes; approver and finance answer them.</p>"_html;
  }
  auto items = desk.list(partner, state);
  if (!items) return send_html(res, items.error().status, page("Disputes", body + problem_html(items.error()), &s.who, s.csrf));
  if (items->empty()) body += "<p class=\"muted\">No dispute to show.</p>"_html;
  // Newest first.
  for (auto it = items->rbegin(); it != items->rend(); ++it) {
    const json& d = *it;
    const auto id = d.at("id").get<std::int64_t>();
    const auto st = d.at("state").get<std::string>();
    const auto& item = d.at("item");
    body += "<section class=\"card\" id=\"dispute-"_html + std::to_string(id) + "\"><h2>Dispute #"_html + std::to_string(id) + " "_html +
            state_badge(st) + "</h2><dl class=\"facts\"><dt>Partner</dt><dd>"_html + d.at("partner").get<std::string>() +
            "</dd><dt>Contract</dt><dd>"_html + d.at("contract").get<std::string>() + " v" + std::to_string(d.at("version").get<int>()) +
            "</dd><dt>Period</dt><dd>"_html + d.at("period").get<std::string>() + "</dd><dt>Rule</dt><dd>"_html +
            d.at("rule").get<std::string>() + "</dd><dt>Item</dt><dd>"_html +
            (item.is_null() ? std::string("the rule as a whole")
                            : item.at("source").get<std::string>() + " / " + item.at("kind").get<std::string>() + " / " +
                                  item.at("id").get<std::string>()) +
            "</dd><dt>Category</dt><dd>"_html + d.at("category").get<std::string>() + "</dd><dt>Opened</dt><dd>"_html +
            d.at("opened_at").get<std::string>() + "</dd></dl><h3>Thread</h3>"_html + thread_table(d.at("thread"));
    body += act_forms(s, desk, core::DisputeKind::dispute, id, st) + "</section>"_html;
  }
  auto corrections = corrections_section(impl, s, rules, partner, state);
  if (!corrections) return send_html(res, corrections.error().status, page("Disputes", body + problem_html(corrections.error()), &s.who, s.csrf));
  send_html(res, status, page("Disputes", body + *corrections, &s.who, s.csrf));
}

}  // namespace

Markup evidence_dispute_form(const Session& s, const rules::RuleSet& rules, const std::string& contract, int version,
                             const std::string& period, const std::string& rule, const json* entry, int n) {
  if (s.who.role != Role::partner) return {};
  auto found = rules::find_version(rules, contract, version);
  if (!found) return {};
  const rules::ContractVersion& v = **found;
  if (!v.enforced || !v.disputes || v.disputes->categories.empty() || v.partner != s.who.partner) return {};
  const std::string kind = item_kind_of(v, rule);
  if (kind.empty()) return {};
  const std::string key = "dispute-" + std::to_string(n);
  Markup f = "<details class=\"dispute\"><summary>"_html + (entry ? "Dispute" : "Dispute the rule as a whole") +
             "</summary><form method=\"post\" action=\"/portal/partners/"_html + url_part(v.partner) +
             "/disputes\"><input type=\"hidden\" name=\"csrf\" value=\""_html + s.csrf + "\"><input type=\"hidden\" name=\"contract\" value=\""_html +
             v.contract + "\"><input type=\"hidden\" name=\"version\" value=\""_html + std::to_string(v.version) +
             "\"><input type=\"hidden\" name=\"period\" value=\""_html + period + "\"><input type=\"hidden\" name=\"rule\" value=\""_html + rule +
             "\">"_html;
  if (entry) {
    f += "<input type=\"hidden\" name=\"source\" value=\""_html + entry->value("source", "") +
         "\"><input type=\"hidden\" name=\"kind\" value=\""_html + kind + "\"><input type=\"hidden\" name=\"id\" value=\""_html +
         entry->value("id", "") + "\">"_html;
  }
  f += "<label for=\""_html + key + "-category\">Category</label><select id=\""_html + key + "-category\" name=\"category\">"_html;
  for (const auto c : v.disputes->categories) {
    const std::string name(core::to_string(c));
    std::string label = name;
    std::replace(label.begin(), label.end(), '_', ' ');
    f += "<option value=\""_html + name + "\">"_html + label + "</option>"_html;
  }
  return f + "</select><label for=\""_html + key + "-reason\">Why</label><textarea id=\""_html + key +
         "-reason\" name=\"reason\" rows=\"2\" maxlength=\"4000\" required></textarea><p><button type=\"submit\">Open the dispute</button>"
         " <span class=\"muted\">within "_html +
         std::to_string(v.disputes->window_days) + " days after the period ends</span></p></form></details>"_html;
}

void disputes_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                   const std::map<std::string, std::string>&, const rules::RuleSet& rules) {
  render_disputes(impl, s, req, res, rules, 200, "");
}

// A dispute opened from an evidence row's form, through the same DisputeDesk::open as the API: to
// the disputes page (303), or a page with the refusal and the way back to the evidence.
void open_dispute_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                       const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  ledger::DisputeRequest r;
  r.subject.partner = params.at("partner");
  r.subject.contract = field(req, "contract");
  r.subject.period = field(req, "period");
  r.subject.rule = field(req, "rule");
  r.subject.item_source = field(req, "source");
  r.subject.item_kind = field(req, "kind");
  r.subject.item_id = field(req, "id");
  r.reason = field(req, "reason");
  const auto version = field(req, "version");
  const auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), r.subject.version);
  const auto category = core::dispute_category_from(field(req, "category"));
  const std::string back = "/portal/partners/" + url_part(r.subject.partner) + "/evidence?rule=" + url_part(r.subject.rule) +
                           "&period=" + url_part(r.subject.period);
  auto refuse = [&](int status, const std::string& why) {
    send_html(res, status,
              page("Dispute", "<p><a href=\""_html + back + "\">← Evidence</a></p><h1>Dispute not opened</h1><p class=\"error\" role=\"alert\">"_html +
                                  why + "</p>"_html,
                   &s.who, s.csrf));
  };
  if (ec != std::errc() || end != version.data() + version.size()) return refuse(400, "The form names no contract version.");
  if (!category) return refuse(400, "Choose one of the categories the form offers.");
  r.category = *category;
  auto opened = DisputeDesk(impl.db, rules, impl.clock.now(), s.who).open(r);
  if (!opened) return refuse(opened.error().status, opened.error().detail);
  security_headers(res);
  res.set_redirect(disputes_link(core::DisputeKind::dispute, opened->at("id").get<std::int64_t>()), 303);
}

namespace {

// An act from the disputes page's forms, through the same DisputeDesk::act as the API: back to
// the dispute or correction (303), or the page again with the refusal.
void act_page_of(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                 const std::map<std::string, std::string>& params, const rules::RuleSet& rules, core::DisputeKind kind) {
  DisputeDesk desk(impl.db, rules, impl.clock.now(), s.who, kind);
  const auto& id = params.at("id");
  auto done = desk.act(id, field(req, "act"), field(req, "comment"));
  if (!done && done.error().status == 404) {
    return send_html(res, 404, page("Not found", "<h1>Not found</h1>"_html + problem_html(done.error()), &s.who, s.csrf));
  }
  std::string title = desk.noun();
  title[0] = static_cast<char>(title[0] - 'a' + 'A');
  if (!done) return render_disputes(impl, s, req, res, rules, done.error().status, title + " #" + id + ": " + done.error().detail);
  security_headers(res);
  res.set_redirect(disputes_link(kind, done->at(desk.noun()).at("id").get<std::int64_t>()), 303);
}

}  // namespace

void dispute_act_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                      const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  act_page_of(impl, s, req, res, params, rules, core::DisputeKind::dispute);
}

void correction_act_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                         const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  act_page_of(impl, s, req, res, params, rules, core::DisputeKind::correction);
}

// What accepted disputes and corrections left out of a rule (the evidence route's `excluded` and
// `waived_by`): no longer evidence against the partner.
Markup excluded_card(const json& ev) {
  Markup out;
  if (ev.contains("waived_by")) {
    std::string by;
    for (const auto& w : ev.at("waived_by")) by += (by.empty() ? "" : ", ") + w.get<std::string>();
    out += "<div class=\"card\"><p>Waived for this period by "_html + by + ".</p></div>"_html;
  }
  if (ev.contains("excluded") && !ev.at("excluded").empty()) {
    out += "<div class=\"card scroll\"><h2>Excluded</h2><table><thead><tr><th>Item</th><th>Excluded by</th></tr></thead><tbody>"_html;
    for (const auto& x : ev.at("excluded")) {
      out += "<tr><td>"_html + x.value("source", "") + " / " + x.value("id", "") + "</td><td>"_html + x.value("by", "") + "</td></tr>"_html;
    }
    out += "</tbody></table></div>"_html;
  }
  return out;
}

}  // namespace pactwatch::api::portal
