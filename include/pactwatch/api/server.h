// The HTTP API (REST v1, JSON) and the partner portal (server-rendered HTML), mounted on the
// daemon's HTTP server. Both read the store and the rule set in force; neither keeps state a
// second instance would need (tokens, statements and evaluations live in the store), so any
// instance answers any request. See docs/api.md and docs/openapi.yaml.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pactwatch/core/clock.h"
#include "pactwatch/core/metrics.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace httplib {
struct Request;
struct Response;
}

namespace pactwatch::api {

class HttpServer;

struct ApiOptions {
  int rate_per_second = 20;  // per token; 0: no limit
  int rate_burst = 60;
  // An answer counts against the rate once per whole `cost_unit` of processor time it took, and
  // at least once: one token's expensive requests use up its own rate, not the machine.
  std::chrono::microseconds cost_unit{10000};
  int max_page_size = 200;
  int default_page_size = 50;
  std::size_t max_body_bytes = 64 * 1024;
  // A token's record is re-read from the store at most this often: revoking one takes effect
  // within this time on every instance.
  std::chrono::seconds token_cache_ttl{5};
  // A partner's KPI standing is answered from memory for this long after it was read from the
  // store (0: every request reads the store). The daemon re-evaluates every few minutes at most,
  // so a second's reuse loses nothing and spares the store under load.
  std::chrono::milliseconds standing_cache_ttl{1000};
  // A history point of a period the daemon has not stored an evaluation of (computed for the
  // answer) is reused this long (0: computed for every answer).
  std::chrono::milliseconds history_cache_ttl{std::chrono::minutes(5)};
  bool secure_cookies = false;  // true when served over TLS
  // The installation's Ed25519 key that signs agreement records (agreements.signing_key), made on
  // first use; empty: agreement records are not served (503).
  std::filesystem::path signing_key_file;
};

using RulesSnapshot = std::function<std::shared_ptr<const rules::RuleSet>()>;

// One route as registered: its method, its path template (as in docs/openapi.yaml), and the roles
// that may call it. Partner-scoped routes ({partner} in the path) admit a partner token only for
// its own partner, answering 404 otherwise, exactly as for a partner that does not exist.
struct RouteInfo {
  std::string method;
  std::string pattern;
  std::vector<std::string> roles;
};

class Api {
 public:
  // Requests are counted on `metrics` (the daemon's /metrics), which outlives the Api.
  Api(store::Store& db, RulesSnapshot rules, const core::Clock& clock, core::MetricsRegistry& metrics, ApiOptions options = {});
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Registers /v1/... and /portal... on the server, with their admissions and the client key.
  void mount(HttpServer& http);

  // Answers one /v1 request (what mount registers): routing, authentication, rate limit,
  // authorization, the handler, the audit log and the counters. Thread-safe.
  void handle(const httplib::Request& req, httplib::Response& res);

  // Answers a partner's KPI standing when everything it needs is in memory (the token in the token
  // cache, the standing rendered less than api.standing_cache ago) with exactly handle()'s answer;
  // false, with nothing answered or spent, otherwise. Never blocks: the server calls it on its I/O
  // thread.
  [[nodiscard]] bool answer_from_memory(const httplib::Request& req, httplib::Response& res);

  // Decides a /v1 request from its head, before its body is read: false (with the answer in `res`)
  // when handle() would refuse it whatever the body (no such route, no valid token, over the rate,
  // wrong role, another partner). Takes nothing from the token's rate.
  [[nodiscard]] bool admit(const httplib::Request& req, httplib::Response& res);

  // Whom a request counts against for fair service: its bearer token or portal session ("" for
  // neither).
  [[nodiscard]] static std::string client_key(const httplib::Request& req);

  // Every route the API and the portal register, with who may call each.
  [[nodiscard]] static std::vector<RouteInfo> routes();

  // Request counters and durations by route template, method and status: these families alone,
  // in Prometheus text.
  [[nodiscard]] std::string prometheus() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pactwatch::api
