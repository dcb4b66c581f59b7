#include "pactwatch/config/config.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include <unistd.h>

#include "pactwatch/config/yaml_check.h"
#include "pactwatch/core/events.h"
#include "pactwatch/core/time.h"
#include "config_internal.h"

namespace pactwatch::config {

namespace {

using detail::note_position;
using detail::parse_sources;
using detail::seconds;

using Result = std::expected<void, std::string>;

Result apply_listen(Config& c, std::string_view v) {
  std::string_view host;
  std::string_view port;
  if (!v.empty() && v.front() == '[') {  // [::1]:8080
    auto close = v.find(']');
    if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != ':') {
      return std::unexpected("expected [IPv6]:port, e.g. [::1]:8080");
    }
    host = v.substr(1, close - 1);
    port = v.substr(close + 2);
  } else {
    auto colon = v.rfind(':');
    if (colon == std::string_view::npos) return std::unexpected("expected host:port, e.g. 127.0.0.1:8080");
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
  }
  if (host.empty()) return std::unexpected("missing host in '" + std::string(v) + "' (use 0.0.0.0 for all addresses)");
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
    return std::unexpected("port '" + std::string(port) + "' must be a number from 1 to 65535");
  }
  c.listen_host = std::string(host);
  c.listen_port = static_cast<std::uint16_t>(value);
  return {};
}

Result apply_database_url(Config& c, std::string_view v) {
  if (v.starts_with("sqlite://")) {
    if (v.size() == std::string_view("sqlite://").size()) return std::unexpected("sqlite URL needs a file path, e.g. sqlite:///var/lib/pactwatch/pactwatch.db");
  } else if (v.starts_with("postgresql://") || v.starts_with("postgres://")) {
    auto rest = v.substr(v.find("://") + 3);
    auto at = rest.find('@');
    auto userinfo = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at);
    if (userinfo.find(':') != std::string_view::npos) {
      return std::unexpected(
          "the URL contains a password; put it in database.password_file or database.password_credential instead");
    }
  } else {
    return std::unexpected("unsupported database URL '" + std::string(v) +
                           "' (expected sqlite:///path/to/file.db or postgresql://user@host:port/db)");
  }
  c.database_url = std::string(v);
  return {};
}

Result apply_password_file(Config& c, std::string_view v) {
  if (!v.empty() && v.front() != '/') return std::unexpected("must be an absolute path");
  c.database_password.file = std::string(v);
  return {};
}

Result apply_password_credential(Config& c, std::string_view v) {
  if (v.find('/') != std::string_view::npos) return std::unexpected("a credential name must not contain '/'");
  c.database_password.credential = std::string(v);
  return {};
}

Result apply_pool_size(Config& c, std::string_view v) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
  if (ec != std::errc() || ptr != v.data() + v.size() || value < 1 || value > 256) {
    return std::unexpected("must be an integer from 1 to 256");
  }
  c.database_pool_size = value;
  return {};
}


Result apply_full_interval(Config& c, std::string_view v) {
  auto s = seconds(v);
  if (!s || *s < 10) return std::unexpected("expected a duration of at least 10s, such as 15m");
  c.full_evaluation_interval_s = *s;
  return {};
}

// A size in bytes: a whole number with an optional unit (KiB, MiB, GiB; 0 alone).
Result apply_memory_budget(Config& c, std::string_view v) {
  constexpr const char* expected = "expected a size from 0 to 1024GiB, such as 512MiB (KiB, MiB or GiB; 0 keeps nothing)";
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || ptr == v.data()) return std::unexpected(expected);
  const std::string_view unit(ptr, static_cast<std::size_t>(v.data() + v.size() - ptr));
  std::uint64_t scale = 0;
  if (unit == "KiB") scale = 1ULL << 10;
  else if (unit == "MiB") scale = 1ULL << 20;
  else if (unit == "GiB") scale = 1ULL << 30;
  else if (unit.empty() && n == 0) scale = 1;
  if (scale == 0 || n > (1024ULL << 30) / scale) return std::unexpected(expected);
  c.evaluation_memory_budget = n * scale;
  return {};
}

