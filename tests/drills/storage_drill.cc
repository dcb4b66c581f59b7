// Storage-fault drill: `pactwatch serve` on SQLite in a directory of its own file system (a tmpfs
// in a mount namespace private to this test), polling a fake Freshdesk while the storage fails
// under it.
// - Disk full: the file system is filled to the last byte while 3,000 tickets arrive. Writes fail;
//   the daemon keeps running and answers /readyz 503 "not writable", the cursor never passes what
//   is stored; once space returns, it resumes by itself and every ticket is stored exactly once,
//   every event delivered, and the database passes SQLite's integrity check.
// - Read-only: the daemon runs as an unprivileged user; its database file and directory are made
//   read-only. Running, it keeps its open files and goes on; started again, it refuses at once
//   with what to fix; once write access returns, the next start resumes where the cursor stood,
//   with nothing lost or corrupted.
// The test needs CAP_SYS_ADMIN for its mount namespace (root, as in CI); without it, it is skipped
// with the reason.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "drill_world.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/store/store.h"
#include "process.h"
#include "temp_dir.h"
#include "wait.h"

namespace pactwatch::drills {
namespace {

using namespace std::chrono_literals;
using testutils::eventually;
using testutils::run;

const std::string kBinary = PACTWATCH_BINARY;
constexpr int kPartners = 12;
constexpr int kPerPage = 50;
constexpr uid_t kNobody = 65534;

// A mount namespace of this process's own (its children inherit it), so the tmpfs mounts below are
// seen by the daemons it starts and by nobody else.
bool private_mounts(std::string& why) {
  static const std::string error = [] {
    if (::unshare(CLONE_NEWNS) != 0) return "unshare(CLONE_NEWNS): " + std::string(std::strerror(errno));
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "mount --make-rprivate /: " + std::string(std::strerror(errno));
    return std::string();
  }();
  why = error;
  return error.empty();
}

// A tmpfs mounted on `at` for the scope.
class Tmpfs {
 public:
  Tmpfs(std::filesystem::path at, const std::string& options) : at_(std::move(at)) {
    std::filesystem::create_directories(at_);
    if (::mount("pactwatch-drill", at_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      throw std::runtime_error("mount tmpfs on " + at_.string() + ": " + std::strerror(errno));
    }
  }
  ~Tmpfs() { ::umount2(at_.c_str(), MNT_DETACH); }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

 private:
  std::filesystem::path at_;
};

// Writes zeros to `path` until the file system has no byte left; returns how many were written.
std::size_t fill(const std::filesystem::path& path) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot create " + path.string());
  std::setvbuf(f, nullptr, _IONBF, 0);
  std::size_t written = 0;
  for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{4096}, std::size_t{1}}) {
    const std::string zeros(chunk, '\0');
    while (std::fwrite(zeros.data(), 1, chunk, f) == chunk) written += chunk;
    std::clearerr(f);
  }
  std::fclose(f);
  return written;
}

std::string readyz(int port) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/readyz");
  return r ? std::to_string(r->status) + " " + r->body : std::string("no answer");
}

std::int64_t stored(const std::string& db_url) {
  auto s = store::Store::open({db_url, "", 1});
  return s ? (*s)->items().count(std::string("desk")) : -1;
}

std::string integrity(const std::filesystem::path& db) {
  const auto r = run({"/usr/bin/sqlite3", db.string(), "PRAGMA integrity_check"});
  return r.out + r.err;
}

class StorageDrill : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!private_mounts(why)) GTEST_SKIP() << "needs a private mount namespace (root): " << why;
  }
  const core::SystemClock clock_;
  testutils::TempDir dir_;
};

