#include "pactwatch/config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "temp_dir.h"

namespace pactwatch::config {
namespace {

std::vector<std::string> messages(const std::string& yaml) {
  auto r = parse_config(yaml, "test.yaml");
  std::vector<std::string> out;
  if (!r) {
    for (const auto& d : r.error()) out.push_back(d.to_string());
  }
  return out;
}

TEST(Config, DefaultsComeFromTheTable) {
  auto c = parse_config("", "empty.yaml");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 8080);
  EXPECT_EQ(c->database_url, "sqlite:///var/lib/pactwatch/pactwatch.db");
  EXPECT_EQ(c->database_pool_size, 4);
  EXPECT_EQ(c->rules_dir, "/etc/pactwatch/rules");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->log_format, LogFormat::text);
  // Every default in the table is printed by `config defaults` and is itself valid.
  const std::string printed = defaults_yaml();
  for (const auto& s : settings_table()) {
    auto leaf = s.key.substr(s.key.rfind('.') == std::string_view::npos ? 0 : s.key.rfind('.') + 1);
    EXPECT_NE(printed.find(std::string(leaf) + ":"), std::string::npos) << s.key;
    EXPECT_NE(printed.find(std::string(s.description)), std::string::npos) << s.key;
  }
  // The printed defaults parse back to the same config.
  auto again = parse_config(printed, "defaults.yaml");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->database_url, c->database_url);
  EXPECT_EQ(again->listen_port, c->listen_port);
}

TEST(Config, ReadsEverySetting) {
  auto c = parse_config(R"(
listen: "[::1]:9090"
database:
  url: postgresql://pactwatch@db.internal:5433/pw?sslmode=require
  password_file: /run/secrets/db
  pool_size: 16
rules_dir: ./rules
log:
  level: debug
  format: json
)",
                        "full.yaml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ(c->listen_host, "::1");
  EXPECT_EQ(c->listen_port, 9090);
  EXPECT_EQ(c->database_url, "postgresql://pactwatch@db.internal:5433/pw?sslmode=require");
  EXPECT_EQ(c->database_password.file, "/run/secrets/db");
  EXPECT_EQ(c->database_pool_size, 16);
  EXPECT_EQ(c->rules_dir, "./rules");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_format, LogFormat::json);
}

TEST(Config, ReportsEveryProblemWithPosition) {
  auto m = messages(
      "listen: 127.0.0.1:99999\n"
      "database:\n"
      "  url: mysql://x\n"
      "  pool_size: many\n"
      "  pasword_file: /x\n"
      "log:\n"
      "  level: loud\n"
      "  format: [a]\n"
      "rules_dri: x\n");
  ASSERT_EQ(m.size(), 7u);
  EXPECT_EQ(m[0], "test.yaml:1:9: listen: port '99999' must be a number from 1 to 65535");
  EXPECT_EQ(m[1].substr(0, 43), "test.yaml:3:8: database.url: unsupported da");
  EXPECT_EQ(m[2], "test.yaml:4:14: database.pool_size: must be an integer from 1 to 256");
  EXPECT_EQ(m[3], "test.yaml:5:3: database: unknown key 'pasword_file' (did you mean 'password_file'?)");
  EXPECT_EQ(m[4].substr(0, 42), "test.yaml:7:10: log.level: unknown log lev");
  EXPECT_EQ(m[5], "test.yaml:8:11: log.format: expected a single value (enum), got a list");
  EXPECT_EQ(m[6], "test.yaml:9:1: config: unknown key 'rules_dri' (did you mean 'rules_dir'?)");
}

TEST(Config, RejectsStructuralMistakes) {
  EXPECT_EQ(messages("- a\n- b\n").at(0), "test.yaml:1:1: the config file must be a mapping of settings, got a list");
  EXPECT_EQ(messages("database: sqlite:///x\n").at(0), "test.yaml:1:11: database: expected a mapping, got a scalar");
  EXPECT_EQ(messages("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n").at(0), "test.yaml:2:1: config: duplicate key 'listen'");
  auto syntax = messages("listen: [unclosed\n");
  ASSERT_EQ(syntax.size(), 1u);
  EXPECT_NE(syntax[0].find("YAML syntax error"), std::string::npos);
  EXPECT_EQ(syntax[0].substr(0, 10), "test.yaml:");
}