Result apply_rules_dir(Config& c, std::string_view v) {
  if (v.empty()) return std::unexpected("must not be empty");
  c.rules_dir = std::string(v);
  return {};
}

Result apply_log_level(Config& c, std::string_view v) {
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (v == l) {
      c.log_level = std::string(v);
      return {};
    }
  }
  return std::unexpected("unknown log level '" + std::string(v) +
                         "' (expected trace, debug, info, warn, error, critical or off)");
}

Result apply_log_format(Config& c, std::string_view v) {
  if (v == "text") c.log_format = LogFormat::text;
  else if (v == "json") c.log_format = LogFormat::json;
  else return std::unexpected("unknown log format '" + std::string(v) + "' (expected text or json)");
  return {};
}

Result apply_tls_file(std::string& out, std::string_view v) {
  if (!v.empty() && v.front() != '/') return std::unexpected("must be an absolute path");
  out = std::string(v);
  return {};
}
Result apply_tls_cert(Config& c, std::string_view v) { return apply_tls_file(c.api_tls_cert, v); }
Result apply_tls_key(Config& c, std::string_view v) { return apply_tls_file(c.api_tls_key, v); }

Result apply_int_in(int& out, std::string_view v, int low, int high) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
  if (ec != std::errc() || ptr != v.data() + v.size() || value < low || value > high) {
    return std::unexpected("must be an integer from " + std::to_string(low) + " to " + std::to_string(high));
  }
  out = value;
  return {};
}
Result apply_rate(Config& c, std::string_view v) { return apply_int_in(c.api_rate_per_second, v, 0, 1000000); }
Result apply_burst(Config& c, std::string_view v) { return apply_int_in(c.api_rate_burst, v, 1, 1000000); }
Result apply_page_size(Config& c, std::string_view v) { return apply_int_in(c.api_max_page_size, v, 1, 10000); }
Result apply_instance(Config& c, std::string_view v) {
  if (v.size() > 200) return std::unexpected("must be at most 200 characters");
  c.cluster_instance = std::string(v);
  return {};
}
Result apply_lease_ttl(Config& c, std::string_view v) {
  auto s = seconds(v);
  if (!s || *s < 2 || *s > 3600) return std::unexpected("expected a duration from 2s to 1h, such as 45s");
  c.cluster_lease_ttl_s = *s;
  return {};
}
Result apply_shards(Config& c, std::string_view v) { return apply_int_in(c.cluster_shards, v, 1, 4096); }
Result apply_signing_key(Config& c, std::string_view v) {
  if (!v.empty() && v.front() != '/') return std::unexpected("must be an absolute path");
  c.agreements_signing_key = std::string(v);
  return {};
}
// A duration in seconds up to `high`, where 0 (or 0s) is allowed and means "off".
Result apply_seconds_or_zero(std::int64_t& out, std::string_view v, std::int64_t high, const char* expected) {
  if (v == "0" || v == "0s") {
    out = 0;
    return {};
  }
  auto s = seconds(v);
  if (!s || *s < 0 || *s > high) return std::unexpected(expected);
  out = *s;
  return {};
}
Result apply_statement_timeout(Config& c, std::string_view v) {
  return apply_seconds_or_zero(c.database_statement_timeout_s, v, 86400,
                               "expected a duration from 1s to 24h (or 0s for no limit), such as 30s");
}
Result apply_standing_cache(Config& c, std::string_view v) {
  return apply_seconds_or_zero(c.api_standing_cache_s, v, 300, "expected a duration from 0s to 5m, such as 1s");
}
Result apply_history_cache(Config& c, std::string_view v) {
  return apply_seconds_or_zero(c.api_history_cache_s, v, 3600, "expected a duration from 0s to 1h, such as 5m");
}
Result apply_seconds_in(std::int64_t& out, std::string_view v, std::int64_t low, std::int64_t high, const char* expected) {
  auto s = seconds(v);
  if (!s || *s < low || *s > high) return std::unexpected(expected);
  out = *s;
  return {};
}
Result apply_idle_timeout(Config& c, std::string_view v) {
  return apply_seconds_in(c.api_idle_timeout_s, v, 1, 3600, "expected a duration from 1s to 1h, such as 60s");
}
Result apply_header_timeout(Config& c, std::string_view v) {
  return apply_seconds_in(c.api_header_timeout_s, v, 1, 600, "expected a duration from 1s to 10m, such as 10s");
}
Result apply_body_timeout(Config& c, std::string_view v) {
  return apply_seconds_in(c.api_body_timeout_s, v, 1, 3600, "expected a duration from 1s to 1h, such as 30s");
}
Result apply_write_timeout(Config& c, std::string_view v) {
  return apply_seconds_in(c.api_write_timeout_s, v, 1, 3600, "expected a duration from 1s to 1h, such as 30s");
}
Result apply_max_connections(Config& c, std::string_view v) { return apply_int_in(c.api_max_connections, v, 1, 1000000); }
Result apply_max_client_connections(Config& c, std::string_view v) {
  return apply_int_in(c.api_max_client_connections, v, 1, 1000000);
}
Result apply_workers(Config& c, std::string_view v) { return apply_int_in(c.api_workers, v, 1, 256); }

