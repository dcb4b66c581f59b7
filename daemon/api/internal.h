// What the REST API and the portal share: who is asking, errors as problems, the read models
// (a partner's KPI standing, evidence, history, statements) and the Api's state (token cache,
// rate limits, counters).
#pragma once

#include <httplib.h>

#include <expected>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/api/server.h"
#include "pactwatch/core/agreement.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/ledger/agreement_record.h"
#include "pactwatch/ledger/disputes.h"
#include "pactwatch/ledger/statements.h"

namespace pactwatch::api {

using nlohmann::json;

enum class Role { admin, approver, finance, viewer, partner };
[[nodiscard]] std::string_view to_string(Role r);
[[nodiscard]] std::optional<Role> role_from(std::string_view s);

struct Principal {
  std::string token_id;
  std::string name;
  Role role = Role::viewer;
  std::optional<std::string> partner;  // partner tokens only

  [[nodiscard]] bool sees_money() const { return role != Role::viewer; }
  [[nodiscard]] bool sees_drafts() const { return role != Role::partner; }
  [[nodiscard]] bool is_staff() const { return role == Role::admin || role == Role::finance; }
  // The party this principal acts for on a contract: partner tokens for their partner, the
  // brand's roles for the brand.
  [[nodiscard]] core::Party party() const { return role == Role::partner ? core::Party::partner : core::Party::brand; }
};

// An RFC 9457 problem: type is "urn:pactwatch:problem:" + slug.
struct Problem {
  int status = 500;
  std::string slug;
  std::string title;
  std::string detail;
};
template <typename T>
using Result = std::expected<T, Problem>;

[[nodiscard]] Problem bad_request(std::string detail);
[[nodiscard]] Problem not_found(std::string detail);
[[nodiscard]] Problem conflict(std::string detail);

// One page of a list, by keyset: `after` is the key of the last item of the previous page.
struct PageRequest {
  std::optional<std::vector<std::string>> after;
  std::size_t limit = 50;
};
// Reads ?cursor= and ?limit= (capped to max).
[[nodiscard]] Result<PageRequest> page_request(const httplib::Request& req, const ApiOptions& options);
[[nodiscard]] std::string encode_cursor(const std::vector<std::string>& key);
// The key a cursor stands for; nothing when the text is not a cursor this API gave out.
[[nodiscard]] std::optional<std::vector<std::string>> decode_cursor(std::string_view text);

// "/v1/partners/x/kpis" -> {"v1", "partners", "x", "kpis"} (empty segments dropped).
[[nodiscard]] std::vector<std::string> split_path(std::string_view path);
// Matches path segments against a route template's ("{name}" captures one segment; "{event}"
// spans as many as the path has to spare, for event ids with '/'). Fills `params` on a match.
bool match_route(const std::vector<std::string>& tpl, const std::vector<std::string>& path,
                 std::map<std::string, std::string>& params);
// The value of one cookie in a request's Cookie header ("" when absent).
[[nodiscard]] std::string cookie_value(const httplib::Request& req, std::string_view name);
// {"items": [...], "next_cursor": ...} from items sorted by key.
[[nodiscard]] json page_of(std::vector<std::pair<std::vector<std::string>, json>> keyed, const PageRequest& page);

// One period of one contract version as a history shows it: each rule's summary (value, status,
// target, sample; no evidence) in the document's sections, and where the numbers came from.
struct HistoryPoint {
  json rules;          // {"kpis": [...], "brand_standards": [...], "obligations": [...]}
  std::string source;  // stored or computed
  std::map<std::string, std::optional<double>> plotted;  // KPIs and obligations by id: KpiResult::plotted()
};

// What a history's chart of one rule draws: its values, one per point of its series, and the
// current version's target line (KPIs and obligations).
struct Plot {
  std::vector<std::optional<double>> ys;
  std::optional<engine::PlotTarget> target;
};
// By (contract, rule id).
using PlottedSeries = std::map<std::pair<std::string, std::string>, Plot>;

// History points shared by every answer: a stored evaluation's is reused for `stored_ttl` (the
// standing cache), a computed one (a period the daemon has not stored) for `computed_ttl`. Several
// requests missing the same point at once wait for one computation instead of each computing it.
class HistoryCache {
 public:
  HistoryCache(std::chrono::milliseconds stored_ttl, std::chrono::milliseconds computed_ttl)
      : stored_ttl_(stored_ttl), computed_ttl_(computed_ttl) {}
  [[nodiscard]] std::shared_ptr<const HistoryPoint> get(const std::string& key, core::Instant now,
                                                        const std::function<HistoryPoint()>& load);

