// The API's disputes and corrections (docs/disputes.md): a partner's disputes and their threads,
// opening one on an evidence item (or a whole rule) of a period within its contract's terms, and
// the acts that answer it: the brand accepts or rejects, either side comments, the partner
// withdraws. Corrections are the same with the parties swapped: the brand declares a window whose
// items leave named rules and may withdraw it, the partner accepts or rejects it. The ledger checks
// the terms and the lifecycle, and audits and notifies every act; this file decides who may see
// and act on which, and speaks HTTP.
#include <algorithm>
#include <charconv>

#include "handlers.h"

namespace pactwatch::api {

namespace {

constexpr const char* kActs = "expected one of accept, reject, comment, withdraw";
constexpr const char* kStates = "expected one of open, accepted, rejected, withdrawn";

// The keyset key of a dispute: its id, zero-padded so that keys sort as numbers.
std::string id_key(std::int64_t id) {
  std::string s = std::to_string(id);
  return std::string(20 - std::min<std::size_t>(20, s.size()), '0') + s;
}

std::optional<std::int64_t> id_from(const std::string& text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id < 1) return std::nullopt;
  return id;
}

Problem unprocessable(std::string detail) { return {422, "unprocessable", "Unprocessable request", std::move(detail)}; }

}  // namespace

Result<store::Dispute> DisputeDesk::find(const std::string& text) const {
  const auto id = id_from(text);
  if (!id) return std::unexpected(bad_request(noun() + ": expected a whole number of at least 1, not '" + text + "'"));
  auto d = db_.disputes().get(*id);
  // Another partner's answers as one that does not exist, and so does one of the other kind
  // (disputes and corrections share the store, not their routes).
  if (!d || d->kind != kind_ || (who_.role == Role::partner && who_.partner != d->subject.partner)) {
    return std::unexpected(not_found("no " + noun() + " " + text));
  }
  return *d;
}

Problem DisputeDesk::read_only() const {
  return Problem{403, "forbidden", "Forbidden",
                 "a " + std::string(to_string(who_.role)) + " token reads " + noun() + "s; approver and finance act on them for the brand"};
}

Result<std::vector<json>> DisputeDesk::list(const std::string& partner, const std::string& state) const {
  if (!state.empty() && state != "open" && state != "accepted" && state != "rejected" && state != "withdrawn") {
    return std::unexpected(bad_request("state '" + state + "': " + kStates));
  }
  // A partner token's list is its own partner's, whatever it asks for.
  const std::string whose = who_.role == Role::partner ? who_.partner.value_or("") : partner;
  if (who_.role == Role::partner && whose.empty()) return std::vector<json>{};
  std::vector<json> out;
  for (const auto& d : db_.disputes().list(whose)) {
    if (d.kind != kind_) continue;  // disputes and corrections are listed apart
    auto j = ledger::dispute_json(d, db_.disputes().acts_of(d.id));
    if (!state.empty() && j.at("state") != state) continue;
    out.push_back(std::move(j));
  }
  return out;
}

Result<json> DisputeDesk::get(const std::string& id) const {
  auto d = find(id);
  if (!d) return std::unexpected(d.error());
  return ledger::dispute_json(*d, db_.disputes().acts_of(d->id));
}

Result<json> DisputeDesk::open(const ledger::DisputeRequest& request) {
  const auto& s = request.subject;
  if (kind_ != core::DisputeKind::dispute || who_.role != Role::partner || who_.partner != s.partner) {
    return std::unexpected(Problem{403, "forbidden", "Forbidden", "only the partner opens its disputes, with its own token"});
  }
  if (request.reason.size() > 4000) return std::unexpected(bad_request("reason: at most 4000 bytes"));
  // Only the partner's own versions are named: another partner's contract answers as one that
  // does not exist (open_dispute's own refusal would suggest names).
  const bool own = std::any_of(rules_.contracts.begin(), rules_.contracts.end(), [&](const rules::ContractVersion& v) {
    return v.contract == s.contract && v.version == s.version && v.partner == s.partner;
  });
  if (!own) {
    return std::unexpected(unprocessable("no version " + std::to_string(s.version) + " of contract '" + s.contract + "' of partner '" +
                                         s.partner + "'"));
  }
  const ledger::Actor actor{who_.token_id, who_.name, std::string(to_string(who_.role))};
  auto opened = ledger::open_dispute(db_, rules_, request, actor, now_);
  if (!opened) return std::unexpected(unprocessable(opened.error()));
  return ledger::dispute_json(opened->dispute, opened->acts);
}