TEST_F(StorageDrill, ADiskFullIsNotReadyThenResumesWithNothingLost) {
  constexpr int kTickets = 3000;
  const auto var = dir_.path() / "var";
  Tmpfs fs(var, "size=32m,mode=0755");
  const std::string db_url = "sqlite://" + (var / "drill.db").string();
  FakeDesk desk(make_tickets(kTickets, kPartners, month_before(clock_.now(), 1)), 3);
  Receiver rx(4);
  const World world = write_world(dir_, kBinary, db_url, kPartners, kPerPage, desk.port(), rx.port());

  desk.release(100);
  testutils::Child serve({kBinary, "serve", "-c", world.config.string()});
  ASSERT_TRUE(wait_for(world.port, "/readyz", 200)) << serve.err();
  ASSERT_TRUE(eventually([&] { return stored(db_url) == 100; }, 30s, 100ms)) << tail(serve.err());

  // The disk fills up, and then the rest of the tickets arrive.
  const std::size_t filler = fill(var / "filler");
  desk.release(kTickets);
  std::string not_ready;
  ASSERT_TRUE(eventually(
      [&] {
        const auto r = readyz(world.port);
        if (r.starts_with("503")) not_ready = r;
        return !not_ready.empty();
      },
      60s, 100ms))
      << tail(serve.err());
  EXPECT_NE(not_ready.find("not writable"), std::string::npos) << not_ready;
  EXPECT_NE(not_ready.find("database or disk is full"), std::string::npos) << not_ready;
  std::this_thread::sleep_for(3s);  // time passes on purpose: a few polls fail in a row
  EXPECT_FALSE(serve.wait(0ms)) << "serve must ride out a full disk";
  EXPECT_NE(serve.err().find("database or disk is full"), std::string::npos) << tail(serve.err());
  const auto stored_while_full = stored(db_url);
  EXPECT_LT(stored_while_full, kTickets);
  {
    auto s = store::Store::open({db_url, "", 1});
    ASSERT_TRUE(s) << s.error();
    expect_cursor_behind_data(**s, desk.tickets(), kPerPage, "while the disk is full");
  }
  {
    httplib::Client c("127.0.0.1", world.port);
    auto metrics = c.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("pactwatch_store_writable 0"), std::string::npos);
  }

  // Space returns: the daemon resumes by itself.
  std::filesystem::remove(var / "filler");
  const auto freed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return stored(db_url) == kTickets && readyz(world.port).starts_with("200"); }, 120s, 100ms))
      << stored(db_url) << " stored; " << readyz(world.port) << "\n"
      << tail(serve.err());
  const auto resumed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - freed).count();
  auto db = store::Store::open({db_url, "", 1});
  ASSERT_TRUE(db) << db.error();
  EXPECT_TRUE(eventually([&] { return settled(**db, rx, kTickets); }, 60s, 100ms));
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(10s), 0) << tail(serve.err());

  EXPECT_EQ(integrity(var / "drill.db"), "ok\n");
  EXPECT_EQ((*db)->items().count(std::string("desk")), kTickets);
  for (const auto& t : desk.tickets()) EXPECT_TRUE((*db)->items().find("desk", "tickets", std::to_string(t.id))) << t.id;
  expect_cursor_behind_data(**db, desk.tickets(), kPerPage, "at the end");
  for (int p = 0; p < kPartners; ++p) {
    EXPECT_TRUE((*db)->evaluations().document("c" + std::to_string(p), 1, month_before(clock_.now(), 1))) << "c" << p;
  }
  const auto log = serve.err();
  const auto at = log.find("database or disk is full");
  const auto line_start = log.rfind('\n', at) + 1;
  std::cerr << "disk-full drill: first failure logged: " << log.substr(line_start, log.find('\n', at) - line_start) << "\n";
  // Every status change's event is in the outbox (written with the change, or not at all) and
  // was delivered.
  std::set<std::string> outbox;
  for (const auto& e : (*db)->outbox().events(100000)) outbox.insert(e.id);
  for (const auto& change : (*db)->evaluations().status_changes()) {
    if (const auto e = store::event_for(change)) {
      EXPECT_TRUE(outbox.contains(e->id)) << e->id;
    }
  }
  const auto events = outbox.size();
  std::cerr << "disk-full drill: " << filler / 1024 << " KiB of filler; " << stored_while_full << " of " << kTickets
            << " tickets stored while full; after space returned, all stored and ready in " << resumed_s << " s; " << events
            << " events delivered; integrity_check ok\n";
}