 private:
  struct Entry {
    std::shared_future<std::shared_ptr<const HistoryPoint>> point;
    core::Instant at{};
    bool ready = false;
  };
  std::chrono::milliseconds stored_ttl_;
  std::chrono::milliseconds computed_ttl_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

// One contract's part of a KPI standing rendered from a stored evaluation, kept with the stored
// document's text: the store is read for every answer, the document parsed and rendered only when
// its text changed.
class EntryCache {
 public:
  [[nodiscard]] std::shared_ptr<const json> get(const std::string& key, std::string text,
                                                const std::function<json(const std::string&)>& render);

 private:
  struct Entry {
    std::string text;
    std::shared_ptr<const json> value;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

// The read models, for one request: what `who` may see of the store as of `now`.
class Reader {
 public:
  Reader(store::Store& db, const rules::RuleSet& rules, core::Instant now, const Principal& who,
         HistoryCache* history_cache = nullptr, EntryCache* entries = nullptr)
      : db_(db), rules_(rules), now_(now), who_(who), history_cache_(history_cache), entries_(entries) {}

  // The partner, when it exists and `who` may see it (a partner token sees only its own).
  [[nodiscard]] const rules::PartnerDef* partner(const std::string& id) const;
  [[nodiscard]] std::vector<const rules::PartnerDef*> partners() const;
  // The contract versions of a partner `who` may see (partner tokens: enforced ones only).
  [[nodiscard]] std::vector<const rules::ContractVersion*> versions_of(const std::string& partner) const;
  [[nodiscard]] bool may_see(const rules::ContractVersion& c) const;
  // Whether `who` may review the version as a proposal: the brand's roles every version, a partner
  // token its own partner's enforced versions and those whose current content the brand proposed
  // (never a draft, nor content changed since the proposal).
  [[nodiscard]] bool may_review(const rules::ContractVersion& c) const;

  [[nodiscard]] json partner_json(const rules::PartnerDef& p) const;
  [[nodiscard]] json version_json(const rules::ContractVersion& c) const;

  // Each contract version in effect during the period (the current one when empty): every KPI,
  // brand standard and obligation with value, target, status, sample, interval and forecast.
  [[nodiscard]] Result<json> kpis(const std::string& partner, const std::string& period);
  // The full evidence list of one rule (KPI, standard or obligation id), paged; of one contract
  // (and version) when given, as a notification's evidence link names them.
  [[nodiscard]] Result<json> evidence(const std::string& partner, const std::string& rule, const std::string& period,
                                      const PageRequest& page, const std::string& contract = {},
                                      std::optional<int> version = std::nullopt);
  // The last `periods` periods of each contract, ending with the current one: value and status of
  // each rule (or only `rule`).
  // With `plotted`, also each series' values as numbers to draw.
  [[nodiscard]] Result<json> history(const std::string& partner, const std::string& rule, int periods,
                                     PlottedSeries* plotted = nullptr);
  // Statements with derivations for the period (the current one when empty); with `what_if`, the
  // statement as it would be with those KPI values.
  [[nodiscard]] Result<json> statements(const std::string& partner, const std::string& period,
                                        const std::map<std::string, std::string>* what_if = nullptr);

 private:
  struct Evaluated {
    const rules::ContractVersion* contract;
    engine::PeriodWindow window;
    engine::Evaluation evaluation;
    std::string source;  // stored (the daemon's latest evaluation) or computed (now, for this answer)
  };
  // The windows of the partner's visible versions for a period label (or the current period).
  Result<std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>>> windows(
      const std::string& partner, const std::string& period) const;
  Evaluated evaluate(const rules::ContractVersion& c, const engine::PeriodWindow& w, bool full_evidence);

  // One period of a history, from the cache when there is one.
  std::shared_ptr<const HistoryPoint> history_point(const rules::ContractVersion& c, const engine::PeriodWindow& w);