Result<json> DisputeDesk::declare(const ledger::CorrectionRequest& request) {
  if (kind_ != core::DisputeKind::correction || !resolves()) {
    return std::unexpected(Problem{403, "forbidden", "Forbidden", "approver and finance declare the brand's corrections"});
  }
  if (request.reason.size() > 4000) return std::unexpected(bad_request("reason: at most 4000 bytes"));
  const ledger::Actor actor{who_.token_id, who_.name, std::string(to_string(who_.role))};
  auto declared = ledger::declare_correction(db_, rules_, request, actor, now_);
  if (!declared) return std::unexpected(unprocessable(declared.error()));
  return ledger::dispute_json(declared->dispute, declared->acts);
}

Result<json> DisputeDesk::act(const std::string& id, std::string_view text, const std::string& comment) {
  auto d = find(id);
  if (!d) return std::unexpected(d.error());
  const auto what = core::dispute_act_from(text);
  if (!what || *what == core::DisputeAct::open) return std::unexpected(bad_request("act '" + std::string(text) + "': " + kActs));
  if (!acts()) return std::unexpected(read_only());
  if (comment.size() > 4000) return std::unexpected(bad_request("comment: at most 4000 bytes"));
  const ledger::Actor actor{who_.token_id, who_.name, std::string(to_string(who_.role))};
  auto stored = ledger::act_on_dispute(db_, rules_, d->id, *what, who_.party(), comment, actor, now_);
  if (!stored) return std::unexpected(conflict(stored.error()));
  const auto acts = db_.disputes().acts_of(d->id);
  return json{{"act", ledger::dispute_json(*d, {*stored}).at("thread").at(0)}, {noun(), ledger::dispute_json(*d, acts)}};
}

namespace {

// A dispute request from a JSON body: every field checked and named when it is wrong.
Result<ledger::DisputeRequest> request_from(const std::string& partner, const json& b) {
  static const std::vector<std::string> known{"contract", "version", "period", "rule", "item", "category", "reason"};
  for (const auto& [k, _] : b.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      return std::unexpected(bad_request("unknown field '" + k + "' (expected contract, version, period, rule, item, category, reason)"));
    }
  }
  auto text = [&](const json& o, const std::string& k, const std::string& name) -> Result<std::string> {
    if (!o.contains(k) || !o[k].is_string() || o[k].get<std::string>().empty()) {
      return std::unexpected(bad_request(name + ": expected a non-empty string"));
    }
    return o[k].get<std::string>();
  };
  ledger::DisputeRequest r;
  r.subject.partner = partner;
  for (const auto& [k, out] : std::vector<std::pair<std::string, std::string*>>{
           {"contract", &r.subject.contract}, {"period", &r.subject.period}, {"rule", &r.subject.rule}}) {
    auto v = text(b, k, k);
    if (!v) return std::unexpected(v.error());
    *out = std::move(*v);
  }
  if (!b.contains("version") || !b["version"].is_number_integer() || b["version"].get<std::int64_t>() < 1 ||
      b["version"].get<std::int64_t>() > 1000000) {
    return std::unexpected(bad_request("version: expected a whole number of at least 1"));
  }
  r.subject.version = static_cast<int>(b["version"].get<std::int64_t>());
  if (b.contains("item") && !b["item"].is_null()) {
    const json& item = b["item"];
    if (!item.is_object()) return std::unexpected(bad_request("item: expected an object {source, kind, id}, or none for the whole rule"));
    for (const auto& [k, _] : item.items()) {
      if (k != "source" && k != "kind" && k != "id") return std::unexpected(bad_request("item: unknown field '" + k + "' (expected source, kind, id)"));
    }
    for (const auto& [k, out] : std::vector<std::pair<std::string, std::string*>>{
             {"source", &r.subject.item_source}, {"kind", &r.subject.item_kind}, {"id", &r.subject.item_id}}) {
      auto v = text(item, k, "item." + k);
      if (!v) return std::unexpected(v.error());
      *out = std::move(*v);
    }
  }
  if (!b.contains("category") || !b["category"].is_string() || !core::dispute_category_from(b["category"].get<std::string>())) {
    std::string names;
    for (const auto c : core::dispute_categories()) names += (names.empty() ? "" : ", ") + std::string(core::to_string(c));
    return std::unexpected(bad_request("category: expected one of " + names));
  }
  r.category = *core::dispute_category_from(b["category"].get<std::string>());
  if (!b.contains("reason") || !b["reason"].is_string()) return std::unexpected(bad_request("reason: expected a string saying why"));
  r.reason = b["reason"].get<std::string>();
  return r;
}