// The one table of settings: defaults, validation and documentation.
constexpr std::array<Setting, 29> kSettings{{
    {"listen", "127.0.0.1:8080", "address", "Address and port of the HTTP server (health, metrics, API).", apply_listen},
    {"database.url", "sqlite:///var/lib/pactwatch/pactwatch.db", "url",
     "The store: sqlite:///path/to/file.db (embedded) or postgresql://user@host:port/db[?sslmode=...].", apply_database_url},
    {"database.password_file", "", "path", "File holding the PostgreSQL password (absolute path).", apply_password_file},
    {"database.password_credential", "", "string",
     "Name of a systemd credential (LoadCredential=) holding the PostgreSQL password.", apply_password_credential},
    {"database.pool_size", "4", "integer",
     "Number of database connections kept open (1-256); see docs/scaling.md for sizing.", apply_pool_size},
    {"database.statement_timeout", "30s", "duration",
     "PostgreSQL only: a statement running longer is cancelled and its unit of work retried later (0s: no limit).",
     apply_statement_timeout},
    {"rules_dir", "/etc/pactwatch/rules", "path", "Directory with partners.yaml, calendars/ and contracts/.", apply_rules_dir},
    {"log.level", "info", "enum", "trace, debug, info, warn, error, critical or off.", apply_log_level},
    {"log.format", "text", "enum", "text (human-readable, stderr) or json (one JSON object per line).", apply_log_format},
    {"evaluation.full_interval", "15m", "duration",
     "How often serve re-evaluates every current period in full (timers move with the clock even when no data arrives).",
     apply_full_interval},
    {"evaluation.memory_budget", "512MiB", "size",
     "Memory an evaluation may hold (KiB, MiB, GiB): a run works in batches of at most a quarter of it, each stored "
     "when done; prepared periods are kept for a later run only while they fit (0: keep none; serve keeps none between "
     "runs, as each starts at a new instant).",
     apply_memory_budget},
    {"api.tls_cert", "", "path",
     "PEM certificate chain (absolute path). With api.tls_key set too, the API, portal and health endpoints speak HTTPS only.",
     apply_tls_cert},
    {"api.tls_key", "", "path", "PEM private key for api.tls_cert (absolute path; keep it readable by pactwatch only).",
     apply_tls_key},
    {"api.rate_limit", "20", "integer",
     "Requests per second each API token may make on average (0: no limit); past it the API answers 429 with Retry-After.",
     apply_rate},
    {"api.rate_burst", "60", "integer", "Requests a token may make at once before api.rate_limit applies.", apply_burst},
    {"api.max_page_size", "200", "integer", "The most items one page of an API list returns (?limit= is capped to it).",
     apply_page_size},
    {"api.standing_cache", "1s", "duration",
     "How long a partner's KPI standing is answered from memory before the store is read again (0s: always read).",
     apply_standing_cache},
    {"api.history_cache", "5m", "duration",
     "How long a history point of a period the daemon has not stored (computed for the answer) is reused (0s: computed "
     "every time).",
     apply_history_cache},
    {"api.idle_timeout", "60s", "duration",
     "How long a connection may wait, open and silent, for its next request (or its first) before it is closed.",
     apply_idle_timeout},
    {"api.header_timeout", "10s", "duration",
     "How long a request's head (request line and headers) may take to arrive from its first byte (and a TLS "
     "handshake from the connection's start); then 408 and the connection is closed.",
     apply_header_timeout},
    {"api.body_timeout", "30s", "duration",
     "How long a request's body may take to arrive once its head was accepted; then 408 and the connection is closed.",
     apply_body_timeout},
    {"api.write_timeout", "30s", "duration", "How long an answer may take to be delivered before the connection is closed.",
     apply_write_timeout},
    {"api.max_connections", "4096", "integer",
     "HTTP connections open at once, in all; past it a new connection is answered 503 with Retry-After (closed under "
     "HTTPS) and the refusal logged. Keep it under the open-file limit (LimitNOFILE).",
     apply_max_connections},
    {"api.max_client_connections", "512", "integer",
     "HTTP connections open at once from one client address (behind a proxy: the proxy's); past it as for "
     "api.max_connections.",
     apply_max_client_connections},
    {"api.workers", "8", "integer",
     "Threads that answer API, portal and health requests (1-256). Clients take turns; one credential (or address) "
     "holds at most half of them at once.",
     apply_workers},
    {"cluster.instance", "", "string",
     "This instance's name in the leases of a shared database (default: the host name and a random suffix, kept in "
     "the state directory, so a restart holds its own leases again at once).",
     apply_instance},
    {"cluster.lease_ttl", "45s", "duration",
     "How long a source, a partner shard or the notification queue stays with its instance without a renewal; after "
     "that another instance takes it over (instances renew every third of it).",
     apply_lease_ttl},
    {"cluster.shards", "64", "integer",
     "Partners are divided into this many shards, each evaluated by one instance at a time (1-4096; the same on every "
     "instance).",
     apply_shards},
    {"agreements.signing_key", "", "path",
     "The Ed25519 private key (PEM, mode 0600) that signs agreement records (absolute path; default: "
     "agreement-signing.key in the state directory, made on first use). Back it up with the state directory.",
     apply_signing_key},
}};