  store::Store& db_;
  const rules::RuleSet& rules_;
  core::Instant now_;
  const Principal& who_;
  HistoryCache* history_cache_;
  EntryCache* entries_;
};

// Contract versions as proposals, for one request: the versions `who` may see, where one stands,
// what it changes, what it would have paid, and the acts `who`'s party takes on it
// (contract_handlers.cc). The API's contract routes and the portal's contract pages both answer
// from here; versions and their numbers come as the path gives them, and a version `who` may not
// review is not found, exactly as one that does not exist.
class Proposals {
 public:
  Proposals(store::Store& db, const rules::RuleSet& rules, core::Instant now, const Principal& who)
      : db_(db), rules_(rules), now_(now), who_(who), reader_(db, rules, now, who) {}

  [[nodiscard]] const Reader& reader() const { return reader_; }
  // The versions of `contract` (of every contract when empty) `who` may see: enforced ones and,
  // for review, proposals.
  [[nodiscard]] std::vector<const rules::ContractVersion*> visible(const std::string& contract) const;
  // {"contract", "items": [version_json...]}; 404 when `who` sees no version of it.
  [[nodiscard]] Result<json> versions(const std::string& contract) const;
  // The version, when `who` may review it; 400 for a version that is not a number, 404 otherwise.
  [[nodiscard]] Result<const rules::ContractVersion*> find(const std::string& contract, const std::string& version) const;
  // The version, the enforced version it would follow and the thread of acts on it.
  [[nodiscard]] Result<json> proposal(const std::string& contract, const std::string& version) const;
  // The rules added, dropped and changed against the version in force, and every term that differs.
  [[nodiscard]] Result<json> comparison(const std::string& contract, const std::string& version) const;
  // The last `periods` closed periods (text, 1 to 12; "" for 1) priced under the version.
  [[nodiscard]] Result<json> what_if(const std::string& contract, const std::string& version, std::string_view periods) const;
  // Where the version stands from every act recorded so far (the rules served catch up within
  // seconds of an act).
  [[nodiscard]] core::Agreement agreement_now(const rules::ContractVersion& v) const;
  // The acts `who` may take on the version now: those its role allows and the lifecycle would
  // accept (a rejection, change request or comment once it says why), in declaration order.
  [[nodiscard]] std::vector<core::ContractAct> open_acts(const rules::ContractVersion& v) const;
  // Records `act` for `who`'s party: {"act", "agreement"} (the act recorded and where the version
  // stands now); 400 for an unknown act, an approval without the hash it approves or an
  // over-long comment, 403 for an admin approving, 409 with the lifecycle's refusal.
  [[nodiscard]] Result<json> act(const std::string& contract, const std::string& version, std::string_view act,
                                 std::optional<std::string> sha256, std::optional<std::string> comment);

 private:
  store::Store& db_;
  const rules::RuleSet& rules_;
  core::Instant now_;
  const Principal& who_;
  Reader reader_;
};

// A partner's disputes of its numbers and the brand's corrections (docs/disputes.md), for one
// request and one kind: the disputes (or corrections) `who` may see, opening a dispute or
// declaring a correction, and the acts on one (dispute_handlers.cc). The API's dispute and
// correction routes and the portal's disputes page all answer from here. A partner token sees and
// acts on its own partner's only, as the partner; another partner's is not found, exactly as one
// that does not exist, and so is one of the other kind. The brand's approver and finance roles act
// for the brand (answer disputes; declare, withdraw and comment on corrections); admin and viewer
// read them.
class DisputeDesk {
 public:
  DisputeDesk(store::Store& db, const rules::RuleSet& rules, core::Instant now, const Principal& who,
              core::DisputeKind kind = core::DisputeKind::dispute)
      : db_(db), rules_(rules), now_(now), who_(who), kind_(kind) {}

