// `pactwatch dispute list|show|accept|reject|comment` and `pactwatch correction
// declare|list|show|withdraw|comment`: the brand's side of the partners' disputes and of its own
// corrections from the command line (docs/disputes.md). Whoever runs these has the store, so they
// act for the brand, as `cli:USER` like `contract approve`: a partner opens, comments on and
// withdraws its disputes, and accepts or rejects the brand's corrections, with its own token,
// through the API or the portal, never here.
#include <nlohmann/json.hpp>

#include <initializer_list>
#include <iostream>
#include <tuple>

#include "context.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/ledger/disputes.h"

namespace pactwatch::cli {

namespace {

using nlohmann::json;

// The dispute (or correction) `id`, or why not: none, or one of the other kind (they share a store).
std::expected<store::Dispute, std::string> find_dispute(store::Store& db, std::int64_t id, core::DisputeKind kind) {
  const std::string noun(core::to_string(kind));
  const auto d = db.disputes().get(id);
  if (!d) return std::unexpected("no " + noun + " " + std::to_string(id) + " ('" + noun + " list' shows them)");
  if (d->kind != kind) {
    return std::unexpected("no " + noun + " " + std::to_string(id) +
                           (kind == core::DisputeKind::dispute ? ": it is a correction ('correction show " + std::to_string(id) + "')"
                                                               : ": it is a dispute ('dispute show " + std::to_string(id) + "')"));
  }
  return *d;
}

ledger::Actor cli_actor(const std::string& by) { return {"cli:" + os_user(), by.empty() ? os_user() : by, "admin"}; }

std::string subject_line(const json& d) {
  if (d.value("kind", "dispute") == "correction") {
    std::string rules;
    for (const auto& r : d.at("rules")) rules += (rules.empty() ? "" : ",") + r.get<std::string>();
    return d.at("partner").get<std::string>() + " " + d.at("contract").get<std::string>() + " v" + std::to_string(d.at("version").get<int>()) +
           " " + d.at("period").get<std::string>() + " " + rules + " " + d.at("window").at("from").get<std::string>() + "/" +
           d.at("window").at("until").get<std::string>();
  }
  std::string s = d.at("partner").get<std::string>() + " " + d.at("contract").get<std::string>() + " v" +
                  std::to_string(d.at("version").get<int>()) + " " + d.at("period").get<std::string>() + " " + d.at("rule").get<std::string>();
  const auto& item = d.at("item");
  if (item.is_null()) return s + " (the whole rule)";
  return s + " " + item.at("source").get<std::string>() + "/" + item.at("kind").get<std::string>() + "/" + item.at("id").get<std::string>();
}

void print_dispute(const json& d) {
  std::cout << d.value("kind", "dispute") << " " << d.at("id").get<std::int64_t>() << ": " << d.at("state").get<std::string>() << ", "
            << d.at("category").get<std::string>() << "\n  " << subject_line(d) << "\n  opened " << d.at("opened_at").get<std::string>()
            << '\n';
  for (const auto& a : d.at("thread")) {
    std::cout << "  #" << a.at("seq").get<std::int64_t>() << " " << a.at("at").get<std::string>() << " " << a.at("party").get<std::string>()
              << " " << a.at("act").get<std::string>() << " by " << a.at("actor_name").get<std::string>() << " (" << a.at("actor").get<std::string>()
              << ")";
    if (!a.at("comment").get<std::string>().empty()) std::cout << ": " << a.at("comment").get<std::string>();
    std::cout << '\n';
  }
}

int cmd_list(const config::Config& config, const StoreArgs& s, const DisputeListArgs& a, core::DisputeKind kind) {
  if (!a.state.empty() && a.state != "open" && a.state != "accepted" && a.state != "rejected" && a.state != "withdrawn") {
    std::cerr << "pactwatch: --state '" << a.state << "': expected one of open, accepted, rejected, withdrawn\n";
    return kExitFailure;
  }
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  if (!a.partner.empty() && !o->rules.partner(a.partner)) {
    std::cerr << "pactwatch: no partner '" << a.partner << "'\n";
    return kExitFailure;
  }
  json out = json::array();
  try {
    for (const auto& d : o->db->disputes().list(a.partner)) {
      if (d.kind != kind) continue;  // disputes and corrections are listed apart
      auto j = ledger::dispute_json(d, o->db->disputes().acts_of(d.id));
      if (!a.state.empty() && j.at("state") != a.state) continue;
      out.push_back(std::move(j));
    }
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return kExitFailure;
  }
  if (a.json) {
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    return kExitOk;
  }
  if (out.empty()) std::cout << "no " << core::to_string(kind) << "\n";
  for (const auto& d : out) {
    std::cout << d.at("id").get<std::int64_t>() << "  " << d.at("state").get<std::string>() << "  " << d.at("category").get<std::string>()
              << "  " << subject_line(d) << "  opened " << d.at("opened_at").get<std::string>() << '\n';
  }
  return kExitOk;
}

int cmd_show(const config::Config& config, const StoreArgs& s, const DisputeActArgs& a, core::DisputeKind kind) {
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  try {
    const auto d = find_dispute(*o->db, a.id, kind);
    if (!d) {
      std::cerr << "pactwatch: " << d.error() << '\n';
      return kExitFailure;
    }
    const auto j = ledger::dispute_json(*d, o->db->disputes().acts_of(d->id));
    if (a.json) std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    else print_dispute(j);
    return kExitOk;
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return kExitFailure;
  }
}

int cmd_act(const config::Config& config, const StoreArgs& s, core::DisputeAct what, const DisputeActArgs& a, core::DisputeKind kind) {
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  try {
    if (auto d = find_dispute(*o->db, a.id, kind); !d) {
      std::cerr << "pactwatch: " << d.error() << "; nothing recorded\n";
      return kExitFailure;
    }
    auto stored = ledger::act_on_dispute(*o->db, o->rules, a.id, what, core::Party::brand, a.comment, cli_actor(a.by), core::SystemClock().now());
    if (!stored) {
      std::cerr << "pactwatch: " << stored.error() << "; nothing recorded\n";
      return kExitFailure;
    }
    const auto acts = o->db->disputes().acts_of(a.id);
    std::cout << core::to_string(kind) << " " << a.id << ": " << core::to_string(stored->act) << " recorded (#" << stored->seq << "); now "
              << core::to_string(core::dispute_state(acts)) << '\n';
    return kExitOk;
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << "; nothing recorded\n";
    return kExitFailure;
  }
}

int cmd_record(const config::Config& config, const StoreArgs& s, const DisputeRecordArgs& a) {
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  ledger::DisputeRequest r;
  r.subject = {a.partner, a.contract, a.version, a.period, a.rule, "", "", ""};
  if (!a.item.empty()) {
    const auto first = a.item.find('/'), second = a.item.find('/', first == std::string::npos ? first : first + 1);
    if (first == std::string::npos || second == std::string::npos || second + 1 >= a.item.size()) {
      std::cerr << "pactwatch: --item '" << a.item << "': expected SOURCE/KIND/ID (zendesk/tickets/4711); nothing recorded\n";
      return kExitFailure;
    }
    r.subject.item_source = a.item.substr(0, first);
    r.subject.item_kind = a.item.substr(first + 1, second - first - 1);
    r.subject.item_id = a.item.substr(second + 1);
  }
  const auto category = core::dispute_category_from(a.category);
  if (!category) {
    std::cerr << "pactwatch: --category '" << a.category << "': expected one of misattributed, customer_caused, brand_caused, "
                 "force_majeure, data_error, other; nothing recorded\n";
    return kExitFailure;
  }
  r.category = *category;
  r.reason = a.reason;
  // Recorded for the partner (its party), by the brand's operator who received it.
  const ledger::Actor who{"cli:" + os_user(), a.from + " (recorded by " + (a.by.empty() ? os_user() : a.by) + ")", "partner"};
  try {
    auto opened = ledger::open_dispute(*o->db, o->rules, r, who, core::SystemClock().now());
    if (!opened) {
      std::cerr << "pactwatch: " << opened.error() << "; nothing recorded\n";
      return kExitFailure;
    }
    print_dispute(ledger::dispute_json(opened->dispute, opened->acts));
    return 0;
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return kExitFailure;
  }
}

int cmd_declare(const config::Config& config, const StoreArgs& s, const CorrectionDeclareArgs& a) {
  ledger::CorrectionRequest r;
  r.partner = a.partner;
  r.contract = a.contract;
  r.version = a.version;
  r.rules = a.rules;
  r.reason = a.reason;
  for (const auto& [name, text, out] : {std::tuple{"--from", &a.from, &r.from}, std::tuple{"--until", &a.until, &r.until}}) {
    auto at = core::parse_rfc3339(*text);
    if (!at) {
      std::cerr << "pactwatch: " << name << " '" << *text << "': " << at.error() << '\n';
      return kExitFailure;
    }
    *out = *at;
  }
  const auto category = core::dispute_category_from(a.category);
  if (!category) {
    std::string names;
    for (const auto c : core::dispute_categories()) names += (names.empty() ? "" : ", ") + std::string(core::to_string(c));
    std::cerr << "pactwatch: --category '" << a.category << "': expected one of " << names << '\n';
    return kExitFailure;
  }
  r.category = *category;
  auto o = open_session(config, s);
  if (!o) return kExitFailure;
  try {
    auto declared = ledger::declare_correction(*o->db, o->rules, r, cli_actor(a.by), core::SystemClock().now());
    if (!declared) {
      std::cerr << "pactwatch: " << declared.error() << "; nothing recorded\n";
      return kExitFailure;
    }
    const auto j = ledger::dispute_json(declared->dispute, declared->acts);
    std::cout << "correction " << declared->dispute.id << ": " << j.at("state").get<std::string>() << ", " << j.at("category").get<std::string>()
              << "\n  " << subject_line(j) << '\n';
    return kExitOk;
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: " << e.what() << "; nothing recorded\n";
    return kExitFailure;
  }
}

// What one kind's commands say of it.
struct KindWords {
  core::DisputeKind kind;
  const char* list_help;
  const char* show_help;
  const char* id_help;
  const char* json_help;
};

// `list`, `show` and the brand's acts on one kind (disputes and corrections share them).
void add_read_and_act_commands(CLI::App* parent, Context& ctx, const KindWords& w,
                               std::initializer_list<std::tuple<const char*, core::DisputeAct, const char*>> verbs) {
  auto& list = ctx.hold<DisputeListArgs>();
  auto* ls = parent->add_subcommand("list", w.list_help);
  ls->add_option("--partner", list.partner, "Only this partner's");
  ls->add_option("--state", list.state, "Only those open, accepted, rejected or withdrawn");
  ls->add_flag("--json", list.json, w.json_help);
  ctx.add_store_args(ls);
  ls->callback([&ctx, &list, kind = w.kind] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_list(*c, ctx.store, list, kind) : kExitFailure;
  });

