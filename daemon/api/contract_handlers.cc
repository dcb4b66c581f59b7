// The API's contracts and their proposals: the versions a principal may see, where a proposal
// stands and its thread of acts, what it changes against the version in force, what it would have
// paid in the last closed periods, and the acts (propose, approve, reject, request changes,
// withdraw, comment) that take it to enforcement (docs/rules.md, "From proposal to enforcement").
#include <algorithm>
#include <charconv>

#include "handlers.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/ledger/statements.h"
#include "pactwatch/rules/approvals.h"
#include "pactwatch/rules/compare.h"

namespace pactwatch::api {

namespace {

// The versions of a contract `who` may see: enforced ones and, for review, proposals.
std::vector<const rules::ContractVersion*> visible_versions(const Reader& r, const rules::RuleSet& set, const std::string& contract) {
  std::vector<const rules::ContractVersion*> out;
  for (const auto& v : set.contracts) {
    if ((contract.empty() || v.contract == contract) && (r.may_see(v) || r.may_review(v))) out.push_back(&v);
  }
  return out;
}

// The version named in the path, when `who` may review it; 404 otherwise, exactly as for a version
// that does not exist.
Result<const rules::ContractVersion*> version_in_path(const Reader& r, const Call& c) {
  const std::string& id = c.params.at("contract");
  const std::string& text = c.params.at("version");
  int version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1) {
    return std::unexpected(bad_request("version: expected a whole number of at least 1, not '" + text + "'"));
  }
  for (const auto& v : c.rules->contracts) {
    if (v.contract == id && v.version == version && r.may_review(v)) return &v;
  }
  return std::unexpected(not_found("no version " + text + " of contract '" + id + "'"));
}

// A partner reviews only what the brand proposed: content changed since is not shown until the
// brand proposes it again.
std::optional<Problem> content_withheld(const Principal& who, const rules::ContractVersion& v) {
  if (who.role != Role::partner || v.enforced || !v.agreement) return std::nullopt;
  if (v.agreement->state == core::AgreementState::changed) {
    return conflict("the brand changed this version after proposing it; it has to be proposed again before it can be reviewed");
  }
  return std::nullopt;
}

// The version a proposal is compared with: the enforced version of its contract in effect today,
// else the latest enforced version before it; none for a contract's first agreement.
const rules::ContractVersion* in_force_for(const rules::RuleSet& set, const rules::ContractVersion& proposal, calendar::LocalDate today) {
  const rules::ContractVersion* today_v = nullptr;
  const rules::ContractVersion* before = nullptr;
  for (const auto& v : set.contracts) {
    if (v.contract != proposal.contract || &v == &proposal || !v.enforced) continue;
    if (v.in_effect_on(today) && (!today_v || v.version > today_v->version)) today_v = &v;
    if (v.version < proposal.version && (!before || v.version > before->version)) before = &v;
  }
  return today_v ? today_v : before;
}

calendar::LocalDate utc_day(core::Instant t) {
  return calendar::LocalDate{std::chrono::floor<std::chrono::days>(t)};
}

json term_json(const rules::TermChange& t) {
  return {{"section", t.section}, {"rule", t.rule.empty() ? json(nullptr) : json(t.rule)}, {"path", t.path},
          {"before", t.before ? json(*t.before) : json(nullptr)}, {"after", t.after ? json(*t.after) : json(nullptr)}};
}

}  // namespace

Result<json> list_contracts(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  Reader r(impl.db, *c.rules, c.now, c.who);
  std::map<std::string, std::vector<const rules::ContractVersion*>> by_id;
  for (const auto* v : visible_versions(r, *c.rules, "")) by_id[v->contract].push_back(v);
  std::vector<std::pair<std::vector<std::string>, json>> keyed;
  for (const auto& [id, versions] : by_id) {
    const auto* latest = *std::max_element(versions.begin(), versions.end(), [](auto* a, auto* b) { return a->version < b->version; });
    keyed.push_back({{id}, json{{"id", id}, {"partner", latest->partner}, {"versions", versions.size()},
                                {"latest", r.version_json(*latest)}}});
  }
  return page_of(std::move(keyed), *page);
}

