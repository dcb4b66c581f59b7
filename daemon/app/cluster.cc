#include "pactwatch/app/cluster.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace pactwatch::app {

namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

constexpr std::string_view kInstancePrefix = "instance:";

}  // namespace

int shard_of(const std::string& partner, int shards) {
  return static_cast<int>(fnv1a(partner) % static_cast<std::uint64_t>(std::max(shards, 1)));
}

std::string shard_lease(int shard) { return "shard:" + std::to_string(shard); }

Cluster::Cluster(store::Store& store, std::string instance, int shards, std::chrono::milliseconds ttl,
                 const core::Clock& clock)
    : store_(store), instance_(std::move(instance)), shards_(std::max(shards, 1)), ttl_(ttl), clock_(clock) {
  // Rendezvous hashing: this instance's own order of the shards, best first.
  std::vector<std::pair<std::uint64_t, int>> weighted;
  for (int s = 0; s < shards_; ++s) weighted.emplace_back(fnv1a(instance_ + "/" + std::to_string(s)), s);
  std::sort(weighted.rbegin(), weighted.rend());
  for (const auto& [weight, s] : weighted) preference_.push_back(s);
}

HeartbeatResult Cluster::heartbeat() {
  HeartbeatResult result;
  const auto now = clock_.now();
  const auto until = now + ttl_;
  std::map<int, Held> held;
  {
    std::lock_guard lock(mutex_);
    held = held_;
  }
  try {
    (void)store_.leases().claim(std::string(kInstancePrefix) + instance_, instance_, now, ttl_);
    const auto leases = store_.leases().all();
    int live = 0;
    std::set<int> busy;  // shards another instance holds unexpired
    for (const auto& l : leases) {
      if (l.name.starts_with(kInstancePrefix) && l.expires_at > now) ++live;
      if (l.name.starts_with("shard:") && l.holder != instance_ && l.expires_at > now) {
        busy.insert(std::atoi(l.name.c_str() + 6));
      }
    }
    live = std::max(live, 1);
    result.live_instances = live;
    const int share = (shards_ + live - 1) / live;

    // Renew what we hold (a lease that ran out and was taken back gets a new fence: new work).
    for (auto it = held.begin(); it != held.end();) {
      const auto fence = store_.leases().claim(shard_lease(it->first), instance_, now, ttl_);
      if (!fence) {
        result.released.push_back(it->first);
        it = held.erase(it);
        continue;
      }
      if (*fence != it->second.fence) {
        result.taken.push_back(it->first);
        it->second = {*fence, until, clock_.now()};
      } else {
        it->second.until = until;
      }
      ++it;
    }
    // Give back what lies beyond our share, least preferred first.
    for (auto r = preference_.rbegin(); r != preference_.rend() && static_cast<int>(held.size()) > share; ++r) {
      if (!held.contains(*r)) continue;
      (void)store_.leases().release(shard_lease(*r), instance_);
      held.erase(*r);
      result.released.push_back(*r);
    }
    // Take free or expired shards up to our share, most preferred first.
    for (int s : preference_) {
      if (static_cast<int>(held.size()) >= share) break;
      if (held.contains(s) || busy.contains(s)) continue;
      if (std::find(result.released.begin(), result.released.end(), s) != result.released.end()) continue;
      if (const auto fence = store_.leases().claim(shard_lease(s), instance_, now, ttl_)) {
        held[s] = {*fence, until, clock_.now()};
        result.taken.push_back(s);
      }
    }
  } catch (const store::StoreError&) {
    // Whatever we held may run out before we can renew it: keep it only until its own expiry
    // (owned() and guard_for() check that), and let the caller report the failure.
    std::lock_guard lock(mutex_);
    live_ = 0;
    throw;
  }
  std::lock_guard lock(mutex_);
  held_ = std::move(held);
  live_ = result.live_instances;
  last_ok_ = now;
  return result;
}

std::optional<std::string> Cluster::not_ready(core::Instant now) const {
  std::lock_guard lock(mutex_);
  if (!last_ok_) return "starting: no cluster heartbeat yet";
  if (now - *last_ok_ > ttl_) return "no cluster heartbeat since " + core::format_rfc3339(*last_ok_);
  std::size_t held = 0;
  for (const auto& [s, h] : held_) held += now < h.until ? 1u : 0u;
  if (held == 0 && live_ <= shards_) {
    return "waiting for partner shards: other instances' leases hold all " + std::to_string(shards_) + " (" +
           std::to_string(live_) + " instance(s) seen, a dead one among them until its leases run out)";
  }
  return std::nullopt;
}

void Cluster::leave() {
  std::map<int, Held> held;
  {
    std::lock_guard lock(mutex_);
    held.swap(held_);
  }
  try {
    for (const auto& [s, h] : held) (void)store_.leases().release(shard_lease(s), instance_);
    // And whatever else this instance holds: its sources, the notification queue, its membership.
    for (const auto& l : store_.leases().all()) {
      if (l.holder == instance_) (void)store_.leases().release(l.name, instance_);
    }
  } catch (const store::StoreError& e) {
    spdlog::warn("cluster: could not give back the leases ({}); others take them when they expire", e.what());
  }
}

std::optional<store::LeaseGuard> Cluster::guard_for_shard(int shard, core::Instant now) const {
  std::lock_guard lock(mutex_);
  const auto it = held_.find(shard);
  if (it == held_.end() || now >= it->second.until) return std::nullopt;
  return store::LeaseGuard{shard_lease(shard), instance_, it->second.fence};
}

std::optional<store::LeaseGuard> Cluster::guard_for(const std::string& partner, core::Instant now) const {
  return guard_for_shard(shard_of(partner), now);
}

std::optional<core::Instant> Cluster::held_since(int shard) const {
  std::lock_guard lock(mutex_);
  const auto it = held_.find(shard);
  if (it == held_.end()) return std::nullopt;
  return it->second.since;
}

std::vector<int> Cluster::owned(core::Instant now) const {
  std::lock_guard lock(mutex_);
  std::vector<int> out;
  for (const auto& [s, h] : held_) {
    if (now < h.until) out.push_back(s);
  }
  return out;
}

void Cluster::register_metrics(core::MetricsRegistry& metrics) const {
  using Samples = core::ComputedFamily::Samples;
  metrics.computed({"pactwatch_cluster_shards_owned", core::MetricType::gauge, "Partner shards this instance evaluates.", {}},
                   [this] { return Samples{{{}, static_cast<std::int64_t>(owned(clock_.now()).size())}}; });
  metrics.computed({"pactwatch_cluster_shards", core::MetricType::gauge, "Partner shards in all (cluster.shards).", {}},
                   [this] { return Samples{{{}, shards_}}; });
  metrics.computed({"pactwatch_cluster_instances", core::MetricType::gauge, "Live instances seen at the last heartbeat.", {}}, [this] {
    std::lock_guard lock(mutex_);
    return Samples{{{}, static_cast<std::int64_t>(live_)}};
  });
}

}  // namespace pactwatch::app
