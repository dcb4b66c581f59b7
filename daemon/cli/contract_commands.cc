// `pactwatch contract status|propose|approve|reject|withdraw|comment|adopt`: the brand's side of a
// contract version's lifecycle from the command line (docs/rules.md, "From proposal to
// enforcement"). Whoever runs these has the store, so they act for the brand: a partner approves
// with its own token through the API, never here. `contract record|verify|public-key`: the signed
// agreement record of an agreed version, and its offline check (docs/rules.md, "The agreement
// record").
#include <nlohmann/json.hpp>

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "context.h"
#include "pactwatch/app/instance.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/ledger/agreement_record.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/rules/approvals.h"

namespace pactwatch::cli {

std::string os_user() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  return "uid" + std::to_string(::geteuid());
}

namespace {

using nlohmann::json;

struct ActArgs {
  std::string contract;
  int version = 0;
  std::string sha256;
  std::string comment;
  std::string by;
  bool request_changes = false;
};

struct StatusArgs {
  std::string contract;
  std::string format = "text";
};

struct AdoptArgs {
  std::string contract;
  int version = 0;
  bool all = false;
  std::string vouched_by;
};

struct RecordArgs {
  std::string contract;
  int version = 0;
  std::string out;  // stdout when empty
};

struct VerifyArgs {
  std::string file;
  std::string public_key;  // PEM file of the key the record must be signed by; any key when empty
};

ledger::Actor cli_actor(const std::string& by) {
  return {"cli:" + os_user(), by.empty() ? os_user() : by, "admin"};
}


int cmd_act(const config::Config& config, const StoreArgs& s, core::ContractAct what, const ActArgs& a) {
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  core::ContractAction act;
  act.contract = a.contract;
  act.version = a.version;
  act.sha256 = a.sha256;
  act.party = core::Party::brand;
  act.act = what == core::ContractAct::reject && a.request_changes ? core::ContractAct::request_changes : what;
  act.comment = a.comment;
  try {
    auto stored = ledger::record_act(*o->db, o->rules, act, cli_actor(a.by), core::SystemClock().now());
    if (!stored) {
      std::cerr << "pactwatch: " << stored.error() << "; nothing recorded\n";
      return kExitFailure;
    }
    // Where the version stands now.
    auto after = std::move(o->rules);
    if (!enforce_recorded_or_report(after, *o->db)) return kExitFailure;
    const auto* v = *rules::find_version(after, a.contract, a.version);
    std::cout << a.contract << " v" << a.version << ": " << core::to_string(stored->act) << " recorded (#" << stored->seq
              << "); now " << core::to_string(v->agreement->state) << (v->enforced ? ", enforced" : "") << '\n';
    return kExitOk;
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << "; nothing recorded\n";
    return kExitFailure;
  }
}

int cmd_status(const config::Config& config, const StoreArgs& s, const StatusArgs& a) {
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  std::vector<core::ContractAction> acts;
  try {
    acts = o->db->agreements().all();
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return kExitFailure;
  }
  json out = json::array();
  bool found = a.contract.empty();
  for (const auto& v : o->rules.contracts) {
    if (!a.contract.empty() && v.contract != a.contract) continue;
    found = true;
    json j = {{"contract", v.contract},
              {"version", v.version},
              {"partner", v.partner},
              {"sha256", v.sha256},
              {"state", core::to_string(v.agreement->state)},
              {"enforced", v.enforced},
              {"note", v.status_note},
              {"acts", json::array()},
              {"unverified_file_approvals", json::array()}};
    for (const auto& act : rules::acts_on(v, acts)) j["acts"].push_back(ledger::act_json(act));
    for (const auto& u : v.unverified_approvals) {
      j["unverified_file_approvals"].push_back(
          {{"party", u.party}, {"by", u.by}, {"at", core::format_rfc3339(u.at)}, {"sha256", u.sha256}});
    }
    out.push_back(std::move(j));
  }
  if (!found) {
    std::cerr << "pactwatch: no contract '" << a.contract << "' in " << o->rules.dir.string() << '\n';
    return kExitFailure;
  }
  if (a.format == "json") {
    std::cout << out.dump(2) << '\n';
    return kExitOk;
  }
  for (const auto& j : out) {
    std::cout << j["contract"].get<std::string>() << " v" << j["version"] << " (" << j["partner"].get<std::string>()
              << "): " << j["state"].get<std::string>() << (j["enforced"].get<bool>() ? ", enforced" : "") << " — "
              << j["note"].get<std::string>() << "\n  sha256 " << j["sha256"].get<std::string>() << '\n';
    for (const auto& act : j["acts"]) {
      std::cout << "  #" << act["seq"] << " " << act["at"].get<std::string>() << "  " << act["party"].get<std::string>() << " "
                << act["act"].get<std::string>() << " by " << act["actor_name"].get<std::string>() << " ("
                << act["actor"].get<std::string>() << ")";
      if (!act["comment"].get<std::string>().empty()) std::cout << ": " << act["comment"].get<std::string>();
      std::cout << '\n';
    }
    for (const auto& u : j["unverified_file_approvals"]) {
      std::cout << "  unverified: the file's " << u["party"].get<std::string>() << " approval by " << u["by"].get<std::string>()
                << " is not recorded and enforces nothing\n";
    }
  }
  return kExitOk;
}

int cmd_adopt(const config::Config& config, const StoreArgs& s, const AdoptArgs& a) {
  if (a.all == !a.contract.empty()) {
    std::cerr << "pactwatch: name one version (CONTRACT VERSION) or --all\n";
    return kExitUsage;
  }
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  const auto who = cli_actor("");
  int failures = 0, adopted = 0;
  try {
    for (const auto& v : o->rules.contracts) {
      if (!a.all && (v.contract != a.contract || v.version != a.version)) continue;
      if (a.all && v.approvals.empty()) continue;  // nothing claimed in the file
      auto r = ledger::adopt_file_approvals(*o->db, o->rules, v, a.vouched_by, who, core::SystemClock().now());
      if (!r) {
        // With --all, a file that does not claim both approvals, or a version acted on already,
        // is passed over with the reason; named, it fails.
        const bool incomplete = r.error().find("nothing to adopt") != std::string::npos ||
                                r.error().find("nothing adopted") != std::string::npos;
        if (a.all && incomplete) {
          std::cout << "skipped " << r.error() << '\n';
          continue;
        }
        std::cerr << "pactwatch: " << r.error() << '\n';
        ++failures;
        continue;
      }
      if (r->empty()) {
        std::cout << v.contract << " v" << v.version << ": both approvals already recorded\n";
        continue;
      }
      ++adopted;
      std::cout << v.contract << " v" << v.version << ": recorded";
      for (const auto& act : *r) std::cout << " " << core::to_string(act.party) << " " << core::to_string(act.act);
      std::cout << " (vouched for by " << a.vouched_by << ")\n";
    }
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return kExitFailure;
  }
  if (!a.all && adopted == 0 && failures == 0) {
    if (auto v = rules::find_version(o->rules, a.contract, a.version); !v) {
      std::cerr << "pactwatch: " << v.error() << '\n';
      return kExitFailure;
    }
  }
  return failures == 0 ? kExitOk : kExitFailure;
}

std::expected<ledger::SigningKey, std::string> installation_key(const config::Config& config) {
  auto path = app::signing_key_path(config);
  if (!path) return std::unexpected(path.error());
  return ledger::SigningKey::load_or_create(*path);
}

std::optional<std::string> read_text(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

int cmd_record(const config::Config& config, const StoreArgs& s, const RecordArgs& a) {
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  auto v = rules::find_version(o->rules, a.contract, a.version);
  if (!v) {
    std::cerr << "pactwatch: " << v.error() << '\n';
    return kExitFailure;
  }
  std::vector<core::ContractAction> acts;
  try {
    acts = o->db->agreements().of(a.contract);
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: cannot read the recorded acts: " << e.what() << '\n';
    return kExitFailure;
  }
  auto body = ledger::agreement_record(**v, acts, core::SystemClock().now());
  if (!body) {
    std::cerr << "pactwatch: no agreement record: " << body.error() << '\n';
    return kExitFailure;
  }
  auto key = installation_key(config);
  if (!key) {
    std::cerr << "pactwatch: " << key.error() << '\n';
    return kExitFailure;
  }
  const std::string document = ledger::signed_agreement(*body, *key);
  if (a.out.empty()) {
    std::cout << document;
    return kExitOk;
  }
  std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
  out << document;
  out.close();
  if (!out) {
    std::cerr << "pactwatch: cannot write " << a.out << '\n';
    return kExitFailure;
  }
  std::cerr << a.out << ": agreement record of " << a.contract << " v" << a.version << ", signed by key " << key->key_id()
            << '\n';
  return kExitOk;
}

int cmd_verify(const VerifyArgs& a) {
  const auto document = read_text(a.file);
  if (!document) {
    std::cerr << "pactwatch: cannot read " << a.file << '\n';
    return kExitFailure;
  }
  std::optional<std::string> expected;
  if (!a.public_key.empty()) {
    expected = read_text(a.public_key);
    if (!expected) {
      std::cerr << "pactwatch: cannot read " << a.public_key << '\n';
      return kExitFailure;
    }
  }
  auto r = ledger::verify_agreement(*document, expected);
  if (!r) {
    std::cerr << "pactwatch: invalid agreement record: " << r.error() << '\n';
    return kExitFailure;
  }
  std::cout << "valid: " << r->contract << " v" << r->version << " sha256 " << r->sha256 << ", signed by key " << r->key_id
            << '\n';
  for (const auto& line : r->approvals) std::cout << "  " << line << '\n';
  if (!expected) {
    std::cout << "  (any key: give --public-key with the installation's public key to check whose key it is)\n";
  }
  return kExitOk;
}

int cmd_public_key(const config::Config& config) {
  auto key = installation_key(config);
  if (!key) {
    std::cerr << "pactwatch: " << key.error() << '\n';
    return kExitFailure;
  }
  std::cout << key->public_key_pem();
  return kExitOk;
}

}  // namespace

void register_contract_lifecycle(CLI::App* contract, Context& ctx) {
  auto& status = ctx.hold<StatusArgs>();
  auto* st = contract->add_subcommand("status", "Each contract version's state from the recorded acts: proposed, approved by "
                                                "one side, agreed, rejected, ...; the acts; file approvals nothing backs");
  st->add_option("CONTRACT", status.contract, "Only this contract");
  st->add_option("--format", status.format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  ctx.add_store_args(st);
  st->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_status(*c, ctx.store, status) : kExitFailure;
  });