Result<json> contract_versions(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  json items = json::array();
  for (const auto* v : visible_versions(r, *c.rules, c.params.at("contract"))) items.push_back(r.version_json(*v));
  if (items.empty()) return std::unexpected(not_found("no contract '" + c.params.at("contract") + "'"));
  return json{{"contract", c.params.at("contract")}, {"items", items}};
}

Result<json> proposal(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  auto v = version_in_path(r, c);
  if (!v) return std::unexpected(v.error());
  const auto acts = impl.db.agreements().of((*v)->contract);
  json thread = json::array();
  for (const auto& a : rules::acts_on(**v, acts)) thread.push_back(ledger::act_json(a));
  const auto* in_force = in_force_for(*c.rules, **v, utc_day(c.now));
  json out = r.version_json(**v);
  out["in_force_version"] = in_force ? json(in_force->version) : json(nullptr);
  out["thread"] = std::move(thread);
  return out;
}

Result<json> proposal_comparison(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  auto v = version_in_path(r, c);
  if (!v) return std::unexpected(v.error());
  if (auto p = content_withheld(c.who, **v)) return std::unexpected(*p);
  const auto* in_force = in_force_for(*c.rules, **v, utc_day(c.now));
  auto after = rules::canonical_of(**v);
  if (!after) return std::unexpected(conflict(after.error()));
  std::string before;
  if (in_force) {
    auto b = rules::canonical_of(*in_force);
    if (!b) return std::unexpected(conflict(b.error()));
    before = std::move(*b);
  }
  auto cmp = rules::compare_contracts(before, *after);
  if (!cmp) return std::unexpected(conflict(cmp.error()));
  json rules_changed = json::array();
  for (const auto& rc : cmp->rules) {
    rules_changed.push_back({{"section", rc.section}, {"rule", rc.rule},
                             {"change", rc.kind == rules::RuleChange::Kind::added     ? "added"
                                        : rc.kind == rules::RuleChange::Kind::dropped ? "dropped"
                                                                                      : "changed"}});
  }
  json terms = json::array();
  for (const auto& t : cmp->terms) terms.push_back(term_json(t));
  return json{{"contract", (*v)->contract},
              {"version", (*v)->version},
              {"sha256", (*v)->sha256},
              {"against_version", in_force ? json(in_force->version) : json(nullptr)},
              {"against_sha256", in_force ? json(in_force->sha256) : json(nullptr)},
              {"rules", rules_changed},
              {"terms", terms}};
}

Result<json> proposal_what_if(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  auto v = version_in_path(r, c);
  if (!v) return std::unexpected(v.error());
  if (auto p = content_withheld(c.who, **v)) return std::unexpected(*p);
  std::size_t periods = 1;
  if (const auto text = query(c.req, "periods"); !text.empty()) {
    int n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > 12) {
      return std::unexpected(bad_request("periods: expected a whole number from 1 to 12, not '" + text + "'"));
    }
    periods = static_cast<std::size_t>(n);
  }
  ledger::Statements statements(*c.rules, impl.db);
  std::vector<ledger::RepricedPeriod> repriced;
  try {
    repriced = statements.reprice(**v, periods);
  } catch (const ledger::LedgerDamaged& e) {
    return std::unexpected(conflict(e.what()));
  }
  json items = json::array();
  for (const auto& p : repriced) {
    json item{{"period", p.period},
              {"closed_version", p.closed_version},
              {"currency", std::string(p.closed_own.currency().code())},
              {"closed", p.closed_own.to_decimal()},
              {"proposed", p.proposed_own ? json(p.proposed_own->to_decimal()) : json(nullptr)},
              {"difference", nullptr},
              {"note", p.note},
              {"statement", p.document}};
    if (p.proposed_own && p.proposed_own->currency() == p.closed_own.currency()) {
      item["difference"] = (*p.proposed_own - p.closed_own).to_decimal();
    }
    items.push_back(std::move(item));
  }
  return json{{"contract", (*v)->contract}, {"version", (*v)->version}, {"sha256", (*v)->sha256}, {"periods", items}};
}