// A correction request from a JSON body: every field checked and named when it is wrong.
Result<ledger::CorrectionRequest> correction_from(const std::string& partner, const json& b) {
  static const std::vector<std::string> known{"contract", "version", "rules", "from", "until", "category", "reason"};
  for (const auto& [k, _] : b.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      return std::unexpected(bad_request("unknown field '" + k + "' (expected contract, version, rules, from, until, category, reason)"));
    }
  }
  ledger::CorrectionRequest r;
  r.partner = partner;
  if (!b.contains("contract") || !b["contract"].is_string() || b["contract"].get<std::string>().empty()) {
    return std::unexpected(bad_request("contract: expected a non-empty string"));
  }
  r.contract = b["contract"].get<std::string>();
  if (!b.contains("version") || !b["version"].is_number_integer() || b["version"].get<std::int64_t>() < 1 ||
      b["version"].get<std::int64_t>() > 1000000) {
    return std::unexpected(bad_request("version: expected a whole number of at least 1"));
  }
  r.version = static_cast<int>(b["version"].get<std::int64_t>());
  if (!b.contains("rules") || !b["rules"].is_array() || b["rules"].empty() || b["rules"].size() > 100 ||
      !std::all_of(b["rules"].begin(), b["rules"].end(), [](const json& x) { return x.is_string() && !x.get<std::string>().empty(); })) {
    return std::unexpected(bad_request("rules: expected a non-empty array of rule ids (KPIs, brand standards, obligations)"));
  }
  for (const auto& x : b["rules"]) r.rules.push_back(x.get<std::string>());
  for (const auto& [k, out] : std::vector<std::pair<std::string, core::Instant*>>{{"from", &r.from}, {"until", &r.until}}) {
    if (!b.contains(k) || !b[k].is_string()) return std::unexpected(bad_request(k + ": expected an RFC 3339 instant"));
    auto at = core::parse_rfc3339(b[k].get<std::string>());
    if (!at) return std::unexpected(bad_request(k + ": expected an RFC 3339 instant (" + at.error() + ")"));
    *out = *at;
  }
  if (!b.contains("category") || !b["category"].is_string() || !core::dispute_category_from(b["category"].get<std::string>())) {
    std::string names;
    for (const auto c : core::dispute_categories()) names += (names.empty() ? "" : ", ") + std::string(core::to_string(c));
    return std::unexpected(bad_request("category: expected one of " + names));
  }
  r.category = *core::dispute_category_from(b["category"].get<std::string>());
  if (!b.contains("reason") || !b["reason"].is_string()) return std::unexpected(bad_request("reason: expected a string saying what happened"));
  r.reason = b["reason"].get<std::string>();
  return r;
}

// Writes a 201 with `body`.
json created(Call& c, const json& body) {
  c.res.status = 201;
  c.res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  return json();  // the body is set
}

}  // namespace