// Names that may appear directly under `prefix` ("" for the top level), in table order.
std::vector<std::string_view> children_of(std::string_view prefix) {
  std::vector<std::string_view> out;
  for (const auto& s : kSettings) {
    std::string_view key = s.key;
    if (!prefix.empty()) {
      if (!key.starts_with(prefix) || key.size() <= prefix.size() || key[prefix.size()] != '.') continue;
      key.remove_prefix(prefix.size() + 1);
    }
    auto dot = key.find('.');
    auto name = key.substr(0, dot);
    bool seen = false;
    for (auto n : out) seen = seen || n == name;
    if (!seen) out.push_back(name);
  }
  return out;
}

const Setting* find_setting(std::string_view key) {
  for (const auto& s : kSettings) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

void parse_notify(const YAML::Node& node, Config& config, YamlReport& report);

void walk(const YAML::Node& map, const std::string& prefix, Config& config, YamlReport& report) {
  auto known = children_of(prefix);
  if (prefix.empty()) {
    known.push_back("sources");
    known.push_back("notify");
  }
  report.check_keys(map, known, prefix.empty() ? "config" : prefix);
  // Iterate by value: yaml-cpp's iterator->second is a member of a temporary proxy.
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) continue;
    const std::string name = kv.first.Scalar();
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const YAML::Node value = kv.second;
    if (key == "sources") {
      parse_sources(value, config, report);
      continue;
    }
    if (key == "notify") {
      parse_notify(value, config, report);
      continue;
    }
    if (const Setting* s = find_setting(key)) {
      if (value.IsNull()) continue;  // "key:" with nothing keeps the default
      if (!value.IsScalar()) {
        report.error(value, key + ": expected a single value (" + std::string(s->type) + "), got " +
                                std::string(node_kind(value)));
        continue;
      }
      if (auto r = s->apply(config, value.Scalar()); !r) report.error(value, key + ": " + r.error());
      note_position(config, key, value);
    } else if (!children_of(key).empty()) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        report.error(value, key + ": expected a mapping, got " + std::string(node_kind(value)));
        continue;
      }
      walk(value, key, config, report);
    }
  }
}

