// The portal: server-rendered HTML for partners (their scorecard, evidence, statement, what-if)
// and finance (every partner, the period report, CSV, close); contracts and their proposals are in
// portal_contracts.cc, disputes in portal_disputes.cc. No JavaScript, no external resources; the
// session is the API token in an HttpOnly, SameSite=Strict cookie, and every form carries a CSRF
// token derived from it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "html.h"
#include "internal.h"
#include "portal.h"
#include "pactwatch/api/http_server.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/api/tokens.h"
#include "pactwatch/ledger/report.h"
#include "pactwatch/ledger/verify.h"
#include "pactwatch/rules/contract.h"

namespace pactwatch::api {

namespace portal {

using namespace html::literals;

void security_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Cache-Control", "no-store");
}

// Percent-encodes everything but unreserved characters (RFC 3986), for a path segment or a query value.
std::string url_part(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Markup page(const std::string& title, const Markup& body, const Principal* who, const std::string& csrf) {
  Markup h = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
             "<title>"_html + title + " · pactwatch</title>"
             "<link rel=\"stylesheet\" href=\"/portal/static/portal.css\"></head><body><header>"
             "<a class=\"brand\" href=\"/portal\">pactwatch</a>"_html;
  if (who) {
    // Every signed-in role: its home (a partner's scorecard, or the partners), the contracts and the disputes.
    h += "<nav aria-label=\"Portal\"><a href=\""_html +
         (who->partner ? "/portal/partners/" + url_part(*who->partner) : std::string("/portal/partners")) + "\">"_html +
         (who->partner ? "Scorecard" : "Partners") + "</a><a href=\"/portal/contracts\">Contracts</a><a href=\"/portal/disputes\">Disputes</a></nav>"_html;
    h += "<span class=\"muted\">"_html + who->name + " · " + std::string(to_string(who->role));
    if (who->partner) h += " · " + *who->partner;
    h += "</span><form method=\"post\" action=\"/portal/logout\"><input type=\"hidden\" name=\"csrf\" value=\""_html + csrf +
         "\"><button class=\"link\" type=\"submit\">Sign out</button></form>"_html;
  }
  return h + "</header><main>"_html + body + "</main></body></html>"_html;
}

void send_html(httplib::Response& res, int status, const Markup& html) {
  security_headers(res);
  res.status = status;
  res.set_content(html.str(), "text/html; charset=utf-8");
}
Markup problem_html(const Problem& p) { return "<p class=\"error\">"_html + p.detail + "</p>"_html; }

}  // namespace portal

namespace {

using html::Markup;
using namespace html::literals;
using namespace portal;

constexpr const char* kSessionCookie = "pw_session";
constexpr const char* kLoginCookie = "pw_login";

constexpr std::string_view kCss = R"css(
:root{--fg:#1d2330;--muted:#5b6473;--line:#d9dde5;--bg:#f6f7f9;--card:#fff;--accent:#2450a6;
--met:#1e7b3a;--warning:#8a6100;--at_risk:#b24a00;--breached:#b3261e;--none:#5b6473}
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.75rem 1rem;background:var(--card);border-bottom:1px solid var(--line)}
header .brand{font-weight:700;color:var(--accent);text-decoration:none}header form{margin:0}
main{max-width:68rem;margin:0 auto;padding:1rem}h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.85rem;color:var(--muted);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:999px;font-size:.8rem;font-weight:600;color:#fff;white-space:nowrap}
.met{background:var(--met)}.warning{background:var(--warning)}.at_risk{background:var(--at_risk)}.breached{background:var(--breached)}.insufficient_data,.not_in_contract{background:var(--none)}
.muted{color:var(--muted);font-size:.9rem}.scroll{overflow-x:auto}
form.inline{display:inline}input,button,select{font:inherit;padding:.4rem .6rem;border:1px solid var(--line);border-radius:6px}
button{background:var(--accent);color:#fff;border-color:var(--accent);cursor:pointer}button.link{background:none;color:var(--accent);border:none;padding:0;text-decoration:underline}
label{display:block;margin:.5rem 0 .2rem;font-weight:600}.error{color:var(--breached);font-weight:600}
svg.trend{display:block;width:12rem;height:auto}nav.periods a,header nav a{margin-right:.75rem}
.st-proposed,.st-approved_by_brand,.st-approved_by_partner{background:var(--accent)}.st-approved,.st-enforced{background:var(--met)}
.st-open{background:var(--accent)}.st-accepted{background:var(--met)}.st-rejected{background:var(--breached)}.st-changed{background:var(--at_risk)}.st-draft,.st-withdrawn,.st-superseded{background:var(--none)}
tr.awaiting td{background:#fff6db}.awaits{font-weight:600;color:var(--at_risk)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
code,td.term{overflow-wrap:anywhere}textarea{font:inherit;width:100%;padding:.4rem .6rem;border:1px solid var(--line);border-radius:6px}
section.acts form,div.acts form{margin:0 0 1rem}details.dispute summary{cursor:pointer;color:var(--accent)}th[scope=rowgroup]{background:var(--bg);color:var(--fg)}
@media (max-width:40rem){th.optional,td.optional{display:none}main{padding:.5rem}
table.rules thead{display:none}table.rules tr{display:block;padding:.5rem 0;border-bottom:1px solid var(--line)}
table.rules td{display:block;border:none;padding:.15rem .25rem;text-align:left}table.rules td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.85rem}
dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}}
)css";

std::string csrf_for(std::string_view token) { return core::sha256_hex("pactwatch-csrf:" + std::string(token)).substr(0, 32); }

std::string cookie(const ApiOptions& o, std::string_view name, std::string_view value, std::string_view path, int max_age) {
  std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) + "; HttpOnly; SameSite=Strict";
  if (max_age >= 0) c += "; Max-Age=" + std::to_string(max_age);
  if (o.secure_cookies) c += "; Secure";
  return c;
}

