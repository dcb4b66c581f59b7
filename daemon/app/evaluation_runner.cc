#include "pactwatch/app/evaluation_runner.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <set>
#include <tuple>

#include <spdlog/spdlog.h>

#include "pactwatch/app/cluster.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/engine/evaluation_json.h"
#include "pactwatch/ledger/disputes.h"

namespace pactwatch::app {

store::EvaluationRecord evaluation_record(const nlohmann::json& doc) {
  auto e = engine::evaluation_from_json(doc);
  if (!e) throw std::invalid_argument(e.error());
  return evaluation_record(*e, doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

store::EvaluationRecord evaluation_record(const engine::Evaluation& e, std::string text) {
  store::EvaluationRecord r;
  r.contract = e.contract.id;
  r.version = e.contract.version;
  r.period = e.period.label;
  r.partner = e.contract.partner;
  r.as_of = e.as_of;
  r.input_digest = e.input_digest;
  r.document = std::move(text);
  auto dump = [](const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
  auto rule = [&](const std::string& prefix, const engine::KpiResult& k) {
    r.statuses.push_back({prefix + k.id, std::string(core::to_string(k.status)), dump(engine::value_json(k)), k.target});
  };
  // In document order: KPIs, brand standards, obligations.
  for (const auto& k : e.kpis) rule("kpi:", k);
  for (const auto& s : e.brand_standards) {
    r.statuses.push_back({"standard:" + s.id, std::string(core::to_string(s.status())),
                          dump(nlohmann::json(std::to_string(s.violations.total) + " violation(s)")), std::string()});
  }
  for (const auto& o : e.obligations) rule("obligation:", o);
  return r;
}

RunStats EvaluationRunner::run(std::vector<Job> jobs, std::span<const store::Item> changed,
                               std::span<const store::Item> previous, core::Instant as_of, core::Instant now,
                               bool requeue_lost) {
  if (cache_as_of_ != as_of) {
    forget_all();
    cache_as_of_ = as_of;
  }
  // With a cluster, shard by shard (job order within each): a batch then lies in few shards, and
  // the results are stored in the order one transaction per shard would store them.
  if (cluster_) {
    std::stable_sort(jobs.begin(), jobs.end(),
                     [&](const Job& a, const Job& b) { return cluster_->shard_of(a.partner) < cluster_->shard_of(b.partner); });
  }
  // The accepted disputes and corrections, read once per run (one query; few rows): each job
  // applies its contract version's, as of the run's instant.
  const auto accepted = store_.disputes().accepted_all();
  const auto started = std::chrono::steady_clock::now();
  spdlog::debug("evaluation: computing {} contract period(s)", jobs.size());
  RunStats stats;
  std::size_t first = 0;
  while (first < jobs.size()) {
    // Reading, preparing and evaluating run on up to two workers (this is a 2-core machine's
    // worth); the batch is then stored in job order, in one durable transaction (per shard), so
    // the recorded history never depends on thread timing and a batch is stored whole or not at all.
    const auto batch_started = std::chrono::steady_clock::now();
    std::vector<store::EvaluationRecord> records;
    std::size_t end = first;
    try {
      end = compute_batch(jobs, first, changed, previous, as_of, accepted, records);
      check_abort();  // computed but not stored: the next run computes it again
    } catch (...) {
      forget_all();  // a half-applied change must not survive
      throw;
    }
    const auto computed = std::chrono::steady_clock::now();
    stats.compute += std::chrono::duration_cast<std::chrono::microseconds>(computed - batch_started);
    try {
      const std::span<const Job> part(jobs.data() + first, end - first);
      // The work ran from `now` for as long as the steady clock says.
      const auto finished = now + std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      stats.status_changes += cluster_ ? save_by_shard(part, records, now, finished, requeue_lost)
                                       : static_cast<std::int64_t>(store_.evaluations().save_all(records, now).size());
    } catch (...) {
      forget_all();
      throw;
    }
    stats.save += std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - computed);
    stats.evaluations += static_cast<std::int64_t>(records.size());
    if (metrics_ && full_run_) metrics_->count_statuses(records);
    keep_within_budget(jobs, first, end);
    first = end;
  }
  if (metrics_) metrics_->record(full_run_ ? "full" : "incremental", stats);
  return stats;
}

std::size_t EvaluationRunner::compute_batch(const std::vector<Job>& jobs, std::size_t first,
                                            std::span<const store::Item> changed, std::span<const store::Item> previous,
                                            core::Instant as_of, const std::vector<store::AcceptedDispute>& accepted,
                                            std::vector<store::EvaluationRecord>& records) {
  // Slots are created here, on one thread; each worker then fills only its own jobs' slots. A
  // batch takes at most kMaxBatch jobs; the workers stop taking more once its prepared periods
  // and documents reach a quarter of the budget (with none, a batch is the job each worker had).
  const std::size_t last = std::min(jobs.size(), first + kMaxBatch);
  std::vector<Kept*> slots;
  for (std::size_t i = first; i < last; ++i) {
    const auto& j = jobs[i];
    slots.push_back(&cache_[Key{j.contract->contract, j.contract->version, j.window.label}]);
  }
  records.assign(last - first, {});
  std::vector<char> done(last - first, 0);
  std::atomic<std::size_t> next{first};
  std::atomic<std::size_t> in_flight{0};
  const std::size_t batch_bytes = budget_ / 4;
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    try {
      for (std::size_t i = next++; i < last; i = next++) {
        check_abort();
        const Job& job = jobs[i];
        auto& kept = *slots[i - first];
        auto& state = kept.state;
        if (state) {
          // Kept: apply the change item by item (the previous versions leave first).
          for (const auto& p : previous) {
            if (p.partner_id == job.partner) state->erase(p.source, p.kind, p.external_id);
          }
          for (const auto& c : changed) {
            if (c.partner_id == job.partner) state->upsert(c);
          }
        } else {
          // Only the items that can count in the period are read (the state narrows them further).
          state = std::make_unique<engine::PeriodState>(*job.contract, rules_.calendars.at(job.contract->calendar),
                                                        job.window, as_of);
          std::size_t n = 0;
          for (const auto& item : store_.items().for_period(job.partner, job.window.start, job.window.end)) {
            if (++n % 1024 == 0) check_abort();
            state->upsert(item);
          }
        }
        state->set_exclusions(ledger::exclusions_for(accepted, *job.contract, job.window, as_of));
        const auto evaluation = state->evaluation();
        auto& record = records[i - first];
        record = evaluation_record(evaluation, engine::render_evaluation(evaluation));
        kept.bytes = state->memory_bytes();
        done[i - first] = 1;
        if ((in_flight += kept.bytes + record.document.size()) >= batch_bytes) {
          // Full: no worker takes another job of this batch.
          std::size_t expected = next.load();
          while (expected < last && !next.compare_exchange_weak(expected, last)) {
          }
        }
      }
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = last;
    }
  };
  const std::size_t workers = std::min<std::size_t>(2, last - first);
  std::vector<std::thread> threads;
  for (std::size_t w = 1; w < workers; ++w) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
  // The jobs done form a prefix: a worker takes indices in order and only stops taking them.
  std::size_t end = first;
  while (end < last && done[end - first]) ++end;
  for (std::size_t i = end; i < last; ++i) {
    const auto& j = jobs[i];
    const Key key{j.contract->contract, j.contract->version, j.window.label};
    if (auto it = cache_.find(key); it != cache_.end() && !it->second.state) cache_.erase(it);  // a slot never filled
  }
  records.resize(end - first);
  return end;
}

void EvaluationRunner::keep_within_budget(const std::vector<Job>& jobs, std::size_t first, std::size_t end) {
  for (std::size_t i = first; i < end; ++i) {
    const auto& j = jobs[i];
    const Key key{j.contract->contract, j.contract->version, j.window.label};
    auto it = cache_.find(key);
    if (it == cache_.end()) continue;  // forgotten meanwhile (its shard was lost)
    auto& kept = it->second;
    if (kept.used != 0) {
      by_use_.erase({kept.used, key});
      kept_bytes_ -= std::min(kept_bytes_, kept.accounted);
    }
    kept.used = ++tick_;
    kept.accounted = kept.bytes;
    kept_bytes_ += kept.bytes;
    by_use_.insert({kept.used, key});
  }
  const std::size_t limit = keep_ ? budget_ : 0;
  while (kept_bytes_ > limit && !by_use_.empty()) forget(by_use_.begin()->second);
}

void EvaluationRunner::forget(const Key& key) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return;
  if (it->second.used != 0) {
    by_use_.erase({it->second.used, key});
    kept_bytes_ -= std::min(kept_bytes_, it->second.accounted);
  }
  cache_.erase(it);
}

void EvaluationRunner::forget_all() {
  cache_.clear();
  by_use_.clear();
  kept_bytes_ = 0;
}

void EvaluationRunner::check_abort() const {
  if (abort_ && abort_->load()) throw EvaluationAborted("abandoned: the daemon is stopping or reloading; the batch in progress was not stored");
}

store::QueuedEvaluation EvaluationRunner::request_for(const Job& job, core::Instant now) const {
  return {job.contract->contract, job.contract->version, job.window.start, cluster_->shard_of(job.partner), job.partner, 0, now};
}

std::int64_t EvaluationRunner::save_by_shard(std::span<const Job> jobs, std::span<store::EvaluationRecord> records,
                                             core::Instant now, core::Instant finished, bool requeue_lost) {
  std::map<int, std::vector<std::size_t>> by_shard;  // in job order within each shard
  for (std::size_t i = 0; i < jobs.size(); ++i) by_shard[cluster_->shard_of(jobs[i].partner)].push_back(i);
  std::int64_t changes = 0;
  std::vector<store::QueuedEvaluation> requeue;
  for (const auto& [shard, indices] : by_shard) {
    std::vector<store::EvaluationRecord> part;
    store::SaveContext context;
    for (auto i : indices) {
      part.push_back(std::move(records[i]));
      if (jobs[i].answers) context.answered.push_back(*jobs[i].answers);
    }
    context.guard = cluster_->guard_for_shard(shard, now);
    try {
      if (!context.guard) throw store::LeaseLost(shard_lease(shard) + " is no longer this instance's");
      // The work on this shard began no earlier than the run, nor than the lease it is stored under.
      const auto began = std::max(now, cluster_->held_since(shard).value_or(now));
      context.work = store::WorkEntry{context.guard->name, context.guard->holder, context.guard->fence, began,
                                      std::max(began, finished), static_cast<std::int64_t>(part.size())};
      changes += static_cast<std::int64_t>(store_.evaluations().save_all(part, now, &context).size());
    } catch (const store::LeaseLost& e) {
      // Another instance owns these partners now; it evaluates them on taking the shard over, and
      // changed items are left in the queue for it.
      spdlog::info("evaluation of {} period(s) not stored: {}", part.size(), e.what());
      for (auto i : indices) {
        forget(Key{jobs[i].contract->contract, jobs[i].contract->version, jobs[i].window.label});
        if (requeue_lost && !jobs[i].answers) requeue.push_back(request_for(jobs[i], now));
      }
    }
  }
  store_.queue().enqueue(requeue, now);
  return changes;
}

EvaluationMetrics::EvaluationMetrics(core::MetricsRegistry& r)
    : runs_(r.integers({"pactwatch_evaluation_runs_total", core::MetricType::counter, "Evaluation runs by kind.", {"kind"}})),
      periods_(r.integers({"pactwatch_evaluation_periods_total", core::MetricType::counter,
                           "Contract periods evaluated, by kind of run.", {"kind"}})),
      seconds_(r.reals({"pactwatch_evaluation_seconds_total", core::MetricType::counter,
                        "Time spent evaluating and saving, by kind of run.", {"kind"}})),
      rules_by_status_(r.integers({"pactwatch_rules_by_status", core::MetricType::gauge,
                                   "Rules by status in the last full evaluation.", {"status"}})) {}

void EvaluationMetrics::count_statuses(std::span<const store::EvaluationRecord> records) {
  for (const auto& r : records) {
    for (const auto& st : r.statuses) ++counting_[{st.status}];
  }
}

void EvaluationMetrics::record(const std::string& kind, const RunStats& s) {
  runs_.with({kind}).add();
  periods_.with({kind}).add(s.evaluations);
  seconds_.with({kind}).add(static_cast<double>((s.compute + s.save).count()) / 1e6);
  if (kind == "full") {
    // A full run's batches were counted as they were stored.
    rules_by_status_.set_all(counting_);
    counting_.clear();
  }
}

RunStats EvaluationRunner::run_full(core::Instant as_of, core::Instant now, std::span<const int> shards) {
  std::vector<Job> jobs;
  std::set<int> mine;
  if (cluster_) {
    const auto owned = cluster_->owned(now);
    for (int sh : owned) {
      if (shards.empty() || std::find(shards.begin(), shards.end(), sh) != shards.end()) mine.insert(sh);
    }
  }
  for (const auto& p : rules_.partners) {
    if (cluster_ && !mine.contains(cluster_->shard_of(p.id))) continue;
    for (const auto& c : rules_.contracts) {
      if (c.partner != p.id) continue;
      const auto& cal = rules_.calendars.at(c.calendar);
      auto window = engine::period_containing(c, cal, as_of);
      if (!window) continue;
      // The period before stays evaluated too: late solves and corrections keep arriving for it
      // after it ends, and keeping it prepared lets them cost an incremental update.
      if (c.period.kind != rules::Period::Kind::rolling) {
        auto before = engine::period_containing(c, cal, window->start - std::chrono::milliseconds(1));
        if (before && engine::in_effect_during(c, *before)) jobs.push_back({p.id, &c, *before, std::nullopt});
      }
      if (engine::in_effect_during(c, *window)) jobs.push_back({p.id, &c, *window, std::nullopt});
    }
  }
  // A full run reads everything afresh.
  forget_all();
  cache_as_of_ = as_of;
  full_run_ = true;
  if (metrics_) metrics_->start_full();
  auto stats = run(std::move(jobs), {}, {}, as_of, now);
  full_run_ = false;
  return stats;
}

std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>> EvaluationRunner::periods_at(
    const std::string& partner, core::Instant t, core::Instant as_of) const {
  std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>> out;
  for (const auto& c : rules_.contracts) {
    if (c.partner != partner) continue;
    const auto& cal = rules_.calendars.at(c.calendar);
    // A rolling window only ever means the one ending at as_of.
    auto window = engine::period_containing(c, cal, c.period.kind == rules::Period::Kind::rolling ? as_of : t);
    if (!window || window->start > as_of || !engine::in_effect_during(c, *window)) continue;
    // (An intent's instant is floored to its quarter hour: it may lie up to that much before the item's.)
    if (c.period.kind == rules::Period::Kind::rolling && (t + store::kIntentGrain <= window->start || t >= window->end)) continue;
    out.emplace_back(&c, *window);
  }
  return out;
}

RunStats EvaluationRunner::run_incremental(std::span<const store::Item> changed, std::span<const store::Item> previous,
                                           core::Instant as_of, core::Instant now) {
  // (partner, contract, version, period label) -> job, ordered so that jobs group by partner.
  std::map<std::tuple<std::string, std::string, int, std::string>, Job> wanted;
  // Every period the items can count in, in their new and replaced versions: the periods their
  // evaluation intents fall in, the same ones a stored page records (core::counting_instants).
  for (const auto& intent : store::evaluation_intents_of(changed, previous)) {
    for (const auto& [c, window] : periods_at(intent.partner, intent.at, as_of)) {
      wanted.emplace(std::tuple{c->partner, c->contract, c->version, window.label}, Job{c->partner, c, window, std::nullopt});
    }
  }
  std::vector<Job> jobs;
  std::vector<store::QueuedEvaluation> theirs;
  for (auto& [key, job] : wanted) {
    // Another instance's partner: its owner evaluates the period from the queue.
    if (cluster_ && !cluster_->guard_for(job.partner, now)) theirs.push_back(request_for(job, now));
    else jobs.push_back(std::move(job));
  }
  store_.queue().enqueue(theirs, now);
  return run(std::move(jobs), changed, previous, as_of, now, true);
}

void EvaluationRunner::queue_intents(core::Instant as_of, core::Instant now) {
  const auto intents = store_.queue().intents();
  if (intents.empty()) return;
  std::map<std::tuple<std::string, int, core::Instant>, store::QueuedEvaluation> requests;
  for (const auto& i : intents) {
    for (const auto& [c, window] : periods_at(i.partner, i.at, as_of)) {
      requests.try_emplace(std::tuple{c->contract, c->version, window.start},
                           store::QueuedEvaluation{c->contract, c->version, window.start, cluster_->shard_of(i.partner), i.partner, 0, now});
    }
  }
  std::vector<store::QueuedEvaluation> list;
  for (auto& [key, q] : requests) list.push_back(std::move(q));
  // Intents that fall in no period in effect (a partner without a contract then) are done too.
  store_.queue().queue_intents(list, intents, now);
  spdlog::debug("evaluation: {} intent(s) of stored pages queued as {} contract period(s)", intents.size(), list.size());
}

RunStats EvaluationRunner::run_queued(core::Instant as_of, core::Instant now) {
  if (!cluster_) return {};
  queue_intents(as_of, now);
  const auto shards = cluster_->owned(now);
  std::vector<Job> jobs;
  std::vector<store::QueuedEvaluation> obsolete;
  for (auto& q : store_.queue().waiting(shards)) {
    const rules::ContractVersion* contract = nullptr;
    for (const auto& c : rules_.contracts) {
      if (c.contract == q.contract && c.version == q.version) contract = &c;
    }
    std::optional<engine::PeriodWindow> window;
    if (contract) {
      if (auto w = engine::period_containing(*contract, rules_.calendars.at(contract->calendar), q.period_start)) window = *w;
    }
    if (!contract || !window || window->start != q.period_start) {
      obsolete.push_back(q);  // the contract changed since: nothing left to evaluate
      continue;
    }
    // Read afresh: whatever was prepared here before predates the items that caused the request.
    forget(Key{contract->contract, contract->version, window->label});
    jobs.push_back({q.partner, contract, *window, q});
  }
  for (const auto& q : obsolete) {
    store::SaveContext context;
    context.answered.push_back(q);
    context.guard = cluster_->guard_for_shard(q.shard, now);
    try {
      if (context.guard) (void)store_.evaluations().save_all({}, now, &context);
    } catch (const store::LeaseLost&) {
      // The shard moved on: its new owner deletes the request.
    }
  }
  if (jobs.empty()) return {};
  return run(std::move(jobs), {}, {}, as_of, now);
}

}  // namespace pactwatch::app