  // "dispute" or "correction": what the desk's answers call the items it serves.
  [[nodiscard]] std::string noun() const { return std::string(core::to_string(kind_)); }
  // Whether `who` acts for the brand (accepts or rejects a dispute, declares or withdraws a
  // correction): approver and finance.
  [[nodiscard]] bool resolves() const { return who_.role == Role::approver || who_.role == Role::finance; }
  // Whether `who` may record acts at all: the partner on its own, approver and finance.
  [[nodiscard]] bool acts() const { return resolves() || who_.role == Role::partner; }
  // The desk's kind of `partner` (of every partner `who` may see when empty), by id, with their
  // thread; only those in `state` when given (400 for a state that is not one).
  [[nodiscard]] Result<std::vector<json>> list(const std::string& partner, const std::string& state) const;
  // One of the desk's kind (400 for an id that is not a number, 404 when `who` may not see it or
  // it is of the other kind).
  [[nodiscard]] Result<json> get(const std::string& id) const;
  // Opens the partner's dispute as `who` (a partner token of that partner; 403 otherwise): the
  // dispute as stored, or 422 with open_dispute's refusal.
  [[nodiscard]] Result<json> open(const ledger::DisputeRequest& request);
  // Declares the brand's correction as `who` (approver or finance; 403 otherwise): the correction
  // as stored, or 422 with declare_correction's refusal.
  [[nodiscard]] Result<json> declare(const ledger::CorrectionRequest& request);
  // Records `act` for `who`'s party: {"act", noun()} (the act and the dispute or correction as it
  // stands now); 400 for an unknown act or an over-long comment, 403 for a role that does not act,
  // 404 for one `who` may not see, 409 with the lifecycle's refusal.
  [[nodiscard]] Result<json> act(const std::string& id, std::string_view act, const std::string& comment);
  // The 403 of a role that reads but does not act.
  [[nodiscard]] Problem read_only() const;

 private:
  Result<store::Dispute> find(const std::string& id) const;

  store::Store& db_;
  const rules::RuleSet& rules_;
  core::Instant now_;
  const Principal& who_;
  core::DisputeKind kind_;
};

// "northwind-support-v4-agreement.json": what an agreement record is saved as.
[[nodiscard]] std::string agreement_file_name(const rules::ContractVersion& v);

// A route: a path template split into segments ("{name}" captures), the roles allowed, and the
// handler. Handlers return the body (JSON) or a problem; they may set headers on `res`.
struct Call {
  const httplib::Request& req;
  httplib::Response& res;
  const Principal& who;
  std::map<std::string, std::string> params;
  std::shared_ptr<const rules::RuleSet> rules;
  core::Instant now;
};

struct Api::Impl {
  Impl(store::Store& d, RulesSnapshot r, const core::Clock& c, core::MetricsRegistry& metrics, ApiOptions o);

  store::Store& db;
  RulesSnapshot rules;
  const core::Clock& clock;
  ApiOptions options;
  HistoryCache history_cache;
  EntryCache standing_entries;

  // Who a bearer token is, or why not (401).
  // With `cached_only`, a token not in the token cache is refused instead of looked up (the caller
  // then takes the path that may look it up).
  Result<Principal> authenticate(std::string_view token, bool cached_only = false);
  // Takes one request from the token's bucket (only looks when `take` is false); the seconds to
  // wait when it is empty.
  std::optional<int> rate_limited(const std::string& token_id, bool take = true);
  // Charges an answer's cost beyond the one request taken: one request per options.cost_unit of
  // processor time it took, so that expensive answers use up a token's rate faster.
  void charge(const std::string& token_id, double cpu_seconds);
  void count(const std::string& method, const std::string& pattern, int status, double seconds);
  void audit(const Principal& who, const std::string& action, const std::string& target, const std::string& outcome);
  // The key that signs agreement records, loaded (or made) once; 503 when there is none.
  Result<ledger::SigningKey> signing_key();
  // The signed agreement record of `v` (ledger/agreement_record.h) from every act recorded on it;
  // 409 while it is not agreed, 503 without a key.
  Result<std::string> agreement_document(const rules::ContractVersion& v, core::Instant now);

  struct CachedToken {
    store::ApiToken token;
    core::Instant fetched{};
  };
  std::mutex tokens_mutex;
  std::unordered_map<std::string, CachedToken> token_cache;  // by SHA-256

  struct Bucket {
    double tokens = 0;
    core::Instant at{};
  };
  std::mutex rate_mutex;
  std::unordered_map<std::string, Bucket> buckets;  // by token id

  struct CachedBody {
    std::string body;
    core::Instant at{};
  };
  std::mutex signing_mutex;
  std::optional<ledger::SigningKey> signing;

  std::mutex standing_mutex;
  std::unordered_map<std::string, CachedBody> standing;  // by partner, period and draft visibility

  // By route template, method and status code.
  core::Family<std::int64_t>& requests;
  core::Family<double>& request_seconds;
};

// The portal's routes (portal.cc), on the same Impl.
void mount_portal(Api::Impl& impl, HttpServer& http);
[[nodiscard]] std::vector<RouteInfo> portal_routes();

// Writes a problem as application/problem+json.
void send_problem(httplib::Response& res, const Problem& p, const std::string& instance);

}  // namespace pactwatch::api