Markup badge(const std::string& status) {
  std::string label = status;
  std::replace(label.begin(), label.end(), '_', ' ');
  return "<span class=\"badge "_html + status + "\">"_html + label + "</span>"_html;
}

std::string value_text(const json& v) {
  if (v.is_null()) return "—";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("text")) return v.at("text").get<std::string>();
  return v.dump();
}

// The trend of one rule over its periods as inline SVG: the line of values (one per point, from
// the typed evaluations), the target as a dashed line, and the passing side shaded.
Markup trend_svg(const json& series, const Plot& plot) {
  const auto& points = series.at("points");
  const auto& ys = plot.ys;
  const auto& target = plot.target;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& y : ys) {
    if (y) lo = std::min(lo, *y), hi = std::max(hi, *y);
  }
  if (target) lo = std::min(lo, target->value), hi = std::max(hi, target->value);
  if (!std::isfinite(lo)) return "<p class=\"muted\">No values yet.</p>"_html;
  if (hi - lo < 1e-9) lo -= 1, hi += 1;
  const double pad = (hi - lo) * 0.1;
  lo -= pad;
  hi += pad;
  const double w = 320, h = 90, left = 4, right = 4, top = 6, bottom = 6;
  const std::size_t n = ys.size();
  auto x_at = [&](std::size_t i) { return n <= 1 ? w / 2 : left + (w - left - right) * static_cast<double>(i) / static_cast<double>(n - 1); };
  auto y_at = [&](double v) { return top + (h - top - bottom) * (hi - v) / (hi - lo); };
  // The shapes' coordinates and colours are numbers and constants of this function: trusted.
  char buf[160];
  std::string label = "Trend of " + series.at("id").get<std::string>() + " over " + std::to_string(n) + " period(s)";
  if (target) label += ", target " + series.at("target").get<std::string>();
  Markup svg = "<svg class=\"trend\" viewBox=\"0 0 320 90\" width=\"320\" height=\"90\" role=\"img\" aria-label=\""_html + label +
               "\"><title>"_html + label + "</title>"_html;
  svg += "<rect x=\"0\" y=\"0\" width=\"320\" height=\"90\" fill=\"#fff\"/>"_html;
  if (target) {
    const double ty = y_at(target->value);
    const double band_y = target->at_least ? top : ty, band_h = target->at_least ? ty - top : h - bottom - ty;
    std::snprintf(buf, sizeof buf, "<rect x=\"0\" y=\"%.1f\" width=\"320\" height=\"%.1f\" fill=\"#1e7b3a\" fill-opacity=\"0.08\"/>", band_y,
                  std::max(0.0, band_h));
    svg += Markup::trusted(buf);
    std::snprintf(buf, sizeof buf, "<line x1=\"0\" y1=\"%.1f\" x2=\"320\" y2=\"%.1f\" stroke=\"#1e7b3a\" stroke-dasharray=\"4 3\"/>", ty, ty);
    svg += Markup::trusted(buf);
  }
  std::string path;
  for (std::size_t i = 0; i < n; ++i) {
    if (!ys[i]) continue;
    std::snprintf(buf, sizeof buf, "%s%.1f %.1f", path.empty() || !ys[i - 1] ? "M" : " L", x_at(i), y_at(*ys[i]));
    path += buf;
  }
  if (!path.empty()) svg += "<path d=\""_html + path + "\" fill=\"none\" stroke=\"#2450a6\" stroke-width=\"2\"/>"_html;
  for (std::size_t i = 0; i < n; ++i) {
    if (!ys[i]) continue;
    const auto status = points[i].value("status", "");
    const char* colour = status == "breached" ? "#b3261e" : status == "met" ? "#1e7b3a" : "#5b6473";
    std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\">", x_at(i), y_at(*ys[i]), colour);
    svg += Markup::trusted(buf);
    svg += "<title>"_html + (points[i].value("period", "") + ": " + value_text(points[i].value("value", json())) + " (" + status + ")") +
           "</title></circle>"_html;
  }
  return svg + "</svg>"_html;
}

Markup statement_html(const json& doc) {
  Markup h = "<div class=\"card\"><h3>"_html + doc.at("contract").at("id").get<std::string>() + " v" +
             std::to_string(doc.at("contract").at("version").get<int>()) + " · " + doc.at("period").at("label").get<std::string>() + " " +
             badge(doc.at("status").get<std::string>() == "closed" ? "met" : "insufficient_data") + " <span class=\"muted\">"_html +
             doc.at("status").get<std::string>() + ", as of " + doc.at("as_of").get<std::string>() +
             "</span></h3><div class=\"scroll\"><table><thead><tr><th>Line</th>"
             "<th class=\"optional\">How</th><th class=\"num\">Amount ("_html +
             doc.at("currency").get<std::string>() + ")</th></tr></thead><tbody>"_html;
  for (const auto& l : doc.at("lines")) {
    const auto& d = l.at("derivation");
    h += "<tr><td>"_html + l.at("description").get<std::string>() + "</td><td class=\"optional muted\">"_html +
         (d.contains("formula") ? d.at("formula").get<std::string>() : "") + "</td><td class=\"num\">"_html +
         l.at("amount").get<std::string>() + "</td></tr>"_html;
  }
  h += "</tbody><tfoot><tr><th>Total</th><th class=\"optional\"></th><th class=\"num\">"_html + doc.at("total").get<std::string>() +
       "</th></tr></tfoot></table></div>"_html;
  if (doc.at("status") == "closed") {
    // The closed statement as a bundle anyone can check offline (docs/compensation.md).
    const std::string link = "/portal/partners/" + url_part(doc.at("contract").at("partner").get<std::string>()) + "/statements/" +
                             url_part(doc.at("contract").at("id").get<std::string>()) + "/" +
                             std::to_string(doc.at("contract").at("version").get<int>()) + "/" +
                             url_part(doc.at("period").at("label").get<std::string>()) + "/bundle";
    h += "<p><a href=\""_html + link + "\" download>Download the statement bundle</a> <span class=\"muted\">(check it with "
         "<code>pactwatch ledger verify --bundle FILE</code>)</span></p>"_html;
  }
  return h + "</div>"_html;
}