  auto& show = ctx.hold<DisputeActArgs>();
  auto* sh = parent->add_subcommand("show", w.show_help);
  sh->add_option("ID", show.id, w.id_help)->required();
  sh->add_flag("--json", show.json, "As JSON (as the API shows it)");
  ctx.add_store_args(sh);
  sh->callback([&ctx, &show, kind = w.kind] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_show(*c, ctx.store, show, kind) : kExitFailure;
  });

  for (const auto& [name, act, help] : verbs) {
    auto& args = ctx.hold<DisputeActArgs>();
    auto* sub = parent->add_subcommand(name, help);
    sub->add_option("ID", args.id, w.id_help)->required();
    sub->add_option("--comment", args.comment, "Why, or the note itself")->required();
    sub->add_option("--by", args.by, "Who acts, as recorded (default: the user running the command)");
    ctx.add_store_args(sub);
    sub->callback([&ctx, &args, act = act, kind = w.kind] {
      auto c = ctx.config_for();
      ctx.rc = c ? cmd_act(*c, ctx.store, act, args, kind) : kExitFailure;
    });
  }
}

}  // namespace

void register_dispute_commands(CLI::App& app, Context& ctx) {
  auto* dispute = app.add_subcommand("dispute", "The partners' disputes of their numbers, answered for the brand (docs/disputes.md)");
  dispute->require_subcommand(1);

  add_read_and_act_commands(
      dispute, ctx,
      {core::DisputeKind::dispute, "Every dispute (of one partner, in one state) with its subject and state",
       "One dispute: its subject, category, state and thread of acts", "Dispute id",
       "Each dispute with its thread, as JSON (as the API shows them)"},
      {{"accept", core::DisputeAct::accept, "Uphold an open dispute for the brand: the item no longer counts"},
       {"reject", core::DisputeAct::reject, "Turn an open dispute down for the brand, saying why"},
       {"comment", core::DisputeAct::comment, "Add a note to a dispute's thread for the brand"}});

  auto& rec = ctx.hold<DisputeRecordArgs>();
  auto* rc = dispute->add_subcommand("record", "Record a partner's dispute that reached the brand another way (mail, a call), "
                                               "for the partner, within the contract's terms");
  rc->add_option("--partner", rec.partner, "The partner disputing")->required();
  rc->add_option("--contract", rec.contract, "The contract")->required();
  rc->add_option("--version", rec.version, "The contract version")->required();
  rc->add_option("--period", rec.period, "The period (2026-10)")->required();
  rc->add_option("--rule", rec.rule, "The KPI, standard or obligation disputed")->required();
  rc->add_option("--item", rec.item, "SOURCE/KIND/ID of the evidence item (default: the whole rule)");
  rc->add_option("--category", rec.category, "misattributed, customer_caused, brand_caused, force_majeure, data_error or other")
      ->required();
  rc->add_option("--reason", rec.reason, "The partner's reason")->required();
  rc->add_option("--from", rec.from, "Who at the partner raised it (recorded)")->required();
  rc->add_option("--by", rec.by, "Who records it (default: the user running the command)");
  ctx.add_store_args(rc);
  rc->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_record(*c, ctx.store, rec) : kExitFailure;
  });
}

