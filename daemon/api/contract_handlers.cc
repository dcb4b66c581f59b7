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

constexpr const char* kActs = "expected one of propose, approve, reject, request_changes, withdraw, comment";

}  // namespace

std::vector<const rules::ContractVersion*> Proposals::visible(const std::string& contract) const {
  std::vector<const rules::ContractVersion*> out;
  for (const auto& v : rules_.contracts) {
    if ((contract.empty() || v.contract == contract) && (reader_.may_see(v) || reader_.may_review(v))) out.push_back(&v);
  }
  return out;
}

Result<json> Proposals::versions(const std::string& contract) const {
  json items = json::array();
  for (const auto* v : visible(contract)) items.push_back(reader_.version_json(*v));
  if (items.empty()) return std::unexpected(not_found("no contract '" + contract + "'"));
  return json{{"contract", contract}, {"items", items}};
}

Result<const rules::ContractVersion*> Proposals::find(const std::string& contract, const std::string& text) const {
  int version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1) {
    return std::unexpected(bad_request("version: expected a whole number of at least 1, not '" + text + "'"));
  }
  for (const auto& v : rules_.contracts) {
    if (v.contract == contract && v.version == version && reader_.may_review(v)) return &v;
  }
  return std::unexpected(not_found("no version " + text + " of contract '" + contract + "'"));
}

Result<json> Proposals::proposal(const std::string& contract, const std::string& version) const {
  auto v = find(contract, version);
  if (!v) return std::unexpected(v.error());
  const auto acts = db_.agreements().of((*v)->contract);
  json thread = json::array();
  for (const auto& a : rules::acts_on(**v, acts)) thread.push_back(ledger::act_json(a));
  const auto* in_force = in_force_for(rules_, **v, utc_day(now_));
  json out = reader_.version_json(**v);
  out["in_force_version"] = in_force ? json(in_force->version) : json(nullptr);
  out["thread"] = std::move(thread);
  return out;
}

Result<json> Proposals::comparison(const std::string& contract, const std::string& version) const {
  auto v = find(contract, version);
  if (!v) return std::unexpected(v.error());
  const auto* in_force = in_force_for(rules_, **v, utc_day(now_));
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
  // A viewer sees no money: the compensation terms are left out, and the answer says so.
  json terms = json::array();
  bool withheld = false;
  for (const auto& t : cmp->terms) {
    if (!who_.sees_money() && t.section == "compensation") {
      withheld = true;
      continue;
    }
    terms.push_back(term_json(t));
  }
  return json{{"contract", (*v)->contract},
              {"compensation_withheld", withheld},
              {"version", (*v)->version},
              {"sha256", (*v)->sha256},
              {"against_version", in_force ? json(in_force->version) : json(nullptr)},
              {"against_sha256", in_force ? json(in_force->sha256) : json(nullptr)},
              {"rules", rules_changed},
              {"terms", terms}};
}

Result<json> Proposals::what_if(const std::string& contract, const std::string& version, std::string_view text) const {
  auto v = find(contract, version);
  if (!v) return std::unexpected(v.error());
  std::size_t periods = 1;
  if (!text.empty()) {
    int n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > 12) {
      return std::unexpected(bad_request("periods: expected a whole number from 1 to 12, not '" + std::string(text) + "'"));
    }
    periods = static_cast<std::size_t>(n);
  }
  ledger::Statements statements(rules_, db_);
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

core::Agreement Proposals::agreement_now(const rules::ContractVersion& v) const {
  const auto acts = db_.agreements().of(v.contract);
  return core::agreement_of(rules::acts_on(v, acts), v.sha256, rules::later_version_proposed(v, acts));
}

std::vector<core::ContractAct> Proposals::open_acts(const rules::ContractVersion& v) const {
  using enum core::ContractAct;
  if (who_.role != Role::admin && who_.role != Role::approver && who_.role != Role::partner) return {};
  const auto agreement = agreement_now(v);
  std::vector<core::ContractAct> out;
  for (auto what : {propose, approve, reject, request_changes, withdraw, comment}) {
    if (what == approve && who_.role == Role::admin) continue;
    core::ContractAction a;
    a.contract = v.contract;
    a.version = v.version;
    a.party = who_.party();
    a.act = what;
    a.sha256 = v.sha256;
    a.comment = "because";  // a reason stands in for the one the form asks for
    if (core::check_act(agreement, a, v.sha256)) out.push_back(what);
  }
  return out;
}

Result<json> Proposals::act(const std::string& contract, const std::string& version, std::string_view text,
                            std::optional<std::string> sha256, std::optional<std::string> comment) {
  auto v = find(contract, version);
  if (!v) return std::unexpected(v.error());
  const auto what = core::contract_act_from(text);
  if (!what) return std::unexpected(bad_request("act '" + std::string(text) + "': " + kActs));
  if (*what == core::ContractAct::approve && !sha256) {
    return std::unexpected(bad_request("sha256: an approval names the content hash it approves (the version's sha256)"));
  }
  if (*what == core::ContractAct::approve && who_.role == Role::admin) {
    return std::unexpected(Problem{403, "forbidden", "Forbidden", "approving for the brand needs an approver token; admin tokens may not approve"});
  }
  core::ContractAction act;
  act.contract = (*v)->contract;
  act.version = (*v)->version;
  act.party = who_.party();
  act.act = *what;
  if (sha256) act.sha256 = std::move(*sha256);
  if (comment) act.comment = std::move(*comment);
  if (act.comment.size() > 4000) return std::unexpected(bad_request("comment: at most 4000 bytes"));
  const ledger::Actor actor{who_.token_id, who_.name, std::string(to_string(who_.role))};
  auto stored = ledger::record_act(db_, rules_, act, actor, now_);
  if (!stored) return std::unexpected(conflict(stored.error()));
  // Where the version stands now, from every act recorded (the daemon re-applies them to the rules
  // it serves within seconds).
  return json{{"act", ledger::act_json(*stored)}, {"agreement", ledger::agreement_json(agreement_now(**v))}};
}