void scorecard(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
               const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  const auto& partner_id = params.at("partner");
  const std::string period = req.has_param("period") ? req.get_param_value("period") : "";
  const auto now = impl.clock.now();
  Reader r(impl.db, rules, now, s.who, &impl.history_cache);
  const auto* p = r.partner(partner_id);
  Markup body = "<h1>"_html + p->name + " <span class=\"muted\">"_html + p->id + "</span></h1>"_html;
  auto kpis = r.kpis(partner_id, period);
  if (!kpis) return send_html(res, kpis.error().status, page(p->name, body + problem_html(kpis.error()), &s.who, s.csrf));
  PlottedSeries plotted;
  auto history = r.history(partner_id, "", 12, &plotted);
  // Past periods, newest first, from the history's first series.
  if (history && !history->at("contracts").empty() && !history->at("contracts")[0].at("series").empty()) {
    const auto& pts = history->at("contracts")[0].at("series")[0].at("points");
    body += "<nav class=\"periods\" aria-label=\"Periods\">Periods: "_html;
    for (std::size_t i = pts.size(); i-- > 0 && pts.size() - i <= 6;) {
      const auto label = pts[i].at("period").get<std::string>();
      body += "<a href=\"/portal/partners/"_html + url_part(partner_id) + "?period="_html + url_part(label) + "\""_html +
              (label == period ? " aria-current=\"page\""_html : Markup()) + ">"_html + label + "</a>"_html;
    }
    body += "</nav>"_html;
  }
  for (const auto& c : kpis->at("contracts")) {
    const auto& per = c.at("period");
    body += "<section class=\"card\"><h2>"_html + c.at("contract").get<std::string>() + " v" + std::to_string(c.at("version").get<int>()) +
            " · " + per.at("label").get<std::string>() + (per.at("open").get<bool>() ? " (open)" : "") + "</h2>"_html;
    body += "<p class=\"muted\">As of "_html + c.at("as_of").get<std::string>() +
            (c.at("contract_status") == "draft" ? " · draft contract (preview)" : "");
    if (!c.at("score").is_null()) body += " · weighted score " + c.at("score").get<std::string>();
    body += "</p><div class=\"scroll\"><table class=\"rules\"><thead><tr><th>Measure</th><th class=\"num\">Value</th><th>Target</th>"
            "<th class=\"num optional\">Sample</th><th>Status</th><th class=\"optional\">Forecast</th><th>Trend (12 periods)</th></tr></thead><tbody>"_html;
    for (const auto& rule : c.at("rules")) {
      const auto id = rule.at("id").get<std::string>();
      std::string forecast;
      if (rule.contains("forecast") && rule.at("forecast").is_object()) {
        const auto& f = rule.at("forecast");
        if (f.contains("value")) forecast = value_text(f.at("value"));
        if (f.contains("meets_target")) forecast += f.at("meets_target").get<bool>() ? " (on track)" : " (off track)";
      }
      Markup chart;
      if (history) {
        for (const auto& hc : history->at("contracts")) {
          if (hc.at("contract") != c.at("contract")) continue;
          for (const auto& series : hc.at("series")) {
            if (series.at("id") == id) chart = trend_svg(series, plotted[{hc.at("contract").get<std::string>(), id}]);
          }
        }
      }
      const std::string evidence_link = "/portal/partners/" + url_part(partner_id) + "/evidence?rule=" + url_part(id) + "&period=" +
                                        url_part(per.at("label").get<std::string>());
      body += "<tr><td><strong>"_html + id + "</strong><br><span class=\"muted\">"_html + rule.value("description", "") +
              "</span><br><a href=\""_html + evidence_link + "\">Evidence ("_html + std::to_string(rule.value("evidence_count", 0)) +
              ")</a></td><td class=\"num\" data-label=\"Value\">"_html + value_text(rule.value("value", json())) +
              "</td><td data-label=\"Target\">"_html + rule.value("target", rule.value("rule", "")) +
              "</td><td class=\"num optional\" data-label=\"Sample\">"_html + value_text(rule.value("sample", json())) +
              "</td><td data-label=\"Status\">"_html + badge(rule.at("status").get<std::string>()) +
              "</td><td class=\"optional\" data-label=\"Forecast\">"_html + forecast + "</td><td>"_html + chart + "</td></tr>"_html;
    }
    body += "</tbody></table></div></section>"_html;
  }
  if (s.who.sees_money()) {
    auto st = r.statements(partner_id, period);
    body += "<h2>Statement</h2>"_html;
    if (!st) body += problem_html(st.error());
    else if (st->at("statements").empty()) body += "<p class=\"muted\">No contract with compensation in this period.</p>"_html;
    else for (const auto& doc : st->at("statements")) body += statement_html(doc);
    // What-if: the statement with KPI values of one's choosing.
    body += "<section class=\"card\"><h2>What if</h2><form method=\"post\" action=\"/portal/partners/"_html + url_part(partner_id) +
            "/what-if\"><input type=\"hidden\" name=\"csrf\" value=\""_html + s.csrf +
            "\"><input type=\"hidden\" name=\"period\" value=\""_html + period + "\">"_html;
    std::vector<std::string> seen;
    for (const auto& c : kpis->at("contracts")) {
      for (const auto& rule : c.at("rules")) {
        if (rule.at("kind") != "kpi") continue;
        const auto id = rule.at("id").get<std::string>();
        if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
        seen.push_back(id);
        body += "<label for=\"v_"_html + id + "\">"_html + id + "</label><input id=\"v_"_html + id + "\" name=\"v_"_html + id +
                "\" placeholder=\""_html + value_text(rule.value("value", json())) + "\">"_html;
      }
    }
    body += "<p><button type=\"submit\">Show the statement</button></p></form></section>"_html;
  }
  send_html(res, 200, page(p->name, body, &s.who, s.csrf));
}