TEST(Config, ValidatesValues) {
  EXPECT_FALSE(messages("listen: 8080\n").empty());
  EXPECT_FALSE(messages("listen: :8080\n").empty());
  EXPECT_FALSE(messages("database: {url: 'sqlite://'}\n").empty());
  EXPECT_FALSE(messages("database: {pool_size: 0}\n").empty());
  EXPECT_FALSE(messages("database: {password_file: relative/path}\n").empty());
  EXPECT_FALSE(messages("log: {format: xml}\n").empty());
  EXPECT_FALSE(messages("rules_dir: ''\n").empty());
}

TEST(Config, ClusterAndDatabaseLimits) {
  auto c = parse_config("database:\n  statement_timeout: 2m\ncluster:\n  instance: eu-1\n  lease_ttl: 30s\n  shards: 128\n", "c.yaml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ(c->database_statement_timeout_s, 120);
  EXPECT_EQ(c->cluster_instance, "eu-1");
  EXPECT_EQ(c->cluster_lease_ttl_s, 30);
  EXPECT_EQ(c->cluster_shards, 128);
  auto d = parse_config("", "d.yaml");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->database_statement_timeout_s, 30);
  EXPECT_EQ(d->cluster_shards, 64);
  auto off = parse_config("database: {statement_timeout: 0s}\napi: {standing_cache: 0s}\n", "o.yaml");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->database_statement_timeout_s, 0);
  EXPECT_EQ(off->api_standing_cache_s, 0);
  EXPECT_EQ(messages("cluster: {shards: 0}\n").at(0), "test.yaml:1:19: cluster.shards: must be an integer from 1 to 4096");
  EXPECT_NE(messages("database: {statement_timeout: 2d}\n").at(0).find("from 1s to 24h"), std::string::npos);
  EXPECT_NE(messages("api: {standing_cache: 10m}\n").at(0).find("from 0s to 5m"), std::string::npos);
}

TEST(Config, EvaluationMemoryBudget) {
  auto d = parse_config("", "d.yaml");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->evaluation_memory_budget, 512u << 20);
  for (const auto& [text, bytes] : std::vector<std::pair<std::string, std::uint64_t>>{
           {"0", 0}, {"0MiB", 0}, {"64KiB", 64u << 10}, {"200MiB", 200u << 20}, {"2GiB", 2ULL << 30}, {"1024GiB", 1024ULL << 30}}) {
    auto c = parse_config("evaluation: {memory_budget: " + text + "}\n", "b.yaml");
    ASSERT_TRUE(c) << text << ": " << c.error()[0].to_string();
    EXPECT_EQ(c->evaluation_memory_budget, bytes) << text;
  }
  for (const char* bad : {"512", "512MB", "-1MiB", "1.5GiB", "MiB", "1025GiB", "99999999999999999999GiB"}) {
    const auto m = messages(std::string("evaluation: {memory_budget: ") + bad + "}\n");
    ASSERT_FALSE(m.empty()) << bad;
    EXPECT_EQ(m.at(0), std::string("test.yaml:1:29: evaluation.memory_budget: expected a size from 0 to 1024GiB, such as "
                                   "512MiB (KiB, MiB or GiB; 0 keeps nothing)")) << bad;
  }
}