TEST_F(StorageDrill, AReadOnlyStoreLosesNothingAndRefusesToStartUntilWritable) {
  constexpr int kTickets = 600;
  std::filesystem::permissions(dir_.path(), std::filesystem::perms(0755));  // the daemon's user reads its config
  const auto var = dir_.path() / "var";
  Tmpfs fs(var, "size=32m,mode=0755,uid=" + std::to_string(kNobody) + ",gid=" + std::to_string(kNobody));
  const auto db_path = var / "drill.db";
  const std::string db_url = "sqlite://" + db_path.string();
  FakeDesk desk(make_tickets(kTickets, kPartners, month_before(clock_.now(), 1)), 5);
  Receiver rx(6);
  const World world = write_world(dir_, kBinary, db_url, kPartners, kPerPage, desk.port(), rx.port());
  // write_world recorded the contracts' approvals as root: the store is the daemon's user's.
  for (const auto& e : std::filesystem::directory_iterator(var)) {
    ASSERT_EQ(::chown(e.path().c_str(), kNobody, kNobody), 0) << e.path();
  }
  const std::vector<std::string> as_nobody = {"/usr/bin/setpriv", "--reuid=" + std::to_string(kNobody),
                                              "--regid=" + std::to_string(kNobody), "--clear-groups", kBinary, "serve", "-c",
                                              world.config.string()};
  // An operator's slip: the database and its directory made read-only to the daemon's user.
  auto read_only = [&](bool on) {
    for (const auto& e : std::filesystem::directory_iterator(var)) {
      std::filesystem::permissions(e.path(), std::filesystem::perms(on ? 0444 : 0644));
    }
    std::filesystem::permissions(var, std::filesystem::perms(on ? 0555 : 0755));
  };

  desk.release(100);
  {
    testutils::Child serve(as_nobody);
    ASSERT_TRUE(wait_for(world.port, "/readyz", 200)) << serve.err();
    ASSERT_TRUE(eventually([&] { return stored(db_url) == 100; }, 30s, 100ms)) << tail(serve.err());
    // While it runs, its open files stay writable (SQLite in WAL mode creates no file mid-run):
    // it goes on storing, and stays ready.
    read_only(true);
    desk.release(300);
    ASSERT_TRUE(eventually([&] { return stored(db_url) == 300; }, 30s, 100ms)) << tail(serve.err());
    EXPECT_TRUE(readyz(world.port).starts_with("200"));
    serve.signal(SIGTERM);
    ASSERT_EQ(serve.wait(10s), 0) << tail(serve.err());
  }
  // Started on a read-only store, it refuses at once and says what to fix (systemd restarts it
  // every 5 s meanwhile); the store is untouched.
  desk.release(kTickets);
  {
    testutils::Child serve(as_nobody);
    const auto code = serve.wait(20s);
    ASSERT_TRUE(code.has_value()) << "serve must not start on a store it cannot write";
    EXPECT_EQ(*code, 1);
    EXPECT_NE(serve.err().find("cannot write the sqlite store " + db_path.string()), std::string::npos) << serve.err();
    EXPECT_NE(serve.err().find("writable by uid 65534"), std::string::npos) << serve.err();
    const auto said = serve.err().substr(std::min(serve.err().size(), serve.err().find("cannot write")));
    std::cerr << "read-only drill: serve refused to start: " << said;
  }
  EXPECT_EQ(stored(db_url), 300);
  // Write access returns; the next start resumes where the cursor stood.
  read_only(false);
  testutils::Child serve(as_nobody);
  ASSERT_TRUE(eventually([&] { return stored(db_url) == kTickets && readyz(world.port).starts_with("200"); }, 60s, 100ms))
      << stored(db_url) << " stored; " << readyz(world.port) << "\n"
      << tail(serve.err());
  auto db = store::Store::open({db_url, "", 1});
  ASSERT_TRUE(db) << db.error();
  EXPECT_TRUE(eventually([&] { return settled(**db, rx, kTickets); }, 60s, 100ms));
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(10s), 0) << tail(serve.err());
  EXPECT_EQ(integrity(db_path), "ok\n");
  EXPECT_EQ((*db)->items().count(std::string("desk")), kTickets);
  for (const auto& t : desk.tickets()) EXPECT_TRUE((*db)->items().find("desk", "tickets", std::to_string(t.id))) << t.id;
  expect_cursor_behind_data(**db, desk.tickets(), kPerPage, "at the end");
}

}  // namespace
}  // namespace pactwatch::drills