void evidence_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                   const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  const auto& partner_id = params.at("partner");
  const std::string rule = req.has_param("rule") ? req.get_param_value("rule") : "";
  const std::string period = req.has_param("period") ? req.get_param_value("period") : "";
  Reader r(impl.db, rules, impl.clock.now(), s.who);
  ApiOptions o = impl.options;
  auto pr = page_request(req, o);
  if (!pr) return send_html(res, 400, page("Evidence", problem_html(pr.error()), &s.who, s.csrf));
  auto ev = r.evidence(partner_id, rule, period, *pr);
  Markup body = "<p><a href=\"/portal/partners/"_html + url_part(partner_id) + "?period="_html + url_part(period) +
                "\">← Scorecard</a></p><h1>Evidence: "_html + rule + "</h1>"_html;
  if (!ev) return send_html(res, ev.error().status, page("Evidence", body + problem_html(ev.error()), &s.who, s.csrf));
  body += "<p class=\"muted\">"_html + ev->at("contract").get<std::string>() + " · " + ev->at("period").at("label").get<std::string>() +
          " · " + std::to_string(ev->at("total").get<std::int64_t>()) + " item(s) · as of " + ev->at("as_of").get<std::string>() +
          "</p>"_html;
  // A partner disputes an item (or the rule) here when the contract version allows disputes.
  const auto contract = ev->at("contract").get<std::string>();
  const int version = ev->at("version").get<int>();
  const auto label = ev->at("period").at("label").get<std::string>();
  const Markup whole = evidence_dispute_form(s, rules, contract, version, label, rule, nullptr, 0);
  if (!whole.empty()) body += "<div class=\"card\">"_html + whole + "</div>"_html;
  body += "<div class=\"card scroll\"><table><thead><tr><th>Item</th><th>Values</th>"_html +
          (whole.empty() ? Markup() : "<th>Dispute</th>"_html) + "</tr></thead><tbody>"_html;
  int n = 0;
  for (const auto& e : ev->at("items")) {
    Markup values;
    if (e.contains("values")) {
      for (const auto& [k, v] : e.at("values").items()) values += Markup::text(k) + ": " + value_text(v) + "<br>"_html;
    }
    if (e.contains("value")) values += value_text(e.at("value"));
    body += "<tr><td>"_html + e.value("source", "") + " / " + e.value("id", "") + "</td><td>"_html + values + "</td>"_html +
            (whole.empty() ? Markup() : "<td>"_html + evidence_dispute_form(s, rules, contract, version, label, rule, &e, ++n) + "</td>"_html) +
            "</tr>"_html;
  }
  body += "</tbody></table></div>"_html;
  body += excluded_card(*ev);
  if (!ev->at("next_cursor").is_null()) {
    body += "<p><a href=\"?rule="_html + url_part(rule) + "&period="_html + url_part(period) + "&cursor="_html +
            ev->at("next_cursor").get<std::string>() + "\">Next page →</a></p>"_html;
  }
  send_html(res, 200, page("Evidence", body, &s.who, s.csrf));
}

void what_if_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                  const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  const auto& partner_id = params.at("partner");
  std::map<std::string, std::string> values;
  for (const auto& [k, v] : req.params) {
    if (k.rfind("v_", 0) == 0 && !v.empty()) values[k.substr(2)] = v;
  }
  const std::string period = req.has_param("period") ? req.get_param_value("period") : "";
  Markup body = "<p><a href=\"/portal/partners/"_html + url_part(partner_id) + "?period="_html + url_part(period) +
                "\">← Scorecard</a></p><h1>What if</h1>"_html;
  if (values.empty()) {
    return send_html(res, 400, page("What if", body + "<p class=\"error\">Enter at least one KPI value, such as 92%.</p>"_html, &s.who, s.csrf));
  }
  Reader r(impl.db, rules, impl.clock.now(), s.who);
  auto st = r.statements(partner_id, period, &values);
  if (!st) return send_html(res, st.error().status, page("What if", body + problem_html(st.error()), &s.who, s.csrf));
  body += "<p class=\"muted\">With "_html;
  for (const auto& [k, v] : values) body += k + " = " + v + "; ";
  body += "nothing is stored.</p>"_html;
  for (const auto& doc : st->at("statements")) body += statement_html(doc);
  send_html(res, 200, page("What if", body, &s.who, s.csrf));
}

