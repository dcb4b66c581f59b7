// The demo data set in a migrated store, as the API and portal tests start from it: the rule
// set's partners, the four item files of demo/items imported, and every contract evaluated once.
#pragma once

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/sources/import.h"
#include "pactwatch/store/store.h"

namespace pactwatch::testutils {

inline void load_demo(store::Store& db, const rules::RuleSet& rules, const std::string& source_dir, core::Instant now) {
  std::vector<store::Partner> partners;
  for (const auto& p : rules.partners) partners.push_back({p.id, p.name, p.kind, p.tier, true});
  db.partners().sync(partners, now);
  for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
    std::ifstream in(source_dir + "/demo/items/" + kind + ".ndjson");
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    sources::ImportOptions o;
    o.kind = kind;
    auto parsed = sources::parse_import(text, kind, o, rules.partners);
    if (!parsed.bad_lines.empty()) throw std::runtime_error(std::string("bad lines in the demo's ") + kind);
    db.items().upsert(parsed.items);
  }
  app::EvaluationRunner runner(rules, db);
  runner.run_full(now, now);
}

}  // namespace pactwatch::testutils
