// The sources: section of the config file (docs/connectors.md): one SourceConfig per source,
// every problem reported with its position.
#include <algorithm>
#include <array>
#include <charconv>

#include "config_internal.h"
#include "pactwatch/core/time.h"

namespace pactwatch::config {

namespace {

using detail::note_position;
using detail::seconds;

constexpr std::array<std::string_view, 7> kSourceKinds{"zendesk", "jira", "servicenow", "freshdesk", "salesforce", "hubspot", "file"};

// One source's mapping under sources:, with its name for messages.
struct SourceNode {
  const YAML::Node& v;
  const std::string& where;
  YamlReport& report;

  // The key's single value ("" when absent or null; an error when not a scalar).
  [[nodiscard]] std::string scalar(const char* key) const {
    const YAML::Node x = v[key];
    if (!x || x.IsNull()) return {};
    if (!x.IsScalar()) {
      report.error(x, where + "." + key + ": expected a single value");
      return {};
    }
    return x.Scalar();
  }
};

// kind: one of kSourceKinds.
void parse_source_kind(const SourceNode& node, SourceConfig& s) {
  const YAML::Node& v = node.v;
  const std::string& where = node.where;
  YamlReport& report = node.report;
  auto scalar = [&](const char* key) { return node.scalar(key); };
  s.kind = scalar("kind");
  if (s.kind.empty()) {
    report.error(v, where + ": missing kind (one of zendesk, jira, servicenow, freshdesk, salesforce, hubspot)");
  } else if (std::find(kSourceKinds.begin(), kSourceKinds.end(), s.kind) == kSourceKinds.end()) {
    report.error(v["kind"], where + ".kind: unknown kind '" + s.kind + "' (zendesk, jira, servicenow, freshdesk, salesforce, hubspot or file)");
  }
}

// A drop directory: path and items, no URL, no auth.
void parse_file_source(const SourceNode& node, SourceConfig& s) {
  const YAML::Node& v = node.v;
  const std::string& where = node.where;
  YamlReport& report = node.report;
  auto scalar = [&](const char* key) { return node.scalar(key); };
  // A drop directory: no URL, no auth.
  s.path = scalar("path");
  s.items = scalar("items");
  if (s.path.empty() || s.path.front() != '/') report.error(v, where + ": a file source needs path, an absolute directory");
  static constexpr std::array<std::string_view, 4> kItems{"tickets", "deals", "surveys", "events"};
  if (std::find(kItems.begin(), kItems.end(), s.items) == kItems.end()) {
    report.error(v, where + ": a file source needs items: tickets, deals, surveys or events");
  }
  if (v["url"] || v["auth"]) report.error(v, where + ": a file source takes path and items, not url or auth");
  if (const std::string t = scalar("poll_interval"); !t.empty()) {
    if (auto sec = seconds(t)) s.poll_interval_s = *sec;
    else report.error(v["poll_interval"], where + ".poll_interval: expected a duration such as 30s, 5m or 1h");
  }
}

// url: the instance's base URL, without credentials.
void parse_source_url(const SourceNode& node, SourceConfig& s) {
  const YAML::Node& v = node.v;
  const std::string& where = node.where;
  YamlReport& report = node.report;
  auto scalar = [&](const char* key) { return node.scalar(key); };
  s.url = scalar("url");
  while (!s.url.empty() && s.url.back() == '/') s.url.pop_back();
  if (s.url.empty()) {
    report.error(v, where + ": missing url (the instance's base URL, e.g. https://acme.zendesk.com)");
  } else if (!s.url.starts_with("https://") && !s.url.starts_with("http://")) {
    report.error(v["url"], where + ".url: expected an http(s) URL");
  } else if (s.url.find('@') != std::string::npos) {
    report.error(v["url"], where + ".url: credentials do not go in the URL; use auth with a secret file");
  }
}

// auth: the type, the user and where the secrets are read from (never the secrets).
void parse_source_auth(const SourceNode& node, SourceConfig& s, Config& config) {
  const YAML::Node& v = node.v;
  const std::string& where = node.where;
  YamlReport& report = node.report;
  const YAML::Node auth = v["auth"];
  if (!auth || !auth.IsMap()) {
    report.error(auth ? auth.Mark() : v.Mark(), where + ".auth: expected {type: ..., user: ..., secret_file: ...}");
  } else {
    report.check_keys(auth, {"type", "user", "secret_file", "secret_credential", "refresh_token_file",
                             "refresh_token_credential", "token_url"},
                      where + ".auth");
    auto a = [&](const char* key) { return auth[key] && auth[key].IsScalar() ? auth[key].Scalar() : std::string(); };
    s.auth = a("type");
    s.user = a("user");
    s.secret = {a("secret_file"), a("secret_credential")};
    s.refresh_token = {a("refresh_token_file"), a("refresh_token_credential")};
    for (const char* key : {"secret_file", "secret_credential", "refresh_token_file", "refresh_token_credential"}) {
      if (auth[key]) note_position(config, where + ".auth." + key, auth[key]);
    }
    s.token_url = a("token_url");
    static constexpr std::array<std::string_view, 5> kAuth{"basic", "token", "bearer", "api_key", "oauth"};
    if (std::find(kAuth.begin(), kAuth.end(), s.auth) == kAuth.end()) {
      report.error(auth, where + ".auth.type: expected basic, token, bearer, api_key or oauth");
    }
    if (s.secret.empty()) report.error(auth, where + ".auth: needs secret_file or secret_credential (never the secret itself)");
    if (!s.secret.file.empty() && !s.secret.credential.empty()) report.error(auth, where + ".auth: set secret_file or secret_credential, not both");
    if ((s.auth == "basic" || s.auth == "token" || s.auth == "oauth") && s.user.empty()) {
      report.error(auth, where + ".auth: type " + s.auth + " needs user");
    }
    if (auth["secret"] || auth["password"] || auth["token"]) {
      report.error(auth, where + ".auth: secrets are read from files or credentials, never written in the config");
    }
  }
}

// Polling, timeouts, budgets and retries, TLS, the first sync's start and the connector's options.
void parse_source_limits(const SourceNode& node, SourceConfig& s) {
  const YAML::Node& v = node.v;
  const std::string& where = node.where;
  YamlReport& report = node.report;
  auto scalar = [&](const char* key) { return node.scalar(key); };
  auto dur = [&](const char* key, std::int64_t& out) {
    const std::string t = scalar(key);
    if (t.empty()) return;
    if (auto sec = seconds(t)) out = *sec;
    else report.error(v[key], where + "." + key + ": expected a duration such as 30s, 5m or 1h");
  };
  dur("poll_interval", s.poll_interval_s);
  dur("connect_timeout", s.connect_timeout_s);
  dur("timeout", s.timeout_s);
  auto integer = [&](const char* key, int& out, int lo, int hi) {
    const std::string t = scalar(key);
    if (t.empty()) return;
    int n = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || ptr != t.data() + t.size() || n < lo || n > hi) {
      report.error(v[key], where + "." + key + ": expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    } else {
      out = n;
    }
  };
  integer("page_size", s.page_size, 1, 10000);
  integer("requests_per_minute", s.requests_per_minute, 0, 100000);
  integer("max_retries", s.max_retries, 0, 50);
  if (const std::string t = scalar("verify_tls"); !t.empty()) {
    if (t == "true") s.verify_tls = true;
    else if (t == "false") s.verify_tls = false;
    else report.error(v["verify_tls"], where + ".verify_tls: expected true or false");
  }
  s.since = scalar("since");
  if (!s.since.empty()) {
    if (auto t = core::parse_rfc3339(s.since); !t) report.error(v["since"], where + ".since: " + t.error());
  }
  if (const YAML::Node o = v["options"]) {
    if (!o.IsMap()) {
      report.error(o, where + ".options: expected a mapping");
    } else {
      for (const auto& opt : o) {
        const YAML::Node ov = opt.second;
        if (!ov.IsScalar()) report.error(ov, where + ".options." + opt.first.Scalar() + ": expected a single value");
        else s.options.emplace_back(opt.first.Scalar(), ov.Scalar());
      }
    }
  }
}

}  // namespace

std::span<const std::string_view> source_kinds() { return kSourceKinds; }

void detail::parse_sources(const YAML::Node& node, Config& config, YamlReport& report) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    report.error(node, "sources: expected a mapping of source names to their settings (see docs/connectors.md)");
    return;
  }
  for (const auto& kv : node) {
    SourceConfig s;
    s.name = kv.first.Scalar();
    const YAML::Node v = kv.second;
    s.line = kv.first.Mark().line + 1;
    const std::string where = "sources." + s.name;
    const bool slug = !s.name.empty() && std::all_of(s.name.begin(), s.name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
    if (!slug) report.error(kv.first, where + ": a source name is lower-case letters, digits, '-' and '_'");
    if (!v.IsMap()) {
      report.error(v, where + ": expected a mapping with kind, url and auth");
      continue;
    }
    report.check_keys(v, {"kind", "url", "path", "items", "auth", "poll_interval", "page_size", "connect_timeout", "timeout",
                          "requests_per_minute", "max_retries", "verify_tls", "since", "options"},
                      where);
    const SourceNode source{v, where, report};
    parse_source_kind(source, s);
    if (s.kind == "file") {
      parse_file_source(source, s);
      config.sources.push_back(std::move(s));
      continue;
    }
    parse_source_url(source, s);
    parse_source_auth(source, s, config);
    parse_source_limits(source, s);
    config.sources.push_back(std::move(s));
  }
}
}  // namespace pactwatch::config
