// The world the reliability drills run pactwatch in: a fake Freshdesk releasing tickets over
// time, a fake webhook receiver, and a rules directory and config for `pactwatch serve` over both.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/store.h"
#include "fake_http.h"
#include "process.h"
#include "temp_dir.h"
#include "wait.h"

namespace pactwatch::drills {

using nlohmann::json;

inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

// YYYY-MM of the month `back` months before now's.
inline std::string month_before(core::Instant now, int back) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(now)};
  const auto m = std::chrono::year_month{ymd.year(), ymd.month()} - std::chrono::months(back);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(m.year()), static_cast<unsigned>(m.month()));
  return buf;
}

struct Ticket {
  int id;
  int partner;
  std::string created, replied, updated;
};

// The fake help desk: Freshdesk's tickets endpoint over the tickets released so far.
class FakeDesk {
 public:
  FakeDesk(std::vector<Ticket> tickets, std::uint64_t seed) : tickets_(std::move(tickets)), rng_(seed) {
    http_.get("/api/v2/tickets", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex_);
        if (std::uniform_int_distribution<int>(0, 99)(rng_) < 5) {
          res.status = 503;
          res.set_content("{\"message\": \"try again\"}", "application/json");
          return;
        }
      }
      const std::string since = req.get_param_value("updated_since");
      const int page = std::max(1, std::atoi(req.get_param_value("page").c_str()));
      const int per_page = std::max(1, std::atoi(req.get_param_value("per_page").c_str()));
      std::vector<const Ticket*> matching;
      for (int i = 0; i < released(); ++i) {
        if (tickets_[static_cast<std::size_t>(i)].updated >= since) matching.push_back(&tickets_[static_cast<std::size_t>(i)]);
      }
      json out = json::array();
      for (std::size_t i = static_cast<std::size_t>((page - 1) * per_page); i < matching.size() && out.size() < static_cast<std::size_t>(per_page); ++i) {
        const Ticket& t = *matching[i];
        out.push_back({{"id", t.id}, {"status", 4}, {"priority", 2}, {"company_id", 9000 + t.partner}, {"created_at", t.created},
                       {"updated_at", t.updated}, {"stats", {{"first_responded_at", t.replied}, {"resolved_at", t.updated}}}});
      }
      res.set_content(out.dump(), "application/json");
    });
    http_.start();
  }
  void release(int n) { released_ = std::min(n, static_cast<int>(tickets_.size())); }
  [[nodiscard]] int released() const { return released_; }
  [[nodiscard]] int port() const { return http_.port(); }
  [[nodiscard]] const std::vector<Ticket>& tickets() const { return tickets_; }

 private:
  std::vector<Ticket> tickets_;
  std::atomic<int> released_{0};
  std::mutex mutex_;
  std::mt19937_64 rng_;
  testutils::FakeHttp http_;  // last: stopped before the state its handler uses goes
};

// The fake receiver: every attempt recorded (id, body); a fifth of the events fail at first.
class Receiver {
 public:
  explicit Receiver(std::uint64_t seed) : rng_(seed) {
    http_.post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      // A receiver that takes its time: a kill can land while a send is in flight, and the drill
      // can tell it did.
      ++in_flight_;
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      struct Done {
        std::atomic<int>& n;
        ~Done() { --n; }
      } done{in_flight_};
      std::lock_guard lock(mutex_);
      const std::string id = req.get_header_value("webhook-id");
      bodies_[id].insert(json::parse(req.body, nullptr, false).dump());
      ++attempts_;
      // A fifth of the events fail their first attempt (the retry comes 5 s later; a second
      // failure would wait 5 minutes, past the drill's quiet period).
      if (bodies_[id].size() == 1 && ++tries_[id] == 1 && std::uniform_int_distribution<int>(0, 99)(rng_) < 20) {
        res.status = 503;
        return;
      }
      delivered_.insert(id);
      res.status = 200;
    });
    http_.start();
  }
  [[nodiscard]] int port() const { return http_.port(); }
  std::set<std::string> delivered() {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  std::map<std::string, std::set<std::string>> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  int attempts() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  // Requests being answered right now.
  [[nodiscard]] int in_flight() const { return in_flight_; }

 private:
  std::mutex mutex_;
  std::mt19937_64 rng_;
  std::set<std::string> delivered_;
  std::map<std::string, std::set<std::string>> bodies_;
  std::map<std::string, int> tries_;
  int attempts_ = 0;
  std::atomic<int> in_flight_{0};
  testutils::FakeHttp http_;  // last: stopped before the state its handler uses goes
};