void parse_notify(const YAML::Node& node, Config& config, YamlReport& report) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    report.error(node, "notify: expected {channels: {NAME: {type, url, ...}}}");
    return;
  }
  report.check_keys(node, {"channels", "recovery_hold", "reminder_interval"}, "notify");
  for (const auto& [key, out] : {std::pair{"recovery_hold", &config.recovery_hold_s}, {"reminder_interval", &config.reminder_interval_s}}) {
    const YAML::Node d = node[key];
    if (!d || d.IsNull()) continue;
    auto sec = d.IsScalar() ? seconds(d.Scalar()) : std::nullopt;
    if (!sec) report.error(d, std::string("notify.") + key + ": expected a duration such as 30m or 24h");
    else *out = *sec;
  }
  const YAML::Node channels = node["channels"];
  if (!channels || channels.IsNull()) return;
  if (!channels.IsMap()) {
    report.error(channels, "notify.channels: expected a mapping of channel names to their settings");
    return;
  }
  for (const auto& kv : channels) {
    ChannelConfig c;
    c.name = kv.first.Scalar();
    const YAML::Node v = kv.second;
    const std::string where = "notify.channels." + c.name;
    if (!v.IsMap()) {
      report.error(v, where + ": expected {type, url, ...}");
      continue;
    }
    report.check_keys(v, {"type", "url", "secret_file", "secret_credential", "events", "since", "allow_private", "from", "to",
                          "user", "starttls", "audience"},
                      where);
    auto scalar = [&](const char* key) { return v[key] && v[key].IsScalar() ? v[key].Scalar() : std::string(); };
    c.type = scalar("type");
    if (c.type != "webhook" && c.type != "slack" && c.type != "email") report.error(v, where + ".type: expected webhook, slack or email");
    c.url = scalar("url");
    if (c.type == "email") {
      if (!c.url.starts_with("smtp://") && !c.url.starts_with("smtps://")) {
        report.error(v, where + ".url: expected the SMTP server as smtp://host:587 or smtps://host:465");
      }
      c.from = scalar("from");
      if (c.from.find('@') == std::string::npos) report.error(v, where + ".from: expected the sender's address");
      if (const YAML::Node to = v["to"]; to && to.IsSequence()) {
        for (const auto& t : to) {
          if (t.IsScalar() && t.Scalar().find('@') != std::string::npos) c.to.push_back(t.Scalar());
          else report.error(t, where + ".to: expected email addresses");
        }
      }
      if (c.to.empty() && scalar("audience") != "partner") report.error(v, where + ".to: expected a list of recipients");
      c.user = scalar("user");
      if (const std::string t = scalar("starttls"); !t.empty()) {
        if (t != "required" && t != "optional") report.error(v["starttls"], where + ".starttls: expected required or optional");
        c.starttls_required = t != "optional";
      }
    } else if (!c.url.starts_with("https://") && !c.url.starts_with("http://")) {
      report.error(v, where + ".url: expected an http(s) URL");
    }
    c.secret = {scalar("secret_file"), scalar("secret_credential")};
    for (const char* key : {"secret_file", "secret_credential"}) {
      if (v[key]) note_position(config, where + "." + key, v[key]);
    }
    if (c.type == "webhook" && c.secret.empty()) {
      report.error(v, where + ": a webhook needs secret_file or secret_credential (its signing secret, whsec_...)");
    }
    if (const YAML::Node ev = v["events"]) {
      if (!ev.IsSequence()) {
        report.error(ev, where + ".events: expected a list of event types");
      } else {
        for (const auto& e : ev) {
          const std::string t = e.IsScalar() ? e.Scalar() : "";
          if (!core::is_rule_event(t) && !core::is_contract_event(t)) {
            report.error(e, where + ".events: unknown event type '" + t + "' (" + core::event_list(core::kRuleEvents) + ", " +
                                    core::event_list(core::kContractEvents) + ")");
          } else {
            c.events.push_back(t);
          }
        }
      }
    }
    if (const std::string a = scalar("audience"); !a.empty()) {
      if (a != "brand" && a != "partner") report.error(v["audience"], where + ".audience: expected brand or partner");
      c.audience = a;
      if (a == "partner" && c.type != "email") report.error(v["audience"], where + ".audience: partner channels are email (to the partner's contacts)");
    }
    c.since = scalar("since");
    if (!c.since.empty() && !core::parse_rfc3339(c.since)) report.error(v["since"], where + ".since: expected an RFC 3339 instant");
    if (const std::string a = scalar("allow_private"); !a.empty()) {
      if (a != "true" && a != "false") report.error(v["allow_private"], where + ".allow_private: expected true or false");
      c.allow_private = a == "true";
    }
    config.channels.push_back(std::move(c));
  }
}