namespace {

// A partner's disputes or corrections, a page at a time.
Result<json> list_of(Api::Impl& impl, Call& c, core::DisputeKind kind) {
  auto page = page_request(c.req, impl.options);
  if (!page) return std::unexpected(page.error());
  auto items = DisputeDesk(impl.db, *c.rules, c.now, c.who, kind).list(c.params.at("partner"), query(c.req, "state"));
  if (!items) return std::unexpected(items.error());
  std::vector<std::pair<std::vector<std::string>, json>> keyed;
  for (auto& j : *items) keyed.push_back({{id_key(j.at("id").get<std::int64_t>())}, std::move(j)});
  return page_of(std::move(keyed), *page);
}

// An act on a dispute or a correction: {act, comment}.
Result<json> act_of(Api::Impl& impl, Call& c, core::DisputeKind kind) {
  DisputeDesk desk(impl.db, *c.rules, c.now, c.who, kind);
  // Not found before anything about the body: another partner's says nothing more.
  if (auto d = desk.get(c.params.at("id")); !d) return std::unexpected(d.error());
  if (!desk.acts()) return std::unexpected(desk.read_only());
  auto body = parse_body(c.req);
  if (!body) return std::unexpected(body.error());
  const json& b = *body;
  for (const auto& [k, _] : b.items()) {
    if (k != "act" && k != "comment") return std::unexpected(bad_request("unknown field '" + k + "' (expected act, comment)"));
  }
  if (!b.contains("act") || !b["act"].is_string()) return std::unexpected(bad_request(std::string("act: ") + kActs));
  if (b.contains("comment") && !b["comment"].is_string()) return std::unexpected(bad_request("comment: expected a string"));
  auto done = desk.act(c.params.at("id"), b["act"].get<std::string>(), b.value("comment", std::string()));
  if (!done) return std::unexpected(done.error());
  return created(c, *done);
}

}  // namespace

Result<json> partner_disputes(Api::Impl& impl, Call& c) { return list_of(impl, c, core::DisputeKind::dispute); }

Result<json> open_dispute(Api::Impl& impl, Call& c) {
  if (c.who.role != Role::partner) {
    return std::unexpected(Problem{403, "forbidden", "Forbidden", "only the partner opens its disputes, with its own token"});
  }
  auto body = parse_body(c.req);
  if (!body) return std::unexpected(body.error());
  auto request = request_from(c.params.at("partner"), *body);
  if (!request) return std::unexpected(request.error());
  auto opened = DisputeDesk(impl.db, *c.rules, c.now, c.who).open(*request);
  if (!opened) return std::unexpected(opened.error());
  return created(c, *opened);
}

Result<json> get_dispute(Api::Impl& impl, Call& c) { return DisputeDesk(impl.db, *c.rules, c.now, c.who).get(c.params.at("id")); }

Result<json> dispute_act(Api::Impl& impl, Call& c) { return act_of(impl, c, core::DisputeKind::dispute); }

Result<json> partner_corrections(Api::Impl& impl, Call& c) { return list_of(impl, c, core::DisputeKind::correction); }

Result<json> declare_correction(Api::Impl& impl, Call& c) {
  DisputeDesk desk(impl.db, *c.rules, c.now, c.who, core::DisputeKind::correction);
  if (!desk.resolves()) {
    return std::unexpected(Problem{403, "forbidden", "Forbidden", "approver and finance declare the brand's corrections"});
  }
  auto body = parse_body(c.req);
  if (!body) return std::unexpected(body.error());
  auto request = correction_from(c.params.at("partner"), *body);
  if (!request) return std::unexpected(request.error());
  auto declared = desk.declare(*request);
  if (!declared) return std::unexpected(declared.error());
  return created(c, *declared);
}

Result<json> get_correction(Api::Impl& impl, Call& c) {
  return DisputeDesk(impl.db, *c.rules, c.now, c.who, core::DisputeKind::correction).get(c.params.at("id"));
}

Result<json> correction_act(Api::Impl& impl, Call& c) { return act_of(impl, c, core::DisputeKind::correction); }

}  // namespace pactwatch::api