// `n` tickets of `partners` partners in `month`, ten minutes apart; one reply in five is slow, so
// partners' ratios move around the 90% target as tickets arrive.
inline std::vector<Ticket> make_tickets(int n, int partners, const std::string& month) {
  std::vector<Ticket> tickets;
  for (int i = 0; i < n; ++i) {
    const auto created = *core::parse_rfc3339(month + "-01T00:00:00Z") + std::chrono::minutes(10 * i);
    const bool slow = (i * 7 + i / partners) % 5 == 0;
    tickets.push_back({1000 + i, i % partners, core::format_rfc3339(created),
                       core::format_rfc3339(created + (slow ? std::chrono::minutes(180) : std::chrono::minutes(10))),
                       core::format_rfc3339(created + std::chrono::hours(4))});
  }
  return tickets;
}

struct World {
  std::filesystem::path config;
  int port = 0;  // serve's HTTP port
};

// Partners p0.. (Freshdesk companies 9000..), one approved contract each (first reply within an
// hour for 90% of tickets, a fixed base), and a config: the desk polled every second in pages of
// `per_page`, events delivered to the receiver, short leases, a full evaluation every 10 s.
inline World write_world(const testutils::TempDir& dir, const std::string& binary, const std::string& db_url, int partners,
                         int per_page, int desk_port, int receiver_port) {
  std::string list = "partners:\n";
  for (int p = 0; p < partners; ++p) {
    list += "  - {id: p" + std::to_string(p) + ", name: Partner " + std::to_string(p) +
            ", kind: outsourcer, external_ids: {desk: " + std::to_string(9000 + p) + "}}\n";
  }
  dir.write("rules/partners.yaml", list);
  for (int p = 0; p < partners; ++p) {
    const std::string text = "contract: c" + std::to_string(p) + "\nversion: 1\npartner: p" + std::to_string(p) +
                             "\neffective: {from: 2020-01-01}\ncurrency: EUR\ncalendar: 24x7\n"
                             "kpis:\n  - {id: reply, source: tickets, measure: {ratio: first_reply <= 1h}, "
                             "objective: {target: \">= 90%\"}, min_sample: 1}\ncompensation:\n  base: {fixed: \"1000.00\"}\n";
    const auto file = dir.write("rules/contracts/c" + std::to_string(p) + ".yaml", text);
    const std::string hash = testutils::run({binary, "contract", "hash", file.string()}).out.substr(0, 64);
    dir.write("rules/contracts/c" + std::to_string(p) + ".yaml",
              text + "approvals:\n  - {party: brand, by: b@brand.example, at: 2020-01-01T00:00:00Z, sha256: " + hash +
                  "}\n  - {party: partner, by: p@p.example, at: 2020-01-01T00:00:00Z, sha256: " + hash + "}\n");
  }
  const auto key = dir.write("desk.key", "abc\n");
  const auto hook_secret = dir.write("hook.secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  World w;
  w.port = testutils::free_port();
  w.config = dir.write(
      "pactwatch.yaml",
      "listen: 127.0.0.1:" + std::to_string(w.port) + "\ndatabase:\n  url: " + db_url + "\nrules_dir: " + (dir.path() / "rules").string() +
          "\nsources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(desk_port) +
          "\n    auth: {type: api_key, secret_file: " + key.string() + "}\n    poll_interval: 1s\n    page_size: " +
          std::to_string(per_page) + "\n    since: 2000-01-01T00:00:00Z\n"
          "notify:\n  channels:\n    ops:\n      type: webhook\n      url: http://127.0.0.1:" + std::to_string(receiver_port) +
          "/hook\n      secret_file: " + hook_secret.string() + "\n"
          "cluster:\n  instance: drill\n  lease_ttl: 2s\nevaluation:\n  full_interval: 10s\n");
  // The contracts' approvals recorded in the store: only recorded approvals enforce.
  const auto adopted = testutils::run({binary, "contract", "adopt", "--all", "--vouched-by", "drill", "-c", w.config.string()});
  if (adopted.exit_code != 0) throw std::runtime_error("contract adopt: " + adopted.err);
  return w;
}

// The cursor never runs ahead of the data: every ticket the stored cursor has moved past (older
// than its `since`, or on a page before its `page`) is stored.
inline void expect_cursor_behind_data(store::Store& s, const std::vector<Ticket>& tickets, int per_page, const std::string& when) {
  const auto cursor = s.sources().cursor("desk");
  if (!cursor) return;
  const json c = json::parse(*cursor, nullptr, false);
  ASSERT_TRUE(c.is_object()) << *cursor;
  const std::string since = c.value("since", std::string());
  const int page = c.value("page", 1);
  std::vector<const Ticket*> after;
  for (const auto& t : tickets) {
    if (t.updated < since) {
      EXPECT_TRUE(s.items().find("desk", "tickets", std::to_string(t.id))) << when << ": ticket " << t.id << " is behind cursor " << *cursor;
    } else {
      after.push_back(&t);
    }
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>((page - 1) * per_page) && i < after.size(); ++i) {
    EXPECT_TRUE(s.items().find("desk", "tickets", std::to_string(after[i]->id))) << when << ": ticket " << after[i]->id
                                                                    << " was on a page before cursor " << *cursor;
  }
}

// The work is done: every ticket stored, nothing pending, every outbox event delivered.
inline bool settled(store::Store& db, Receiver& rx, std::int64_t tickets) {
  if (db.items().count(std::string("desk")) != tickets) return false;
  if (!db.outbox().deliveries("pending").empty()) return false;
  const auto delivered = rx.delivered();
  for (const auto& e : db.outbox().events(100000)) {
    if (!delivered.contains(e.id)) return false;
  }
  return true;
}

// Every ticket stored exactly once; every status change's event in the outbox and delivered at
// least once, with one body on every attempt. Returns the number of events.
inline std::size_t expect_nothing_lost(store::Store& db, const FakeDesk& desk, Receiver& rx) {
  EXPECT_EQ(db.items().count(std::string("desk")), static_cast<std::int64_t>(desk.tickets().size()));
  for (const auto& t : desk.tickets()) EXPECT_TRUE(db.items().find("desk", "tickets", std::to_string(t.id))) << t.id;
  std::set<std::string> outbox;
  for (const auto& e : db.outbox().events(100000)) outbox.insert(e.id);
  int expected_events = 0;
  for (const auto& change : db.evaluations().status_changes()) {
    if (const auto e = store::event_for(change)) {
      ++expected_events;
      EXPECT_TRUE(outbox.contains(e->id)) << e->id;
    }
  }
  EXPECT_GT(expected_events, 0) << "the drill must produce notifications";
  const auto delivered = rx.delivered();
  const auto bodies = rx.bodies();
  for (const auto& id : outbox) {
    EXPECT_TRUE(delivered.contains(id)) << id;
    if (bodies.contains(id)) {
      EXPECT_EQ(bodies.at(id).size(), 1u) << id << ": different bodies across attempts";
    }
  }
  return outbox.size();
}

// The last 3,000 characters of a daemon's log, for a failure message.
inline std::string tail(const std::string& log) { return log.substr(log.size() > 3000 ? log.size() - 3000 : 0); }

// GET `path` on serve's port until it answers `status` (or `tries` × 20 ms pass).
inline bool wait_for(int port, const std::string& path, int status, int tries = 300) {
  httplib::Client c("127.0.0.1", port);
  return testutils::eventually(
      [&] {
        auto r = c.Get(path);
        return r && r->status == status;
      },
      std::chrono::milliseconds(20) * tries, std::chrono::milliseconds(20));
}

}  // namespace pactwatch::drills
