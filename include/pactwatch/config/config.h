// The daemon's configuration: one YAML file, validated as a whole, defaults from one table.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pactwatch/core/diagnostic.h"

namespace pactwatch::config {

inline constexpr std::string_view kDefaultConfigPath = "/etc/pactwatch/pactwatch.yaml";

enum class LogFormat { text, json };

// Where a secret comes from: a file path, or a systemd credential name looked up in
// $CREDENTIALS_DIRECTORY (LoadCredential=). Secrets are never written inline in the config.
struct SecretRef {
  std::string file;        // empty when not set
  std::string credential;  // empty when not set
  [[nodiscard]] bool empty() const { return file.empty() && credential.empty(); }
};

// One polled system (pactwatch.yaml `sources:`). The name is the key under `sources:` and the
// `source` of every item it brings; partners.yaml external ids are looked up under it.
struct SourceConfig {
  std::string name;
  std::string kind;   // zendesk, jira, servicenow, freshdesk, salesforce, hubspot
  std::string url;    // the instance's base URL, e.g. https://acme.zendesk.com
  std::string path;   // kind file: the drop directory
  std::string items;  // kind file: the item kind of the files dropped there
  std::string auth;   // basic, token (Zendesk {email}/token), bearer, api_key (Freshdesk), oauth (Salesforce)
  std::string user;   // email, user name, API user or OAuth client id
  SecretRef secret;   // password, API token, API key or client secret
  SecretRef refresh_token;  // OAuth refresh token (Salesforce), optional
  std::string token_url;    // OAuth token endpoint (Salesforce); default: {url}/services/oauth2/token
  std::int64_t poll_interval_s = 300;
  int page_size = 100;
  std::int64_t connect_timeout_s = 10;
  std::int64_t timeout_s = 60;
  int requests_per_minute = 0;  // client-side budget; 0: the connector's default
  int max_retries = 5;
  bool verify_tls = true;
  std::string since;  // where the first sync starts (RFC 3339); default: 30 days before it runs
  std::vector<std::pair<std::string, std::string>> options;  // connector-specific, see docs/connectors.md
  int line = 0;  // where it was defined, for diagnostics
  [[nodiscard]] std::string option(std::string_view key, std::string fallback = "") const {
    for (const auto& [k, v] : options) {
      if (k == key) return v;
    }
    return fallback;
  }
};

// A notification channel (pactwatch.yaml `notify.channels`).
struct ChannelConfig {
  std::string name;
  std::string type;  // webhook (Standard Webhooks signature, CloudEvents body), slack (incoming webhook) or email
  std::string url;   // webhook, slack: where to POST; email: the SMTP server, smtp://host:587 or smtps://host:465
  std::string from;  // email: the sender address
  std::vector<std::string> to;  // email: recipients
  std::string user;  // email: SMTP user (with secret as the password), optional
  bool starttls_required = true;  // email: refuse to send in clear text when STARTTLS is not offered
  SecretRef secret;  // webhook: the signing secret, "whsec_" + base64
  std::vector<std::string> events;  // event types to send; empty: all
  std::string since;  // events created before this instant are not sent (RFC 3339); default: all
  bool allow_private = false;  // allow link-local and cloud metadata addresses
  std::string audience = "brand";  // brand, or partner (email only: to the partner's contacts in partners.yaml)
};

// The kinds of sources pactwatch can poll.
[[nodiscard]] std::span<const std::string_view> source_kinds();

struct Config {
  std::string listen_host;
  std::uint16_t listen_port = 0;
  std::string database_url;
  SecretRef database_password;
  int database_pool_size = 0;
  std::int64_t database_statement_timeout_s = 30;  // database.statement_timeout (PostgreSQL); 0 = none
  std::string rules_dir;
  std::string log_level;  // trace, debug, info, warn, error, critical, off
  LogFormat log_format = LogFormat::text;
  std::int64_t full_evaluation_interval_s = 900;
  std::uint64_t evaluation_memory_budget = std::uint64_t{512} << 20;  // evaluation.memory_budget, in bytes
  std::vector<SourceConfig> sources;
  std::vector<ChannelConfig> channels;
  std::int64_t recovery_hold_s = 0;      // notify.recovery_hold: a recovery is announced only once it held this long
  std::int64_t reminder_interval_s = 0;  // notify.reminder_interval: remind of a breach still standing; 0: never
  std::string api_tls_cert;    // api.tls_cert: PEM certificate chain; with api.tls_key, the server speaks HTTPS
  std::string api_tls_key;     // api.tls_key: PEM private key
  int api_rate_per_second = 0;  // api.rate_limit: requests per second per token; 0: no limit
  int api_rate_burst = 0;       // api.rate_burst: requests a token may make at once above the rate
  int api_max_page_size = 0;    // api.max_page_size: the most items one page of a list returns
  std::int64_t api_standing_cache_s = 1;  // api.standing_cache: reuse of a partner's KPI standing
  std::int64_t api_history_cache_s = 300;  // api.history_cache: reuse of a computed history point
  std::int64_t api_idle_timeout_s = 60;    // api.idle_timeout: a connection waiting for its next request
  std::int64_t api_header_timeout_s = 10;  // api.header_timeout: from a request's first byte to its head's end
  std::int64_t api_body_timeout_s = 30;    // api.body_timeout: to receive a body once its head is accepted
  std::int64_t api_write_timeout_s = 30;   // api.write_timeout: to deliver an answer
  int api_max_connections = 4096;          // api.max_connections: connections open at once, in all
  int api_max_client_connections = 512;    // api.max_client_connections: ... from one client address
  int api_workers = 8;                     // api.workers: threads that answer requests
  std::string cluster_instance;            // cluster.instance: this instance's name in leases; "" = host:pid
  std::int64_t cluster_lease_ttl_s = 45;   // cluster.lease_ttl: how long a lease lasts unrenewed
  int cluster_shards = 64;                 // cluster.shards: partner shards, each evaluated by one instance
  std::string agreements_signing_key;      // agreements.signing_key: the Ed25519 key of agreement records;
                                           // "" = agreement-signing.key in the state directory
  // Where each value was written in the file (1-based line and column), by dotted key:
  // "database.password_file", "sources.desk.auth.secret_file", "notify.channels.ops.secret_file".
  std::map<std::string, std::pair<int, int>> positions;
  [[nodiscard]] const SourceConfig* source(std::string_view name) const {
    for (const auto& s : sources) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }
};

// One row of the defaults table: the single source of defaults, validation and docs.
struct Setting {
  std::string_view key;            // dotted path, e.g. "database.url"
  std::string_view default_value;  // "" = not set
  std::string_view type;           // for docs: string, integer, enum, address, path, url
  std::string_view description;
  // Validates a value and stores it; the message says what is wrong with it.
  std::expected<void, std::string> (*apply)(Config&, std::string_view value);
};
[[nodiscard]] std::span<const Setting> settings_table();

// The defaults table as a commented YAML document (`pactwatch config defaults`).
[[nodiscard]] std::string defaults_yaml();

// A config with every default applied.
[[nodiscard]] Config default_config();

// Loads and validates a config file. Every problem is reported, each as file:line:col.
[[nodiscard]] std::expected<Config, core::Diagnostics> load_config(const std::filesystem::path& file);
// Same, from text (the name is used in diagnostics).
[[nodiscard]] std::expected<Config, core::Diagnostics> parse_config(std::string_view text, std::string_view name);

// Reads a secret from its file or credential. Trailing newlines are removed.
[[nodiscard]] std::expected<std::string, std::string> read_secret(const SecretRef& ref, std::string_view what);

// Every secret a config names, read as the daemon would read it: the database password, each
// source's secret and refresh token, each channel's secret, and the TLS certificate and key.
// `problems` lists each one missing, unreadable or empty, at its position in `config_file`.
// A systemd credential can be read only where $CREDENTIALS_DIRECTORY is set (the service and its
// ExecStartPre): elsewhere each goes to `unchecked`, saying so, rather than to `problems`.
struct SecretCheck {
  core::Diagnostics problems;
  core::Diagnostics unchecked;
};
[[nodiscard]] SecretCheck check_secrets(const Config& config, std::string_view config_file);

}  // namespace pactwatch::config