TEST(Config, HttpListenerLimits) {
  auto d = parse_config("", "d.yaml");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->api_idle_timeout_s, 60);
  EXPECT_EQ(d->api_header_timeout_s, 10);
  EXPECT_EQ(d->api_body_timeout_s, 30);
  EXPECT_EQ(d->api_write_timeout_s, 30);
  EXPECT_EQ(d->api_max_connections, 4096);
  EXPECT_EQ(d->api_max_client_connections, 512);
  EXPECT_EQ(d->api_workers, 8);
  EXPECT_EQ(d->api_history_cache_s, 300);
  auto c = parse_config("api:\n  idle_timeout: 2m\n  header_timeout: 5s\n  body_timeout: 1m\n  write_timeout: 20s\n"
                        "  max_connections: 100\n  max_client_connections: 10\n  workers: 16\n  history_cache: 0s\n",
                        "c.yaml");
  ASSERT_TRUE(c) << c.error()[0].to_string();
  EXPECT_EQ(c->api_idle_timeout_s, 120);
  EXPECT_EQ(c->api_header_timeout_s, 5);
  EXPECT_EQ(c->api_body_timeout_s, 60);
  EXPECT_EQ(c->api_write_timeout_s, 20);
  EXPECT_EQ(c->api_max_connections, 100);
  EXPECT_EQ(c->api_max_client_connections, 10);
  EXPECT_EQ(c->api_workers, 16);
  EXPECT_EQ(c->api_history_cache_s, 0);
  EXPECT_EQ(messages("api: {header_timeout: 0s}\n").at(0), "test.yaml:1:23: api.header_timeout: expected a duration from 1s to 10m, such as 10s");
  EXPECT_NE(messages("api: {idle_timeout: 2h}\n").at(0).find("from 1s to 1h"), std::string::npos);
  EXPECT_NE(messages("api: {workers: 0}\n").at(0).find("from 1 to 256"), std::string::npos);
  EXPECT_NE(messages("api: {max_connections: lots}\n").at(0).find("must be an integer"), std::string::npos);
  EXPECT_NE(messages("api: {max_client_conections: 5}\n").at(0).find("did you mean 'max_client_connections'"), std::string::npos);
  // `pactwatch config defaults` shows every one of them.
  const auto defaults = defaults_yaml();
  for (const char* key : {"idle_timeout: 60s", "header_timeout: 10s", "body_timeout: 30s", "write_timeout: 30s", "max_connections: 4096",
                          "max_client_connections: 512", "workers: 8", "history_cache: 5m"}) {
    EXPECT_NE(defaults.find(key), std::string::npos) << key;
  }
}

TEST(Config, SecretsAreNeverInline) {
  auto m = messages("database: {url: 'postgresql://u:hunter2@h/db'}\n");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("password_file"), std::string::npos);
  EXPECT_EQ(m[0].find("hunter2"), std::string::npos) << "the error must not echo the secret";
  EXPECT_FALSE(messages("database: {url: 'postgresql://u@h/db', password_file: /a, password_credential: b}\n").empty());
  EXPECT_FALSE(messages("database: {password_file: /a}\n").empty()) << "SQLite takes no password";
}

TEST(Config, ReadsSecretsFromFilesAndCredentials) {
  testutils::TempDir dir;
  auto file = dir.write("db-password", "s3cret\n");
  auto r = read_secret({file.string(), ""}, "database password");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "s3cret");

  dir.write("creds/pgpass", "from-credential");
  ::setenv("CREDENTIALS_DIRECTORY", (dir.path() / "creds").c_str(), 1);
  r = read_secret({"", "pgpass"}, "database password");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "from-credential");
  EXPECT_FALSE(read_secret({"", "missing"}, "database password"));
  ::unsetenv("CREDENTIALS_DIRECTORY");
  auto no_dir = read_secret({"", "pgpass"}, "database password");
  ASSERT_FALSE(no_dir);
  EXPECT_NE(no_dir.error().find("CREDENTIALS_DIRECTORY"), std::string::npos);
  EXPECT_FALSE(read_secret({(dir.path() / "nope").string(), ""}, "database password"));
  dir.write("empty", "\n");
  EXPECT_FALSE(read_secret({(dir.path() / "empty").string(), ""}, "database password"));
  EXPECT_EQ(*read_secret({}, "x"), "");
}

TEST(Config, LoadsFromFile) {
  testutils::TempDir dir;
  auto p = dir.write("pactwatch.yaml", "listen: 127.0.0.1:9999\n");
  auto c = load_config(p);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen_port, 9999);
  auto missing = load_config(dir.path() / "absent.yaml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error()[0].to_string().find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace pactwatch::config

namespace pactwatch::config {
namespace {

// The configuration files the project ships must stay valid.
TEST(ShippedConfig, DemoAndSystemdExamplesAreValid) {
  for (const char* rel : {"demo/pactwatch.yaml", "systemd/pactwatch.yaml"}) {
    auto c = load_config(std::filesystem::path(PACTWATCH_SOURCE_DIR) / rel);
    EXPECT_TRUE(c) << rel << ": " << (c ? "" : c.error()[0].to_string());
  }
}

}  // namespace
}  // namespace pactwatch::config