void validate_whole(const Config& c, const YAML::Node& root, YamlReport& report) {
  if (!c.database_password.file.empty() && !c.database_password.credential.empty()) {
    report.error(root["database"] ? root["database"].Mark() : root.Mark(),
                 "database: set password_file or password_credential, not both");
  }
  if (c.database_url.starts_with("sqlite://") && !c.database_password.empty()) {
    report.error(root["database"] ? root["database"].Mark() : root.Mark(),
                 "database: a SQLite store takes no password");
  }
  if (c.api_tls_cert.empty() != c.api_tls_key.empty()) {
    report.error(root["api"] ? root["api"].Mark() : root.Mark(), "api: set both tls_cert and tls_key, or neither");
  }
}

}  // namespace

std::span<const Setting> settings_table() { return kSettings; }

Config default_config() {
  Config c;
  for (const auto& s : kSettings) {
    if (s.default_value.empty()) continue;
    if (auto r = s.apply(c, s.default_value); !r) {
      throw std::logic_error("bad default for " + std::string(s.key) + ": " + r.error());
    }
  }
  return c;
}

std::string defaults_yaml() {
  std::ostringstream out;
  out << "# pactwatch configuration defaults (pactwatch config defaults)\n";
  std::string section;
  for (const auto& s : kSettings) {
    std::string_view key = s.key;
    std::string indent;
    auto dot = key.find('.');
    if (dot != std::string_view::npos) {
      std::string this_section(key.substr(0, dot));
      if (this_section != section) {
        out << this_section << ":\n";
        section = this_section;
      }
      key.remove_prefix(dot + 1);
      indent = "  ";
    } else {
      section.clear();
    }
    out << indent << "# " << s.description << '\n';
    if (s.default_value.empty()) {
      out << indent << "# " << key << ":   (not set)\n";
    } else {
      out << indent << key << ": " << s.default_value << '\n';
    }
  }
  return out.str();
}

std::expected<Config, core::Diagnostics> parse_config(std::string_view text, std::string_view name) {
  YamlReport report{std::string(name)};
  YAML::Node root = parse_yaml(text, report);
  Config config = default_config();
  if (report.ok()) {
    if (root.IsMap()) {
      walk(root, "", config, report);
      validate_whole(config, root, report);
    } else if (!root.IsNull()) {
      report.error(root, "the config file must be a mapping of settings, got " + std::string(node_kind(root)));
    }
  }
  if (!report.ok()) {
    auto& ds = report.diagnostics();
    core::sort_by_position(ds);
    return std::unexpected(std::move(ds));
  }
  return config;
}

std::expected<Config, core::Diagnostics> load_config(const std::filesystem::path& file) {
  auto text = core::read_file(file);
  if (!text) return std::unexpected(core::Diagnostics{{file.string(), 0, 0, "cannot read the config file"}});
  return parse_config(*text, file.string());
}

namespace {

// Why a secret file cannot be used, or "" when it can: it must exist, be readable by this user
// and hold something.
std::string unusable_secret_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return "does not exist";
  if (std::filesystem::is_directory(status)) return "is a directory, not a file";
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string("cannot be read by this user (uid ") + std::to_string(::geteuid()) + ")";
  std::string text((std::istreambuf_iterator<char>(in)), {});
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return "is empty";
  return "";
}

}  // namespace

