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
  Cluster(store::Store& store, std::string instance, int shards, std::chrono::milliseconds ttl);

  // Renews, takes and gives back leases as described above. Throws StoreError when the database
  // cannot be reached (the shards held so far are then treated as lost, see owned()).
  HeartbeatResult heartbeat(core::Instant now);
  // Gives back every lease at once (on a clean stop), so others need not wait for the expiry.
  void leave();

  // The guard to store a partner's evaluations under, when this instance owns its shard and the
  // lease has not run out by `now`.
  [[nodiscard]] std::optional<store::LeaseGuard> guard_for(const std::string& partner, core::Instant now) const;
  [[nodiscard]] std::optional<store::LeaseGuard> guard_for_shard(int shard, core::Instant now) const;
  // The shards held and unexpired at `now`.
  [[nodiscard]] std::vector<int> owned(core::Instant now) const;
  [[nodiscard]] int shards() const { return shards_; }
  [[nodiscard]] int shard_of(const std::string& partner) const { return app::shard_of(partner, shards_); }
  [[nodiscard]] const std::string& instance() const { return instance_; }
  // Gauges for /metrics: shards held, live instances seen at the last heartbeat.
  [[nodiscard]] std::string prometheus(core::Instant now) const;

 private:
  struct Held {
    std::int64_t fence = 0;
    core::Instant until{};  // our own view of the expiry: renewed at heartbeat time + ttl
  };
  store::Store& store_;
  std::string instance_;
  int shards_;
  std::chrono::milliseconds ttl_;
  mutable std::mutex mutex_;
  std::map<int, Held> held_;
  int live_ = 0;
};

}  // namespace pactwatch::app
