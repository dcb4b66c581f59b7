// Several instances sharing one database divide the partners between them. Partners fall into a
// fixed number of shards by a stable hash of their id; each shard is evaluated by the instance
// holding its lease ("shard:N"). Every instance keeps a membership lease ("instance:NAME") and, on
// each heartbeat, renews what it holds, takes free or expired shards up to its fair share (the
// shard count divided by the live instances, rounded up) and gives back what lies beyond it. An
// instance that dies stops renewing: its shards expire and the others take them within the lease
// time plus a heartbeat. Which shards an instance prefers comes from a hash of its name and the
// shard (rendezvous hashing), so instances spread without talking to each other.
// Thread-safe: heartbeats run on their own thread while evaluations ask who owns what.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pactwatch/core/clock.h"
#include "pactwatch/core/metrics.h"
#include "pactwatch/core/time.h"
#include "pactwatch/store/store.h"

namespace pactwatch::app {

// The shard of a partner among `shards`: FNV-1a of the id, the same on every instance and build.
[[nodiscard]] int shard_of(const std::string& partner, int shards);
[[nodiscard]] std::string shard_lease(int shard);

struct HeartbeatResult {
  std::vector<int> taken;     // shards newly held: their partners need a full evaluation here
  std::vector<int> released;  // shards given back (beyond the fair share) or lost (expired)
  int live_instances = 0;
};

class Cluster {
 public:
  Cluster(store::Store& store, std::string instance, int shards, std::chrono::milliseconds ttl, const core::Clock& clock);

  // Renews, takes and gives back leases as described above, as of the clock's now. Throws
  // StoreError when the database cannot be reached (what is held stays usable only until its own
  // expiry, see owned()).
  HeartbeatResult heartbeat();
  // Gives back every lease this instance holds (shards, sources, the notification queue, its
  // membership) at once, on a clean stop, so others need not wait for the expiry.
  void leave();

  // The guard to store a partner's evaluations under, when this instance owns its shard and the
  // lease has not run out by `now`.
  [[nodiscard]] std::optional<store::LeaseGuard> guard_for(const std::string& partner, core::Instant now) const;
  [[nodiscard]] std::optional<store::LeaseGuard> guard_for_shard(int shard, core::Instant now) const;
  // The shards held and unexpired at `now`.
  [[nodiscard]] std::vector<int> owned(core::Instant now) const;
  // When this instance took the shard under its current fence (read from the clock after the
  // claim succeeded): no work on it under that fence can have begun earlier.
  [[nodiscard]] std::optional<core::Instant> held_since(int shard) const;
  [[nodiscard]] int shards() const { return shards_; }
  [[nodiscard]] int shard_of(const std::string& partner) const { return app::shard_of(partner, shards_); }
  [[nodiscard]] const std::string& instance() const { return instance_; }
  // Registers its gauges on `metrics` (the daemon's /metrics), read at each render with the
  // clock's now: shards held, shards in all, live instances seen at the last heartbeat. The
  // cluster must outlive the renders.
  void register_metrics(core::MetricsRegistry& metrics) const;
  // Why this instance cannot do its share of the evaluation work at `now`, or nothing when it
  // can (for /readyz): no heartbeat has succeeded yet, or none for a lease time, or it holds no
  // shard while other instances' leases (a dead instance's among them, until they run out) hold
  // every one although there are shards enough for all.
  [[nodiscard]] std::optional<std::string> not_ready(core::Instant now) const;

 private:
  struct Held {
    std::int64_t fence = 0;
    core::Instant until{};  // our own view of the expiry: renewed at heartbeat time + ttl
    core::Instant since{};  // taken at (after the claim)
  };
  store::Store& store_;
  std::string instance_;
  int shards_;
  std::chrono::milliseconds ttl_;
  const core::Clock& clock_;
  std::vector<int> preference_;  // the shards in this instance's order of preference, best first
  mutable std::mutex mutex_;
  std::map<int, Held> held_;
  int live_ = 0;
  std::optional<core::Instant> last_ok_;  // the last heartbeat that succeeded
};

}  // namespace pactwatch::app