SecretCheck check_secrets(const Config& config, std::string_view config_file) {
  SecretCheck out;
  const char* credentials = std::getenv("CREDENTIALS_DIRECTORY");
  const bool have_credentials = credentials != nullptr && *credentials != '\0';
  auto at = [&](const std::string& key) {
    const auto it = config.positions.find(key);
    return it == config.positions.end() ? std::pair(0, 0) : it->second;
  };
  auto file = [&](const std::string& key, const std::string& path, const char* what) {
    if (path.empty()) return;
    if (const auto why = unusable_secret_file(path); !why.empty()) {
      const auto [line, column] = at(key);
      out.problems.push_back({std::string(config_file), line, column, key + ": " + what + " " + path + " " + why});
    }
  };
  auto secret = [&](const std::string& prefix, const SecretRef& ref, const char* file_key, const char* credential_key) {
    file(prefix + file_key, ref.file, "the secret file");
    if (ref.credential.empty()) return;
    const std::string key = prefix + credential_key;
    const auto [line, column] = at(key);
    if (!have_credentials) {
      out.unchecked.push_back({std::string(config_file), line, column,
                               key + ": credential '" + ref.credential +
                                   "' not checked: $CREDENTIALS_DIRECTORY is not set here (systemd sets it for the service "
                                   "from LoadCredential=; `systemctl start` runs this check with it)"});
      return;
    }
    const auto path = std::filesystem::path(credentials) / ref.credential;
    if (const auto why = unusable_secret_file(path); !why.empty()) {
      out.problems.push_back({std::string(config_file), line, column,
                              key + ": credential '" + ref.credential + "' (" + path.string() + ") " + why +
                                  " (is it in the unit's LoadCredential=?)"});
    }
  };
  secret("database.", config.database_password, "password_file", "password_credential");
  for (const auto& s : config.sources) {
    secret("sources." + s.name + ".auth.", s.secret, "secret_file", "secret_credential");
    secret("sources." + s.name + ".auth.", s.refresh_token, "refresh_token_file", "refresh_token_credential");
  }
  for (const auto& c : config.channels) secret("notify.channels." + c.name + ".", c.secret, "secret_file", "secret_credential");
  file("api.tls_cert", config.api_tls_cert, "the certificate file");
  file("api.tls_key", config.api_tls_key, "the key file");
  core::sort_by_position(out.problems);
  core::sort_by_position(out.unchecked);
  return out;
}

std::expected<std::string, std::string> read_secret(const SecretRef& ref, std::string_view what) {
  std::filesystem::path path;
  if (!ref.file.empty()) {
    path = ref.file;
  } else if (!ref.credential.empty()) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (dir == nullptr || *dir == '\0') {
      return std::unexpected(std::string(what) + ": credential '" + ref.credential +
                             "' requested but $CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)");
    }
    path = std::filesystem::path(dir) / ref.credential;
  } else {
    return std::string();
  }
  auto text = core::read_file(path);
  if (!text) return std::unexpected(std::string(what) + ": cannot read " + path.string());
  std::string s = std::move(*text);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return std::unexpected(std::string(what) + ": " + path.string() + " is empty");
  return s;
}

namespace detail {

// "30s", "5m", "2h" or a number of seconds.
std::optional<std::int64_t> seconds(std::string_view v) {
  if (v.empty()) return std::nullopt;
  std::int64_t unit = 1;
  switch (v.back()) {
    case 's': unit = 1; v.remove_suffix(1); break;
    case 'm': unit = 60; v.remove_suffix(1); break;
    case 'h': unit = 3600; v.remove_suffix(1); break;
    default: break;
  }
  std::int64_t n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || ptr != v.data() + v.size() || n <= 0 || n > 86400 * 7) return std::nullopt;
  return n * unit;
}

// Remembers where a value was written (Config::positions).
void note_position(Config& config, const std::string& key, const YAML::Node& value) {
  if (!value || !value.IsDefined()) return;
  const auto mark = value.Mark();
  if (mark.line >= 0) config.positions[key] = {mark.line + 1, mark.column + 1};
}

}  // namespace detail

}  // namespace pactwatch::config
