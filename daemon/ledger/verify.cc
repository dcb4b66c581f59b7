#include "pactwatch/ledger/verify.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "pactwatch/compensation/statement.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/ledger/statements.h"

namespace pactwatch::ledger {

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string subject_of(const store::StatementRecord& r) {
  return "statement " + r.contract + " v" + std::to_string(r.version) + " " + r.period + " (#" + std::to_string(r.chain_seq) +
         " of its contract's chain)";
}

std::string minor_text(std::int64_t minor, const std::optional<core::Currency>& c) {
  return std::to_string(minor) + (c ? " (" + core::Money(minor, *c).to_decimal() + ")" : std::string());
}

std::string sha_or_empty(const std::string& text) { return text.empty() ? std::string() : core::sha256_hex(text); }

// The text a chain hash is taken over, from a bundle's chain entry (the fields of
// store::statement_chain_text, as strings).
std::string chain_text(const json& e) {
  json j = json::object();
  for (const char* k : {"approvals_sha256", "closed_at", "closed_by", "contract", "contract_canonical_sha256", "document_sha256",
                        "period", "previous_sha256", "seq", "version"}) {
    const auto& v = e.at(k);
    j[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return dump(j);
}

// The lines of a statement document against its totals: every amount in the currency, lines
// summing to the total, own the period's own lines, carry_forward_out what the carry line took.
std::optional<std::string> arithmetic_problem(const json& doc) {
  const auto currency = core::Currency::from_code(doc.at("currency").get<std::string>());
  if (!currency) return "its currency " + doc.at("currency").get<std::string>() + " is unknown";
  auto money = [&](const json& v, const std::string& what) -> core::Money {
    auto m = core::Money::parse(v.get<std::string>(), *currency);
    if (!m) throw std::invalid_argument(what + ": " + m.error());
    return *m;
  };
  try {
    core::Money total = core::Money::zero(*currency), own = total, carried = total;
    bool past_own = false;
    for (const auto& l : doc.at("lines")) {
      const auto kind = l.at("kind").get<std::string>();
      const auto amount = money(l.at("amount"), kind + " line");
      total += amount;
      if (kind == "adjustment" || kind == "carry_forward_in" || kind == "carry_forward") past_own = true;
      else if (!past_own) own += amount;
      if (kind == "carry_forward") carried -= amount;
      if (auto p = line_steps_problem(l, *currency)) return "its " + kind + " line \"" + l.at("description").get<std::string>() + "\": " + *p;
    }
    if (total != money(doc.at("total"), "total")) {
      return "its lines sum to " + total.to_decimal() + ", its total says " + doc.at("total").get<std::string>();
    }
    if (own != money(doc.at("own"), "own")) return "its own lines sum to " + own.to_decimal() + ", own says " + doc.at("own").get<std::string>();
    if (carried != money(doc.at("carry_forward_out"), "carry_forward_out")) {
      return "its carry-forward line takes " + carried.to_decimal() + ", carry_forward_out says " +
             doc.at("carry_forward_out").get<std::string>();
    }
  } catch (const std::exception& e) {
    return std::string("an amount is not money: ") + e.what();
  }
  return std::nullopt;
}

std::optional<std::string> approvals_problem(const std::string& approvals_text, const std::string& contract_sha256) {
  const json a = json::parse(approvals_text, nullptr, false);
  if (!a.is_array()) return "its approvals are not a JSON list";
  bool brand = false, partner = false;
  for (const auto& x : a) {
    if (!x.is_object() || !x.contains("party") || !x.contains("sha256")) return "an approval lacks its party or hash";
    if (x.at("sha256") != contract_sha256) continue;
    brand = brand || x.at("party") == "brand";
    partner = partner || x.at("party") == "partner";
  }
  if (!brand || !partner) return "its approvals do not hold both the brand's and the partner's over the contract hash";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> line_steps_problem(const json& line, core::Currency currency) {
  const auto& d = line.at("derivation");
  if (!d.contains("steps")) {
    return std::nullopt;  // closed by engine 1, before derivations listed their steps
  }
  std::vector<core::Money> results;
  auto money = [&](const json& v) -> core::Money {
    if (v.is_number_integer()) {
      const auto n = v.get<std::int64_t>();
      if (n < 1 || n > static_cast<std::int64_t>(results.size())) throw std::invalid_argument("refers to step " + v.dump() + ", not an earlier one");
      return results[static_cast<std::size_t>(n - 1)];
    }
    auto m = core::Money::parse(v.get<std::string>(), currency);
    if (!m) throw std::invalid_argument(m.error());
    return *m;
  };
  try {
    for (const auto& s : d.at("steps")) {
      const auto op = s.at("op").get<std::string>();
      core::Money r = core::Money::zero(currency);
      if (op == "given") {
        r = money(s.at("value"));
      } else if (op == "multiply") {
        auto by = core::Ratio::parse(s.at("by").get<std::string>());
        auto rounding = core::parse_rounding(s.at("rounding").get<std::string>());
        if (!by || !rounding) throw std::invalid_argument("a factor or rounding it cannot read");
        r = money(s.at("of")).multiply(*by, *rounding);
      } else if (op == "sum") {
        for (const auto& v : s.at("of")) r += money(v);
      } else if (op == "subtract") {
        r = money(s.at("of")) - money(s.at("minus"));
      } else if (op == "negate") {
        r = -money(s.at("of"));
      } else if (op == "allocate") {
        std::vector<std::int64_t> weights;
        for (const auto& w : s.at("weights")) weights.push_back(money(w).minor_units());
        const auto parts = money(s.at("total")).allocate(weights);
        const auto i = s.at("index").get<std::size_t>();
        if (i >= parts.size()) throw std::invalid_argument("a part past the weights");
        r = parts[i];
      } else {
        throw std::invalid_argument("an unknown operation '" + op + "'");
      }
      if (r != money(s.at("result"))) {
        return "step " + s.at("step").dump() + " (" + s.value("what", "") + ") gives " + r.to_decimal() + ", not " +
               s.at("result").get<std::string>();
      }
      results.push_back(r);
    }
  } catch (const std::exception& e) {
    return std::string("a step cannot be redone: ") + e.what();
  }
  if (results.empty()) return "its derivation has no steps";
  const auto amount = core::Money::parse(line.at("amount").get<std::string>(), currency);
  if (!amount || *amount != results.back()) {
    return "its steps end at " + results.back().to_decimal() + ", its amount is " + line.at("amount").get<std::string>();
  }
  return std::nullopt;
}

std::optional<std::string> statement_damage(const store::StatementRecord& r, bool deep) {
  if (r.document_sha256.empty() || r.chain_sha256.empty()) return "it is not chained (no document or chain hash)";
  if (core::sha256_hex(r.document) != r.document_sha256) {
    return "its document does not match its SHA-256 (the document or its hash changed after the close)";
  }
  const json doc = json::parse(r.document, nullptr, false);
  if (!doc.is_object()) return "its document is not a JSON object";
  try {
    const auto currency = core::Currency::from_code(doc.at("currency").get<std::string>());
    std::optional<core::Currency> cur = currency ? std::optional(*currency) : std::nullopt;
    auto text_column = [&](const char* column, const std::string& value, const json& in_doc) -> std::optional<std::string> {
      if (in_doc.is_string() && in_doc.get<std::string>() == value) return std::nullopt;
      return std::string("the ") + column + " column says '" + value + "', its document " + in_doc.dump();
    };
    if (auto p = text_column("contract", r.contract, doc.at("contract").at("id"))) return p;
    if (doc.at("contract").at("version") != r.version) {
      return "the version column says " + std::to_string(r.version) + ", its document " + doc.at("contract").at("version").dump();
    }
    if (auto p = text_column("period", r.period, doc.at("period").at("label"))) return p;
    if (auto p = text_column("partner", r.partner, doc.at("contract").at("partner"))) return p;
    if (auto p = text_column("period_start", core::format_rfc3339(r.period_start), doc.at("period").at("start"))) return p;
    if (auto p = text_column("currency", r.currency, doc.at("currency"))) return p;
    if (auto p = text_column("contract_sha256", r.contract_sha256, doc.at("contract").at("sha256"))) return p;
    if (auto p = text_column("input_digest", r.input_digest, doc.at("input_digest"))) return p;
    if (auto p = text_column("engine_version", r.engine_version, doc.at("engine_version"))) return p;
    if (auto p = text_column("as_of", core::format_rfc3339(r.as_of), doc.at("as_of"))) return p;
    if (doc.at("status") != "closed") return "its document's status is " + doc.at("status").dump() + ", not \"closed\"";
    if (!cur) return "its currency is unknown";
    for (const auto& [column, key, minor] : {std::tuple{"own_minor", "own", r.own_minor}, std::tuple{"total_minor", "total", r.total_minor},
                                             std::tuple{"carry_out_minor", "carry_forward_out", r.carry_out_minor}}) {
      auto m = core::Money::parse(doc.at(key).get<std::string>(), *cur);
      if (!m || m->minor_units() != minor) {
        return std::string("the ") + column + " column says " + minor_text(minor, cur) + ", its document's " + key + " " +
               doc.at(key).get<std::string>();
      }
    }
    if (!r.contract_canonical.empty() && core::sha256_hex(r.contract_canonical) != r.contract_sha256) {
      return "its contract's canonical form does not hash to the contract hash";
    }
    if (!r.approvals.empty()) {
      if (auto p = approvals_problem(r.approvals, r.contract_sha256)) return p;
    }
    if (!deep) return std::nullopt;
    if (auto p = arithmetic_problem(doc)) return "its document: " + *p;
  } catch (const json::exception& e) {
    return std::string("its document lacks a part: ") + e.what();
  }
  return std::nullopt;
}

std::optional<Finding> chain_damage(std::span<const store::StatementRecord> chain) {
  std::string previous(store::kGenesisSha256);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& r = chain[i];
    if (r.chain_seq != static_cast<std::int64_t>(i) + 1) {
      return Finding{subject_of(r), "it is #" + std::to_string(r.chain_seq) + " of the chain where #" + std::to_string(i + 1) +
                                        " was expected (a statement is missing or out of place)"};
    }
    if (r.previous_sha256 != previous) {
      return Finding{subject_of(r), i == 0 ? "the first of the chain does not start from the genesis hash"
                                           : "its previous hash is not the chain hash of " + subject_of(chain[i - 1]) +
                                                 " (a statement before it was removed, replaced or re-hashed)"};
    }
    if (store::statement_chain_sha256(r) != r.chain_sha256) {
      return Finding{subject_of(r), "its chain hash does not match its fields (document hash, closed at, closed by, approvals, "
                                    "contract text): one of them changed after the close"};
    }
    previous = r.chain_sha256;
  }
  return std::nullopt;
}

VerifyReport verify_ledger(const rules::RuleSet& rules, store::Store& store) {
  VerifyReport rep;
  const auto all = store.statements().all();
  Statements statements(rules, store);
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].contract == all[i].contract) ++j;
    const std::span<const store::StatementRecord> chain(all.data() + i, j - i);
    ++rep.contracts;
    rep.statements += static_cast<std::int64_t>(chain.size());
    bool damaged = false;
    for (const auto& r : chain) {
      if (auto d = statement_damage(r)) {
        rep.breaks.push_back({subject_of(r), *d});
        damaged = true;
      }
    }
    if (auto f = chain_damage(chain)) {
      rep.breaks.push_back(*f);
      damaged = true;
    }
    rep.heads[chain.front().contract] = chain.back().chain_sha256;
    for (const auto& r : chain) {
      if (damaged) {
        rep.not_rederived.push_back({subject_of(r), "not re-derived: its contract's chain is damaged (above)"});
        continue;
      }
      try {
        const auto again = statements.rederive(r);
        switch (again.kind) {
          case Rederived::Kind::same: ++rep.rederived; break;
          case Rederived::Kind::inputs_changed: rep.inputs_changed.push_back({subject_of(r), again.detail}); break;
          case Rederived::Kind::differs: rep.breaks.push_back({subject_of(r), again.detail}); break;
          case Rederived::Kind::not_rederived: rep.not_rederived.push_back({subject_of(r), again.detail}); break;
        }
      } catch (const LedgerDamaged& e) {
        rep.not_rederived.push_back({subject_of(r), std::string("not re-derived: ") + e.what()});
      }
    }
    i = j;
  }
  std::string previous(store::kGenesisSha256);
  std::int64_t after = 0;
  for (;;) {
    const auto page = store.audit().after(after, 1000);
    for (const auto& e : page) {
      ++rep.audit_entries;
      const std::string subject = "audit entry " + std::to_string(e.seq);
      if (e.sha256.empty()) {
        rep.breaks.push_back({subject, "it is not chained"});
      } else if (e.previous_sha256 != previous) {
        rep.breaks.push_back({subject, "its previous hash is not the hash of the entry before it (an entry was removed or "
                                       "re-hashed)"});
      } else if (store::audit_chain_sha256(e) != e.sha256) {
        rep.breaks.push_back({subject, "its content does not match its hash (it changed after it was written)"});
      }
      previous = e.sha256;
      after = e.seq;
    }
    if (page.size() < 1000) break;
  }
  rep.audit_head = rep.audit_entries > 0 ? previous : std::string();
  return rep;
}