  struct Verb {
    const char* name;
    core::ContractAct act;
    const char* help;
  };
  for (const Verb& verb : {Verb{"propose", core::ContractAct::propose, "Show a version to its partner for review (brand)"},
                           Verb{"approve", core::ContractAct::approve,
                                "Approve a version's exact content for the brand (--sha256 from 'contract hash')"},
                           Verb{"reject", core::ContractAct::reject, "Reject a proposal for the brand, saying why"},
                           Verb{"withdraw", core::ContractAct::withdraw, "Take the brand's proposal back"},
                           Verb{"comment", core::ContractAct::comment, "Add a note to a proposal's thread"}}) {
    auto& args = ctx.hold<ActArgs>();
    auto* sub = contract->add_subcommand(verb.name, verb.help);
    sub->add_option("CONTRACT", args.contract, "Contract id")->required();
    sub->add_option("VERSION", args.version, "Version number")->required();
    if (verb.act == core::ContractAct::approve) {
      sub->add_option("--sha256", args.sha256, "The content approved: must be the version's current hash")->required();
    }
    auto* comment = sub->add_option("--comment", args.comment, "Why, or the note itself");
    if (verb.act == core::ContractAct::reject || verb.act == core::ContractAct::comment) comment->required();
    if (verb.act == core::ContractAct::reject) {
      sub->add_flag("--request-changes", args.request_changes, "Ask for another version instead of rejecting outright");
    }
    sub->add_option("--by", args.by, "Who acts, as recorded (default: $USER)");
    ctx.add_store_args(sub);
    sub->callback([&ctx, &args, act = verb.act] {
      auto c = ctx.config_for();
      ctx.rc = c ? cmd_act(*c, ctx.store, act, args) : kExitFailure;
    });
  }