std::string report_period(const httplib::Request& req, const rules::RuleSet& rules, core::Instant now) {
  if (req.has_param("period") && !req.get_param_value("period").empty()) return req.get_param_value("period");
  // The current month (a month label gives quarterly contracts their quarter; a quarter label
  // would leave monthly ones out).
  for (const auto& c : rules.contracts) {
    if (c.period.kind != rules::Period::Kind::month) continue;
    if (auto w = engine::period_containing(c, rules.calendars.at(c.calendar), now)) return w->label;
  }
  for (const auto& c : rules.contracts) {
    if (auto w = engine::period_containing(c, rules.calendars.at(c.calendar), now)) return w->label;
  }
  return "";
}

// The finance report of the period asked for (or the current month), as of now.
struct PeriodReport {
  std::string period;
  std::expected<ledger::Report, std::string> report;
};
PeriodReport period_report(Api::Impl& impl, const httplib::Request& req, const rules::RuleSet& rules) {
  const auto now = impl.clock.now();
  PeriodReport out{report_period(req, rules, now), std::unexpected(std::string())};
  ledger::Statements st(rules, impl.db);
  auto views = st.for_period(out.period, std::nullopt, now);
  if (views) out.report = ledger::make_report(out.period, now, *views);
  else out.report = std::unexpected(views.error());
  return out;
}

void report_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                 const std::map<std::string, std::string>&, const rules::RuleSet& rules) {
  const auto [period, result] = period_report(impl, req, rules);
  Markup body = "<h1>Compensation · "_html + period + "</h1><form method=\"get\" action=\"/portal/report\">"
                "<label for=\"period\">Period</label><input id=\"period\" name=\"period\" value=\""_html + period +
                "\"> <button type=\"submit\">Show</button></form>"_html;
  if (!result) {
    return send_html(res, 400, page("Compensation", body + "<p class=\"error\">"_html + result.error() + "</p>"_html, &s.who, s.csrf));
  }
  const auto& report = *result;
  const auto cols = ledger::report_columns();
  body += "<p><a href=\"/portal/report.csv?period="_html + url_part(period) + "\" download>Download CSV</a></p>"
          "<div class=\"card scroll\"><table><thead><tr><th>Partner</th><th>Contract</th><th>Status</th>"_html;
  for (const auto& c : cols) body += "<th class=\"num optional\">"_html + c + "</th>"_html;
  body += "<th class=\"num\">Total</th></tr></thead><tbody>"_html;
  for (const auto& row : report.rows) {
    body += "<tr><td><a href=\"/portal/partners/"_html + url_part(row.partner) + "?period="_html + url_part(period) + "\">"_html +
            row.partner + "</a></td><td>"_html + row.contract + " v" + std::to_string(row.version) + "</td><td>"_html + row.status +
            "</td>"_html;
    for (const auto& m : row.amounts) body += "<td class=\"num optional\">"_html + m.to_decimal() + "</td>"_html;
    body += "<td class=\"num\">"_html + row.total.to_decimal() + " " + row.currency + "</td></tr>"_html;
  }
  body += "</tbody><tfoot>"_html;
  for (const auto& [cur, m] : report.totals) {
    body += "<tr><th colspan=\"3\">Total "_html + cur + " (previews excluded)</th>"_html;
    for (std::size_t i = 0; i < cols.size(); ++i) body += "<th class=\"optional\"></th>"_html;
    body += "<th class=\"num\">"_html + m.to_decimal() + "</th></tr>"_html;
  }
  body += "</tfoot></table></div>"_html;
  if (s.who.is_staff()) {
    body += "<section class=\"card\"><h2>Close "_html + period + "</h2><p class=\"muted\">Freezes every enforced statement of the "
            "period. Only an ended period closes; closing again verifies.</p><form method=\"post\" action=\"/portal/close\">"
            "<input type=\"hidden\" name=\"csrf\" value=\""_html + s.csrf + "\"><input type=\"hidden\" name=\"period\" value=\""_html +
            period + "\"><button type=\"submit\">Close "_html + period + "</button></form></section>"_html;
  }
  send_html(res, 200, page("Compensation", body, &s.who, s.csrf));
}

void report_csv_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                     const std::map<std::string, std::string>&, const rules::RuleSet& rules) {
  const auto [period, result] = period_report(impl, req, rules);
  if (!result) return send_html(res, 400, page("Compensation", "<p class=\"error\">"_html + result.error() + "</p>"_html, &s.who, s.csrf));
  security_headers(res);
  res.set_header("Content-Disposition", "attachment; filename=\"compensation-" + period + ".csv\"");
  res.set_content(ledger::report_csv(*result), "text/csv; charset=utf-8; header=present");
  impl.audit(s.who, "GET /portal/report.csv", "?period=" + period, "200");
}