void register_correction_commands(CLI::App& app, Context& ctx) {
  auto* correction = app.add_subcommand(
      "correction", "The brand's corrections: windows whose items leave named rules once the partner accepts (docs/disputes.md)");
  correction->require_subcommand(1);

  auto& declare = ctx.hold<CorrectionDeclareArgs>();
  auto* dc = correction->add_subcommand("declare", "Declare a correction window for the brand; the partner accepts or rejects it");
  dc->add_option("--partner", declare.partner, "The partner")->required();
  dc->add_option("--contract", declare.contract, "Its contract")->required();
  dc->add_option("--version", declare.version, "The contract version")->required()->check(CLI::PositiveNumber);
  dc->add_option("--rules", declare.rules, "The KPIs, standards and obligations the window's items leave (a,b)")->required()->delimiter(',');
  dc->add_option("--from", declare.from, "Items created at or after this RFC 3339 instant")->required();
  dc->add_option("--until", declare.until, "... and before this one (at most 31 days later)")->required();
  dc->add_option("--category", declare.category, "brand_caused, force_majeure, ... (one the contract pre-agrees is accepted at once)")
      ->required();
  dc->add_option("--reason", declare.reason, "What happened (\"brand platform outage\")")->required();
  dc->add_option("--by", declare.by, "Who declares, as recorded (default: the user running the command)");
  // --rules names the rules here, so the rules directory is --rules-dir.
  dc->add_option("--rules-dir", ctx.store.rules_dir, "Rules directory instead of the config's rules_dir");
  dc->add_option("--db", ctx.store.db_url, "Database URL instead of the config's database.url");
  dc->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_declare(*c, ctx.store, declare) : kExitFailure;
  });

  add_read_and_act_commands(
      correction, ctx,
      {core::DisputeKind::correction, "Every correction (of one partner, in one state) with its rules, window and state",
       "One correction: its rules, window, category, state and thread of acts", "Correction id",
       "Each correction with its thread, as JSON (as the API shows them)"},
      {{"withdraw", core::DisputeAct::withdraw, "Take an open correction back for the brand"},
       {"comment", core::DisputeAct::comment, "Add a note to a correction's thread for the brand"}});
}

}  // namespace pactwatch::cli