  auto& adopt = ctx.hold<AdoptArgs>();
  auto* ad = contract->add_subcommand(
      "adopt", "Record once the approvals a contract file's approvals block claims, vouched for by someone who checked them");
  ad->add_option("CONTRACT", adopt.contract, "Contract id");
  ad->add_option("VERSION", adopt.version, "Version number");
  ad->add_flag("--all", adopt.all, "Every version whose file claims approvals");
  ad->add_option("--vouched-by", adopt.vouched_by, "Who vouches that both parties approved (recorded)")->required();
  ctx.add_store_args(ad);
  ad->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_adopt(*c, ctx.store, adopt) : kExitFailure;
  });

  auto& record = ctx.hold<RecordArgs>();
  auto* rec = contract->add_subcommand(
      "record", "Write the signed agreement record of an agreed version: its content, both approvals and every act");
  rec->add_option("CONTRACT", record.contract, "Contract id")->required();
  rec->add_option("VERSION", record.version, "Version number")->required();
  rec->add_option("--out", record.out, "Write to this file instead of standard output");
  ctx.add_store_args(rec);
  rec->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_record(*c, ctx.store, record) : kExitFailure;
  });

  auto& verify = ctx.hold<VerifyArgs>();
  auto* ver = contract->add_subcommand(
      "verify", "Check an agreement record offline: its signature, its content hash and both approvals; exit 0 when valid");
  ver->add_option("FILE", verify.file, "The agreement record")->required();
  ver->add_option("--public-key", verify.public_key, "PEM file of the public key it must be signed by ('contract public-key')");
  ver->callback([&] { ctx.rc = cmd_verify(verify); });

  auto* pub = contract->add_subcommand(
      "public-key", "Print the public key that signs this installation's agreement records (made on first use)");
  pub->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_public_key(*c) : kExitFailure;
  });
}

}  // namespace pactwatch::cli