Result<json> contract_act(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  auto v = version_in_path(r, c);
  if (!v) return std::unexpected(v.error());
  auto body = parse_body(c.req);
  if (!body) return std::unexpected(body.error());
  const json& b = *body;
  for (const auto& [k, _] : b.items()) {
    if (k != "act" && k != "sha256" && k != "comment") return std::unexpected(bad_request("unknown field '" + k + "' (expected act, sha256, comment)"));
  }
  if (!b.contains("act") || !b["act"].is_string()) {
    return std::unexpected(bad_request("act: expected one of propose, approve, reject, request_changes, withdraw, comment"));
  }
  const auto what = core::contract_act_from(b["act"].get<std::string>());
  if (!what) {
    return std::unexpected(bad_request("act '" + b["act"].get<std::string>() +
                                       "': expected one of propose, approve, reject, request_changes, withdraw, comment"));
  }
  for (const char* k : {"sha256", "comment"}) {
    if (b.contains(k) && !b[k].is_string()) return std::unexpected(bad_request(std::string(k) + ": expected a string"));
  }
  if (*what == core::ContractAct::approve && !b.contains("sha256")) {
    return std::unexpected(bad_request("sha256: an approval names the content hash it approves (the version's sha256)"));
  }
  if (*what == core::ContractAct::approve && c.who.role == Role::admin) {
    return std::unexpected(Problem{403, "forbidden", "Forbidden", "approving for the brand needs an approver token; admin tokens may not approve"});
  }
  if (auto p = content_withheld(c.who, **v); p && *what != core::ContractAct::comment) return std::unexpected(*p);
  core::ContractAction act;
  act.contract = (*v)->contract;
  act.version = (*v)->version;
  act.party = c.who.party();
  act.act = *what;
  if (b.contains("sha256")) act.sha256 = b["sha256"].get<std::string>();
  if (b.contains("comment")) act.comment = b["comment"].get<std::string>();
  if (act.comment.size() > 4000) return std::unexpected(bad_request("comment: at most 4000 bytes"));
  const ledger::Actor actor{c.who.token_id, c.who.name, std::string(to_string(c.who.role))};
  auto stored = ledger::record_act(impl.db, *c.rules, act, actor, c.now);
  if (!stored) return std::unexpected(conflict(stored.error()));
  // Where the version stands now, from every act recorded (the daemon re-applies them to the rules
  // it serves within seconds).
  const auto acts = impl.db.agreements().of(act.contract);
  const auto mine = rules::acts_on(**v, acts);
  const auto now_state = core::agreement_of(mine, (*v)->sha256, rules::later_version_proposed(**v, acts));
  c.res.status = 201;
  c.res.set_content(json{{"act", ledger::act_json(*stored)}, {"agreement", ledger::agreement_json(now_state)}}.dump(
                        -1, ' ', false, json::error_handler_t::replace),
                    "application/json");
  return json();  // the body is set
}

Result<json> agreement_document(Api::Impl& impl, Call& c) {
  Reader r(impl.db, *c.rules, c.now, c.who);
  auto v = version_in_path(r, c);
  if (!v) return std::unexpected(v.error());
  const auto acts = impl.db.agreements().of((*v)->contract);
  auto body = ledger::agreement_record(**v, acts, c.now);
  if (!body) return std::unexpected(conflict(body.error()));
  auto key = impl.signing_key();
  if (!key) return std::unexpected(key.error());
  c.res.status = 200;
  c.res.set_header("Content-Disposition",
                   "attachment; filename=\"" + (*v)->contract + "-v" + std::to_string((*v)->version) + "-agreement.json\"");
  c.res.set_content(ledger::signed_agreement(*body, *key), "application/json");
  return json();  // the body is set
}

Result<json> agreement_key(Api::Impl& impl, Call&) {
  auto key = impl.signing_key();
  if (!key) return std::unexpected(key.error());
  return json{{"algorithm", "Ed25519"}, {"key_id", key->key_id()}, {"public_key", key->public_key_pem()}};
}

}  // namespace pactwatch::api