json verify_json(const VerifyReport& r) {
  auto list = [](const std::vector<Finding>& v) {
    json out = json::array();
    for (const auto& f : v) out.push_back({{"subject", f.subject}, {"what", f.what}});
    return out;
  };
  json heads = json::object();
  for (const auto& [c, h] : r.heads) heads[c] = h;
  return json{{"verified", r.ok()},
              {"statements", r.statements},
              {"contracts", r.contracts},
              {"audit_entries", r.audit_entries},
              {"rederived", r.rederived},
              {"breaks", list(r.breaks)},
              {"inputs_changed", list(r.inputs_changed)},
              {"not_rederived", list(r.not_rederived)},
              {"heads", heads},
              {"audit_head", r.audit_head.empty() ? json(nullptr) : json(r.audit_head)},
              {"summary", verify_text(r).substr(0, verify_text(r).find('\n'))}};
}

std::string verify_text(const VerifyReport& r) {
  std::ostringstream o;
  if (r.ok()) {
    o << "verified " << r.statements << " statement(s) of " << r.contracts << " contract(s) and " << r.audit_entries
      << " audit entr" << (r.audit_entries == 1 ? "y" : "ies") << "; " << r.rederived << " re-derived to the same amounts\n";
  } else {
    o << "NOT verified: " << r.breaks.size() << " break(s); the first: " << r.breaks.front().subject << ": " << r.breaks.front().what
      << "\n";
    for (const auto& f : r.breaks) o << "  break: " << f.subject << ": " << f.what << '\n';
  }
  for (const auto& f : r.inputs_changed) o << "  inputs changed since the close (not a break): " << f.subject << ": " << f.what << '\n';
  for (const auto& f : r.not_rederived) o << "  not re-derived: " << f.subject << ": " << f.what << '\n';
  for (const auto& [c, h] : r.heads) o << "  head of " << c << ": " << h << '\n';
  if (!r.audit_head.empty()) o << "  head of the audit log: " << r.audit_head << '\n';
  return o.str();
}