void close_page(Api::Impl& impl, const Session& s, const httplib::Request& req, httplib::Response& res,
                const std::map<std::string, std::string>&, const rules::RuleSet& rules) {
  const std::string period = req.has_param("period") ? req.get_param_value("period") : "";
  std::optional<std::string> partner;
  if (req.has_param("partner") && !req.get_param_value("partner").empty()) partner = req.get_param_value("partner");
  const auto now = impl.clock.now();
  ledger::Statements st(rules, impl.db);
  Markup body = "<p><a href=\"/portal/report?period="_html + url_part(period) + "\">← Report</a></p><h1>Close "_html + period +
                (partner ? " for " + *partner : "") + "</h1>"_html;
  if (partner && !rules.partner(*partner)) {
    return send_html(res, 404, page("Close", body + "<p class=\"error\">No partner '"_html + *partner + "'.</p>"_html, &s.who, s.csrf));
  }
  std::string outcome;
  int status = 200;
  try {
    auto r = st.close(period, partner, now, now, s.who.name + " (" + s.who.token_id + ")");
    if (!r) {
      status = 409;
      outcome = "409 " + r.error();
      body += "<p class=\"error\">"_html + r.error() + "; nothing closed.</p>"_html;
    } else {
      outcome = "200";
      body += "<div class=\"card\"><ul>"_html;
      for (const auto& o : *r) {
        body += "<li>"_html + (o.partner + " " + o.contract + " v" + std::to_string(o.version) + ": ") +
                (o.kind == ledger::CloseOutcome::Kind::closed ? "closed, total " + o.total : o.detail) + "</li>"_html;
      }
      body += "</ul></div>"_html;
    }
  } catch (const store::AlreadyClosed& e) {
    status = 409;
    outcome = "409 closed meanwhile";
    body += "<p class=\"error\">"_html + e.what() + " (closed meanwhile); nothing closed.</p>"_html;
  }
  impl.audit(s.who, "POST /portal/close", "?period=" + period + (partner ? "&partner=" + *partner : ""), outcome);
  send_html(res, status, page("Close", body, &s.who, s.csrf));
}

void bundle_download(Api::Impl& impl, const Session& s, const httplib::Request&, httplib::Response& res,
                     const std::map<std::string, std::string>& params, const rules::RuleSet& rules) {
  const auto& partner = params.at("partner");
  const auto& contract = params.at("contract");
  const auto& period = params.at("period");
  const auto& version_text = params.at("version");
  int version = 0;
  auto [ptr, ec] = std::from_chars(version_text.data(), version_text.data() + version_text.size(), version);
  std::expected<json, std::string> bundle = std::unexpected(std::string());
  if (ec == std::errc() && ptr == version_text.data() + version_text.size()) {
    bundle = ledger::statement_bundle(rules, impl.db, contract, version, period);
  }
  if (!bundle || (*bundle)["statement"]["partner"] != partner) {
    return send_html(res, 404, page("Not found", "<h1>Not found</h1><p>No closed statement of "_html + contract + " v" + version_text +
                                                      " for " + period + ".</p>"_html,
                                    &s.who, s.csrf));
  }
  security_headers(res);
  res.set_header("Content-Disposition", "attachment; filename=\"statement-" + contract + "-v" + std::to_string(version) + "-" + period +
                                            ".json\"");
  res.set_content(bundle->dump(2, ' ', false, json::error_handler_t::replace), "application/json");
  if (s.who.is_staff()) impl.audit(s.who, "GET /portal/partners/{partner}/statements/{contract}/{version}/{period}/bundle",
                                   "/" + partner + "/" + contract + "/" + version_text + "/" + period, "200");
}

void partners_page(Api::Impl& impl, const Session& s, const httplib::Request&, httplib::Response& res,
                   const std::map<std::string, std::string>&, const rules::RuleSet& rules) {
  Reader r(impl.db, rules, impl.clock.now(), s.who);
  Markup body = "<h1>Partners</h1>"_html;
  if (s.who.sees_money()) body += "<p><a href=\"/portal/report\">Compensation report and period close →</a></p>"_html;
  body += "<div class=\"card scroll\"><table><thead><tr><th>Partner</th><th>Kind</th><th>Tier</th><th>Contracts</th></tr></thead><tbody>"_html;
  for (const auto* p : r.partners()) {
    const auto j = r.partner_json(*p);
    Markup contracts;
    for (const auto& c : j.at("contracts")) contracts += c.get<std::string>() + " ";
    body += "<tr><td><a href=\"/portal/partners/"_html + url_part(p->id) + "\">"_html + p->name + "</a></td><td>"_html + p->kind +
            "</td><td>"_html + p->tier + "</td><td>"_html + contracts + "</td></tr>"_html;
  }
  body += "</tbody></table></div>"_html;
  send_html(res, 200, page("Partners", body, &s.who, s.csrf));
}

struct PortalRoute {
  const char* method;
  const char* pattern;
  std::vector<Role> roles;
  PortalHandler handler;
};

const std::vector<PortalRoute>& portal_table() {
  using enum Role;
  static const std::vector<PortalRoute> routes{
      {"GET", "/portal/partners", {admin, approver, finance, viewer}, partners_page},
      {"GET", "/portal/partners/{partner}", {admin, approver, finance, viewer, partner}, scorecard},
      {"GET", "/portal/partners/{partner}/evidence", {admin, approver, finance, viewer, partner}, evidence_page},
      {"POST", "/portal/partners/{partner}/what-if", {admin, finance, partner}, what_if_page},
      {"GET", "/portal/partners/{partner}/statements/{contract}/{version}/{period}/bundle", {admin, finance, partner}, bundle_download},
      {"GET", "/portal/report", {admin, finance}, report_page},
      {"GET", "/portal/report.csv", {admin, finance}, report_csv_page},
      {"POST", "/portal/close", {admin, finance}, close_page},
      {"GET", "/portal/contracts", {admin, approver, finance, viewer, partner}, contracts_page},
      {"GET", "/portal/contracts/{contract}/versions/{version}", {admin, approver, finance, viewer, partner}, proposal_page},
      {"GET", "/portal/contracts/{contract}/versions/{version}/agreement", {admin, approver, finance, partner}, agreement_download},
      {"POST", "/portal/contracts/{contract}/versions/{version}/act", {admin, approver, partner}, act_page},
      {"GET", "/portal/disputes", {admin, approver, finance, viewer, partner}, disputes_page},
      {"POST", "/portal/partners/{partner}/disputes", {partner}, open_dispute_page},
      {"POST", "/portal/disputes/{id}/act", {approver, finance, partner}, dispute_act_page},
      {"POST", "/portal/corrections/{id}/act", {approver, finance, partner}, correction_act_page},
  };
  return routes;
}