Result<json> list_contracts(Api::Impl& impl, Call& c) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  Proposals proposals(impl.db, *c.rules, c.now, c.who);
  std::map<std::string, std::vector<const rules::ContractVersion*>> by_id;
  for (const auto* v : proposals.visible("")) by_id[v->contract].push_back(v);
  std::vector<std::pair<std::vector<std::string>, json>> keyed;
  for (const auto& [id, versions] : by_id) {
    const auto* latest = *std::max_element(versions.begin(), versions.end(), [](auto* a, auto* b) { return a->version < b->version; });
    keyed.push_back({{id}, json{{"id", id}, {"partner", latest->partner}, {"versions", versions.size()},
                                {"latest", proposals.reader().version_json(*latest)}}});
  }
  return page_of(std::move(keyed), *page);
}

Result<json> contract_versions(Api::Impl& impl, Call& c) {
  return Proposals(impl.db, *c.rules, c.now, c.who).versions(c.params.at("contract"));
}

Result<json> proposal(Api::Impl& impl, Call& c) {
  return Proposals(impl.db, *c.rules, c.now, c.who).proposal(c.params.at("contract"), c.params.at("version"));
}

Result<json> proposal_comparison(Api::Impl& impl, Call& c) {
  return Proposals(impl.db, *c.rules, c.now, c.who).comparison(c.params.at("contract"), c.params.at("version"));
}

Result<json> proposal_what_if(Api::Impl& impl, Call& c) {
  return Proposals(impl.db, *c.rules, c.now, c.who).what_if(c.params.at("contract"), c.params.at("version"), query(c.req, "periods"));
}

Result<json> contract_act(Api::Impl& impl, Call& c) {
  Proposals proposals(impl.db, *c.rules, c.now, c.who);
  if (auto v = proposals.find(c.params.at("contract"), c.params.at("version")); !v) return std::unexpected(v.error());
  auto body = parse_body(c.req);
  if (!body) return std::unexpected(body.error());
  const json& b = *body;
  for (const auto& [k, _] : b.items()) {
    if (k != "act" && k != "sha256" && k != "comment") return std::unexpected(bad_request("unknown field '" + k + "' (expected act, sha256, comment)"));
  }
  if (!b.contains("act") || !b["act"].is_string()) return std::unexpected(bad_request(std::string("act: ") + kActs));
  if (!core::contract_act_from(b["act"].get<std::string>())) {
    return std::unexpected(bad_request("act '" + b["act"].get<std::string>() + "': " + kActs));
  }
  for (const char* k : {"sha256", "comment"}) {
    if (b.contains(k) && !b[k].is_string()) return std::unexpected(bad_request(std::string(k) + ": expected a string"));
  }
  auto field = [&](const char* k) { return b.contains(k) ? std::optional(b[k].get<std::string>()) : std::nullopt; };
  auto done = proposals.act(c.params.at("contract"), c.params.at("version"), b["act"].get<std::string>(), field("sha256"), field("comment"));
  if (!done) return std::unexpected(done.error());
  c.res.status = 201;
  c.res.set_content(done->dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  return json();  // the body is set
}

std::string agreement_file_name(const rules::ContractVersion& v) {
  return v.contract + "-v" + std::to_string(v.version) + "-agreement.json";
}

Result<std::string> Api::Impl::agreement_document(const rules::ContractVersion& v, core::Instant now) {
  auto body = ledger::agreement_record(v, db.agreements().of(v.contract), now);
  if (!body) return std::unexpected(conflict(body.error()));
  auto key = signing_key();
  if (!key) return std::unexpected(key.error());
  return ledger::signed_agreement(*body, *key);
}

Result<json> agreement_document(Api::Impl& impl, Call& c) {
  auto v = Proposals(impl.db, *c.rules, c.now, c.who).find(c.params.at("contract"), c.params.at("version"));
  if (!v) return std::unexpected(v.error());
  auto doc = impl.agreement_document(**v, c.now);
  if (!doc) return std::unexpected(doc.error());
  c.res.status = 200;
  c.res.set_header("Content-Disposition", "attachment; filename=\"" + agreement_file_name(**v) + "\"");
  c.res.set_content(std::move(*doc), "application/json");
  return json();  // the body is set
}

Result<json> agreement_key(Api::Impl& impl, Call&) {
  auto key = impl.signing_key();
  if (!key) return std::unexpected(key.error());
  return json{{"algorithm", "Ed25519"}, {"key_id", key->key_id()}, {"public_key", key->public_key_pem()}};
}

}  // namespace pactwatch::api
