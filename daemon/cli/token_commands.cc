// `pactwatch token create|list|revoke`: API tokens (see docs/api.md). The token text is printed
// once, on create, and never stored; changes are written to the audit log.
#include <unistd.h>

#include <iostream>

#include "context.h"
#include "pactwatch/api/tokens.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/rule_set.h"

namespace pactwatch::cli {

namespace {

std::string cli_user() {
  const char* u = getenv("USER");
  return std::string("cli ") + (u ? u : "unknown");
}

std::string role_list() {
  std::string out;
  for (const auto r : api::kRoles) out += (out.empty() ? "" : ", ") + std::string(r);
  return out;
}

}  // namespace

int cmd_token_create(const config::Config& config, const StoreArgs& st, const TokenArgs& a) {
  if (!api::known_role(a.role)) {
    std::cerr << "pactwatch: --role " << a.role << ": expected " << role_list() << '\n';
    return 2;
  }
  if (a.role == "partner" && a.partner.empty()) {
    std::cerr << "pactwatch: a partner token names its partner: --partner ID\n";
    return 2;
  }
  if (a.role != "partner" && !a.partner.empty()) {
    std::cerr << "pactwatch: --partner is for partner tokens only (a " << a.role << " token sees every partner)\n";
    return 2;
  }
  std::optional<core::Instant> expires;
  const core::SystemClock clock;
  const auto now = clock.now();
  if (!a.expires.empty() && a.expires != "never") {
    auto life = api::parse_lifetime(a.expires);
    if (!life) {
      std::cerr << "pactwatch: --expires " << a.expires << ": expected a lifetime such as 90d, 12h or 30m, or never\n";
      return 2;
    }
    expires = now + std::chrono::duration_cast<core::Duration>(*life);
  }
  if (!a.partner.empty()) {
    const std::string dir = st.rules_dir.empty() ? config.rules_dir : st.rules_dir;
    auto rules = rules::load_rule_set(dir);
    if (!rules) {
      std::cerr << dir << ": the rules are invalid; run 'pactwatch check'\n";
      return 1;
    }
    if (!rules->partner(a.partner)) {
      std::cerr << "pactwatch: no partner '" << a.partner << "' in " << dir << "/partners.yaml\n";
      return 1;
    }
  }
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const std::string name = a.name.empty() ? (a.partner.empty() ? a.role : a.partner) : a.name;
  auto issued = api::issue_token(a.role, a.partner.empty() ? std::nullopt : std::optional(a.partner), name, expires, now);
  try {
    db->tokens().create(issued.record, 2, now);
    db->audit().append({0, now, cli_user(), "admin", "token.create", issued.record.id + " " + a.role + (a.partner.empty() ? "" : " " + a.partner), "ok"});
  } catch (const store::TokenLimit& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return 1;
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  std::cerr << "created " << issued.record.id << " (" << a.role << (a.partner.empty() ? "" : ", partner " + a.partner) << ", "
            << (expires ? "expires " + core::format_rfc3339(*expires) : std::string("no expiry"))
            << "); the token is shown only now:\n";
  std::cout << issued.text << '\n';
  return 0;
}

int cmd_token_list(const config::Config& config, const StoreArgs& st) {
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const core::SystemClock clock;
  const auto now = clock.now();
  try {
    const auto tokens = db->tokens().all();
    if (tokens.empty()) std::cout << "no tokens; create one with 'pactwatch token create --role ROLE'\n";
    for (const auto& t : tokens) {
      std::string state = t.revoked_at ? "revoked " + core::format_rfc3339(*t.revoked_at)
                          : !t.live_at(now) ? "expired"
                          : t.expires_at   ? "live until " + core::format_rfc3339(*t.expires_at)
                                           : "live";
      std::cout << t.id << "  " << t.role << "  " << (t.partner ? *t.partner : "-") << "  " << t.name << "  created "
                << core::format_rfc3339(t.created_at) << "  " << state << '\n';
    }
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  return 0;
}

int cmd_token_revoke(const config::Config& config, const StoreArgs& st, const std::string& id) {
  auto db = open_store(config, st.db_url, true);
  if (!db) return 1;
  const core::SystemClock clock;
  try {
    if (!db->tokens().revoke(id, clock.now())) {
      std::cerr << "pactwatch: no live token '" << id << "' (see 'pactwatch token list')\n";
      return 1;
    }
    db->audit().append({0, clock.now(), cli_user(), "admin", "token.revoke", id, "ok"});
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  std::cout << "revoked " << id << " (running daemons stop accepting it within 5 s)\n";
  return 0;
}

void register_token_commands(CLI::App& app, Context& ctx) {
  // API tokens.
  auto& token_args = ctx.hold<TokenArgs>();
  auto& token_id = ctx.hold<std::string>();
  auto* token = app.add_subcommand("token", "API tokens for finance, admins and partners (see docs/api.md)");
  token->require_subcommand(1);
  auto* tk_create = token->add_subcommand("create", "Create a token and print it once (only its SHA-256 is stored)");
  tk_create->add_option("--role", token_args.role, role_list())->required()
      ->check(CLI::IsMember(std::vector<std::string>(api::kRoles.begin(), api::kRoles.end())));
  tk_create->add_option("--partner", token_args.partner, "The partner a partner token belongs to");
  tk_create->add_option("--expires", token_args.expires, "Lifetime: 90d, 12h, 30m, or never")->capture_default_str();
  tk_create->add_option("--name", token_args.name, "A name to recognise it by (default: the partner or role)");
  ctx.add_store_args(tk_create);
  tk_create->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_token_create(*c, ctx.store, token_args) : kExitFailure;
  });
  auto* tk_list = token->add_subcommand("list", "Every token: id, role, partner, name, created, state");
  ctx.add_store_args(tk_list);
  tk_list->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_token_list(*c, ctx.store) : kExitFailure;
  });
  auto* tk_revoke = token->add_subcommand("revoke", "Revoke a token by its id (tok_...)");
  tk_revoke->add_option("ID", token_id, "The token's id from token list")->required();
  ctx.add_store_args(tk_revoke);
  tk_revoke->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_token_revoke(*c, ctx.store, token_id) : kExitFailure;
  });
}

}  // namespace pactwatch::cli