Markup login_form(const std::string& login_csrf, const std::string& error) {
  return "<h1>Sign in</h1><div class=\"card\"><form method=\"post\" action=\"/portal/login\">"
         "<input type=\"hidden\" name=\"csrf\" value=\""_html + login_csrf + "\">"
         "<label for=\"token\">API token</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" "
         "size=\"44\" required placeholder=\"pw_…\">"_html + (error.empty() ? Markup() : "<p class=\"error\">"_html + error + "</p>"_html) +
         "<p><button type=\"submit\">Sign in</button></p></form><p class=\"muted\">Ask your pactwatch administrator for a token "
         "(<code>pactwatch token create</code>). It is kept in a cookie only this site can read, until you sign out.</p></div>"_html;
}

}  // namespace

std::string cookie_value(const httplib::Request& req, std::string_view name) {
  const auto header = req.get_header_value("Cookie");
  std::string_view h = header;
  while (!h.empty()) {
    auto semi = h.find(';');
    auto part = h.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    if (semi == std::string_view::npos) break;
    h.remove_prefix(semi + 1);
  }
  return {};
}

std::vector<RouteInfo> portal_routes() {
  std::vector<RouteInfo> out{{"GET", "/portal", {"public"}},
                             {"GET", "/portal/login", {"public"}},
                             {"POST", "/portal/login", {"public"}},
                             {"POST", "/portal/logout", {"public"}},
                             {"GET", "/portal/static/portal.css", {"public"}}};
  for (const auto& r : portal_table()) {
    RouteInfo info{r.method, r.pattern, {}};
    for (Role role : r.roles) info.roles.emplace_back(to_string(role));
    out.push_back(std::move(info));
  }
  return out;
}