std::expected<json, std::string> statement_bundle(const rules::RuleSet& rules, store::Store& store, const std::string& contract,
                                                  int version, const std::string& period) {
  const std::string missing = "no closed statement of contract '" + contract + "' v" + std::to_string(version) + " for " + period;
  const auto r = store.statements().find(contract, version, period);
  if (!r) return std::unexpected(missing);
  auto chain = store.statements().of_contract(contract);
  std::sort(chain.begin(), chain.end(), [](const auto& a, const auto& b) { return a.chain_seq < b.chain_seq; });
  json links = json::array();
  for (const auto& x : chain) {
    if (x.chain_seq > r->chain_seq) break;
    links.push_back({{"seq", std::to_string(x.chain_seq)}, {"contract", x.contract}, {"version", std::to_string(x.version)},
                     {"period", x.period}, {"closed_at", core::format_rfc3339(x.closed_at)}, {"closed_by", x.closed_by},
                     {"document_sha256", x.document_sha256}, {"approvals_sha256", sha_or_empty(x.approvals)},
                     {"contract_canonical_sha256", sha_or_empty(x.contract_canonical)}, {"previous_sha256", x.previous_sha256},
                     {"chain_sha256", x.chain_sha256}});
  }
  // The contract as closed; for a statement closed before the chain was kept (schema 9), from the
  // rules when the contract file still hashes the same.
  std::string canonical = r->contract_canonical;
  std::string approvals = r->approvals;
  std::string contract_note;
  if (canonical.empty()) {
    for (const auto& c : rules.contracts) {
      if (c.contract != contract || c.version != version || c.sha256 != r->contract_sha256) continue;
      std::ifstream in(c.file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (auto k = rules::canonical_contract(text.str(), c.file)) canonical = *k;
    }
    contract_note = canonical.empty() ? "the statement was closed before pactwatch kept the contract's text with it, and the contract "
                                        "file has changed since: its canonical form is not in the bundle"
                                      : "the statement was closed before pactwatch kept the contract's text with it: the canonical "
                                        "form is today's contract file, which still hashes the same";
  }
  json approvals_json = approvals.empty() ? json::array() : json::parse(approvals, nullptr, false);
  json out{{"format", std::string(kBundleFormat)},
           {"statement",
            {{"contract", r->contract}, {"version", r->version}, {"period", r->period}, {"partner", r->partner},
             {"closed_at", core::format_rfc3339(r->closed_at)}, {"closed_by", r->closed_by}, {"document", r->document},
             {"document_sha256", r->document_sha256}, {"approvals", approvals}, {"seq", std::to_string(r->chain_seq)},
             {"previous_sha256", r->previous_sha256}, {"chain_sha256", r->chain_sha256}}},
           {"contract",
            {{"id", r->contract}, {"version", r->version}, {"sha256", r->contract_sha256},
             {"canonical", canonical.empty() ? json(nullptr) : json(canonical)}, {"approvals", approvals_json}}},
           {"input_digest", r->input_digest},
           {"chain", links}};
  if (!contract_note.empty()) out["contract"]["note"] = contract_note;
  return out;
}

BundleCheck verify_bundle(const json& b) {
  BundleCheck out;
  auto& problems = out.problems;
  try {
    if (b.value("format", "") != kBundleFormat) {
      problems.push_back("not a statement bundle of format " + std::string(kBundleFormat));
      return out;
    }
    const auto& st = b.at("statement");
    const std::string document = st.at("document").get<std::string>();
    if (st.at("document_sha256") != core::sha256_hex(document)) problems.push_back("the document does not match its SHA-256");
    const json doc = json::parse(document, nullptr, false);
    if (!doc.is_object()) {
      problems.push_back("the document is not JSON");
      return out;
    }
    if (doc.at("status") != "closed") problems.push_back("the document is not a closed statement");
    if (doc.at("contract").at("id") != st.at("contract") || doc.at("contract").at("version") != st.at("version") ||
        doc.at("period").at("label") != st.at("period") || doc.at("contract").at("partner") != st.at("partner")) {
      problems.push_back("the document is of another contract, version, period or partner than the bundle says");
    }
    if (auto p = arithmetic_problem(doc)) problems.push_back("the document: " + *p);
    const std::string contract_sha = doc.at("contract").at("sha256").get<std::string>();
    const auto& c = b.at("contract");
    if (c.at("sha256") != contract_sha) problems.push_back("the contract hash differs from the document's");
    std::string canonical_sha;
    if (c.at("canonical").is_string()) {
      canonical_sha = core::sha256_hex(c.at("canonical").get<std::string>());
      if (canonical_sha != contract_sha) problems.push_back("the contract's canonical form does not hash to the contract hash");
    } else {
      out.notes.push_back(c.value("note", "the bundle has no contract text"));
    }
    const std::string approvals = st.at("approvals").get<std::string>();
    if (approvals.empty()) {
      out.notes.push_back("the statement was closed before pactwatch kept the approvals with it");
    } else {
      if (auto p = approvals_problem(approvals, contract_sha)) problems.push_back("the contract: " + *p);
      if (json::parse(approvals, nullptr, false) != c.at("approvals")) problems.push_back("the contract's approvals differ from the statement's");
    }
    if (b.at("input_digest") != doc.at("input_digest")) problems.push_back("the input digest differs from the document's");
    // The chain, from its first link to this statement.
    std::string previous(store::kGenesisSha256);
    const auto& links = b.at("chain");
    if (links.empty()) problems.push_back("the chain is empty");
    for (std::size_t i = 0; i < links.size(); ++i) {
      const auto& e = links[i];
      const std::string where = "chain link " + std::to_string(i + 1) + " (" + e.at("period").get<std::string>() + ")";
      if (e.at("seq") != std::to_string(i + 1)) problems.push_back(where + ": it is not #" + std::to_string(i + 1));
      if (e.at("previous_sha256") != previous) problems.push_back(where + ": its previous hash is not the link before it");
      if (e.at("chain_sha256") != core::sha256_hex(chain_text(e))) problems.push_back(where + ": its chain hash does not match its fields");
      previous = e.at("chain_sha256").get<std::string>();
    }
    if (!links.empty()) {
      const auto& last = links.back();
      const bool matches = last.at("seq") == st.at("seq") && last.at("document_sha256") == st.at("document_sha256") &&
                           last.at("chain_sha256") == st.at("chain_sha256") && last.at("previous_sha256") == st.at("previous_sha256") &&
                           last.at("closed_at") == st.at("closed_at") && last.at("closed_by") == st.at("closed_by") &&
                           last.at("contract") == st.at("contract") && last.at("period") == st.at("period") &&
                           last.at("version") == std::to_string(st.at("version").get<int>()) &&
                           last.at("approvals_sha256") == sha_or_empty(approvals) &&
                           (canonical_sha.empty() || last.at("contract_canonical_sha256") == canonical_sha);
      if (!matches) problems.push_back("the last link of the chain is not this statement");
    }
    if (out.ok()) {
      out.summary = "bundle verified: " + st.at("contract").get<std::string>() + " v" + std::to_string(st.at("version").get<int>()) +
                    " " + st.at("period").get<std::string>() + " of " + st.at("partner").get<std::string>() + ", total " +
                    doc.at("total").get<std::string>() + " " + doc.at("currency").get<std::string>() + "; #" +
                    st.at("seq").get<std::string>() + " of its contract's chain, chain hash " + st.at("chain_sha256").get<std::string>() +
                    "; every line's steps give its amount";
    }
  } catch (const json::exception& e) {
    problems.push_back(std::string("the bundle lacks a part: ") + e.what());
  }
  if (!out.ok()) out.summary = "bundle NOT verified: " + problems.front();
  return out;
}

}  // namespace pactwatch::ledger