namespace {

std::optional<Session> session_of(Api::Impl& impl, const httplib::Request& req) {
  const auto token = cookie_value(req, kSessionCookie);
  if (token.empty()) return std::nullopt;
  auto who = impl.authenticate(token);
  if (!who) return std::nullopt;
  return Session{*who, csrf_for(token)};
}

void show_login(Api::Impl& impl, httplib::Response& res, int status, const std::string& error) {
  const auto csrf = random_hex(16);
  res.set_header("Set-Cookie", cookie(impl.options, kLoginCookie, csrf, "/portal/login", 600));
  send_html(res, status, page("Sign in", login_form(csrf, error), nullptr, ""));
}

// A field of a POSTed form, from its body only: a CSRF token or an API token taken from a URL's
// query would be one that ends up in logs, proxies and browser history.
std::string form_field(const httplib::Request& req, const char* name) {
  httplib::Params fields;
  httplib::detail::parse_query_text(req.body, fields);
  const auto it = fields.find(name);
  return it == fields.end() ? std::string() : it->second;
}

void login(Api::Impl& impl, const httplib::Request& req, httplib::Response& res) {
  const auto expected = cookie_value(req, kLoginCookie);
  const auto given = form_field(req, "csrf");
  if (expected.empty() || !constant_time_equal(expected, given)) return show_login(impl, res, 403, "The form expired; please sign in again.");
  const auto token = form_field(req, "token");
  Result<Principal> who = std::unexpected(Problem{});
  try {
    who = impl.authenticate(token);
  } catch (const store::StoreError&) {
    return show_login(impl, res, 503, "The store is unreachable; try again shortly.");
  }
  if (!who) {
    impl.count("POST", "/portal/login", 401, 0);
    return show_login(impl, res, 401, "That token is not valid (unknown, revoked or expired).");
  }
  res.set_header("Set-Cookie", cookie(impl.options, kSessionCookie, token, "/portal", -1));
  res.set_redirect("/portal", 303);
  security_headers(res);
  impl.count("POST", "/portal/login", 303, 0);
}

void logout(Api::Impl& impl, const httplib::Request& req, httplib::Response& res) {
  auto s = session_of(impl, req);
  if (s && !constant_time_equal(s->csrf, form_field(req, "csrf"))) {
    return send_html(res, 403, page("Sign out", "<p class=\"error\">The form expired; reload the page.</p>"_html, &s->who, s->csrf));
  }
  res.set_header("Set-Cookie", cookie(impl.options, kSessionCookie, "", "/portal", 0));
  res.set_redirect("/portal/login", 303);
  security_headers(res);
}

void home(Api::Impl& impl, const httplib::Request& req, httplib::Response& res) {
  auto s = session_of(impl, req);
  security_headers(res);
  if (!s) return res.set_redirect("/portal/login", 303);
  if (s->who.role == Role::partner) return res.set_redirect("/portal/partners/" + url_part(*s->who.partner), 303);
  res.set_redirect("/portal/partners", 303);
  impl.count("GET", "/portal", 303, 0);
}

void method_not_allowed(Api::Impl& impl, const httplib::Request& req, httplib::Response& res, const std::string& pattern,
                        const std::string& allow) {
  res.set_header("Allow", allow);
  send_html(res, 405, page("Method not allowed", "<h1>Method not allowed</h1><p>"_html + req.method + " is not served here; use " + allow +
                                                     ".</p>"_html,
                           nullptr, ""));
  impl.count(req.method, pattern, 405, 0);
}

// The pages of the table: session, rate limit, role, CSRF on forms, the partner in the path.
void dispatch(Api::Impl& impl, const httplib::Request& req, httplib::Response& res) {
  const auto started = std::chrono::steady_clock::now();
  const auto path = split_path(req.path);
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  const PortalRoute* found = nullptr;
  std::map<std::string, std::string> params;
  std::string allow;
  for (const auto& r : portal_table()) {
    std::map<std::string, std::string> p;
    if (!match_route(split_path(r.pattern), path, p)) continue;
    if (method == r.method) {
      found = &r;
      params = std::move(p);
      break;
    }
    allow += (allow.empty() ? "" : ", ") + std::string(r.method) + (std::string_view(r.method) == "GET" ? ", HEAD" : "");
  }
  if (!found && !allow.empty()) return method_not_allowed(impl, req, res, "unmatched", allow);
  const std::string pattern = found ? found->pattern : "unmatched";
  auto finish = [&] {
    impl.count(req.method, pattern, res.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  };
  auto s = session_of(impl, req);
  if (!s) {
    if (method == "GET") {
      security_headers(res);
      res.set_redirect("/portal/login", 303);
    } else {
      send_html(res, 401, page("Sign in", "<p class=\"error\">Your session has ended; <a href=\"/portal/login\">sign in</a>.</p>"_html, nullptr, ""));
    }
    return finish();
  }
  if (!found) {
    send_html(res, 404, page("Not found", "<h1>Not found</h1>"_html, &s->who, s->csrf));
    return finish();
  }
  if (auto wait = impl.rate_limited(s->who.token_id)) {
    res.set_header("Retry-After", std::to_string(*wait));
    send_html(res, 429, page("Slow down", "<p class=\"error\">Too many requests; try again in a few seconds.</p>"_html, &s->who, s->csrf));
    return finish();
  }
  if (std::find(found->roles.begin(), found->roles.end(), s->who.role) == found->roles.end()) {
    send_html(res, 403, page("Forbidden", "<h1>Forbidden</h1><p>Your token's role does not open this page.</p>"_html, &s->who, s->csrf));
    return finish();
  }
  if (req.method == "POST" && !constant_time_equal(s->csrf, form_field(req, "csrf"))) {
    send_html(res, 403, page("Forbidden", "<p class=\"error\">The form expired; reload the page and try again.</p>"_html, &s->who, s->csrf));
    return finish();
  }
  auto rules = impl.rules();
  if (auto it = params.find("partner"); it != params.end()) {
    const bool visible = rules && rules->partner(it->second) && (s->who.role != Role::partner || s->who.partner == it->second);
    if (!visible) {
      send_html(res, 404, page("Not found", "<h1>Not found</h1><p>No partner '"_html + it->second + "'.</p>"_html, &s->who, s->csrf));
      return finish();
    }
  }
  if (!rules) {
    send_html(res, 503, page("Unavailable", "<p>No rules are loaded yet.</p>"_html, &s->who, s->csrf));
    return finish();
  }
  try {
    found->handler(impl, *s, req, res, params, *rules);
  } catch (const std::exception& e) {
    spdlog::error("portal {} {}: {}", req.method, pattern, e.what());
    send_html(res, 500, page("Error", "<p class=\"error\">The page failed; the log says why.</p>"_html, &s->who, s->csrf));
  }
  finish();
}

// Everything under /portal but the stylesheet.
void portal_handle(Api::Impl& impl, const httplib::Request& req, httplib::Response& res) {
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (req.path == "/portal") return get ? home(impl, req, res) : method_not_allowed(impl, req, res, "/portal", "GET, HEAD");
  if (req.path == "/portal/login") {
    if (get) return show_login(impl, res, 200, "");
    if (req.method == "POST") return login(impl, req, res);
    return method_not_allowed(impl, req, res, "/portal/login", "GET, HEAD, POST");
  }
  if (req.path == "/portal/logout") {
    return req.method == "POST" ? logout(impl, req, res) : method_not_allowed(impl, req, res, "/portal/logout", "POST");
  }
  dispatch(impl, req, res);
}

// Before a form's body is read: the sign-in form needs its CSRF cookie, every other form a live
// session (the answer is the one the page would give without them).
bool portal_admit(Api::Impl& impl, const httplib::Request& req, httplib::Response& res) {
  if (req.path == "/portal/login" && req.method == "POST") {
    if (!cookie_value(req, kLoginCookie).empty()) return true;
    show_login(impl, res, 403, "The form expired; please sign in again.");
    return false;
  }
  if (req.path == "/portal/logout" || session_of(impl, req)) return true;
  portal_handle(impl, req, res);  // without a session: the redirect or the "session has ended" page
  return false;
}

}  // namespace

void mount_portal(Api::Impl& impl, HttpServer& http) {
  http.route(
      "GET", "/portal/static/portal.css",
      [](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "max-age=3600");
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_content(std::string(kCss), "text/css; charset=utf-8");
      },
      HttpServer::Run::inline_io);
  http.mount(
      "/portal", [&impl](const httplib::Request& req, httplib::Response& res) { portal_handle(impl, req, res); },
      [&impl](const httplib::Request& req, httplib::Response& res) { return portal_admit(impl, req, res); });
}

}  // namespace pactwatch::api
