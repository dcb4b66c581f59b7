// The HTTP listener under hostile and heavy clients, over real sockets on loopback against the real
// binary (`pactwatch serve` on SQLite with the example rules and demo tickets): idle connections,
// slow heads, slow and oversized bodies, hundreds of keep-alive clients, the connection caps, a TLS
// client that never shakes hands. Then the server in process: one client's backlog of slow requests
// does not delay another client. Every wait is bounded; where a condition can be awaited it is.
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "pactwatch/api/http_server.h"
#include "process.h"
#include "temp_dir.h"
#include "wait.h"

namespace pactwatch {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testutils::run;

const std::string kBinary = PACTWATCH_BINARY;
const std::string kSource = PACTWATCH_SOURCE_DIR;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Room for a thousand sockets in this process (the daemon inherits the limit).
void raise_open_files() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, 16384);
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A blocking TCP connection to 127.0.0.1, optionally from another loopback address.
class Socket {
 public:
  explicit Socket(int port, const char* from = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (from) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &local.sin_addr);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)), connected_(o.connected_), in_(std::move(o.in_)) {}
  Socket& operator=(Socket&&) = delete;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }
  [[nodiscard]] int fd() const { return fd_; }

  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one answer (skipping a 100 Continue unless `interim`); nothing on timeout or close.
  std::optional<Answer> read_answer(std::chrono::milliseconds timeout, bool interim = false) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto a = parse(interim)) return a;
      if (!fill(deadline)) return parse(interim);
    }
  }

  // True once the server has closed the connection (end of stream or reset) within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) {
    }
    return closed_;
  }
  [[nodiscard]] bool closed() const { return closed_; }
  // Whatever arrived so far, without waiting.
  [[nodiscard]] const std::string& received() const { return in_; }
  // Reads what is there without waiting; true if the peer has closed.
  bool poll_closed() {
    fill(Clock::now());
    return closed_;
  }

 private:
  // Waits for bytes until `deadline`; false on close, error or timeout.
  bool fill(Clock::time_point deadline) {
    if (closed_) return false;
    pollfd p{fd_, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long>(0, left))) <= 0) return false;
    char buf[65536];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  std::optional<Answer> parse(bool interim) {
    const auto end = in_.find("\r\n\r\n");
    if (end == std::string::npos || !in_.starts_with("HTTP/1.")) return std::nullopt;
    Answer a;
    a.status = std::atoi(in_.c_str() + 9);
    std::size_t pos = in_.find("\r\n") + 2;
    while (pos < end) {
      const auto eol = in_.find("\r\n", pos);
      const auto line = in_.substr(pos, eol - pos);
      const auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      a.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      pos = eol + 2;
    }
    if (a.status == 100 && !interim) {
      in_.erase(0, end + 4);
      return parse(interim);
    }
    const std::size_t length = a.headers.count("content-length") ? std::stoul(a.headers["content-length"]) : 0;
    if (in_.size() < end + 4 + length) return std::nullopt;
    a.body = in_.substr(end + 4, length);
    in_.erase(0, end + 4 + length);
    return a;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string in_;
};

std::string get(const std::string& path, const std::string& token = "", bool close = true) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

// One request on a new connection: its status (0 for none within 10 s) and how long it took.
std::pair<int, double> timed(int port, const std::string& request) {
  const auto t0 = Clock::now();
  Socket s(port);
  if (!s.connected() || !s.send_all(request)) return {0, ms_since(t0)};
  auto a = s.read_answer(10s);
  return {a ? a->status : 0, ms_since(t0)};
}

// `pactwatch serve` on SQLite with the example rules, the demo tickets and a northwind token.
struct Daemon {
  testutils::TempDir dir;
  int port = testutils::free_port();
  std::filesystem::path config;
  std::string token;
  std::unique_ptr<testutils::Child> child;

  explicit Daemon(const std::string& api = "", const std::string& top = "") {
    raise_open_files();
    config = dir.write("pactwatch.yaml", "listen: 127.0.0.1:" + std::to_string(port) + "\ndatabase:\n  url: sqlite://" +
                                             (dir.path() / "p.db").string() + "\nrules_dir: " + kSource +
                                             "/rules/examples\nlog:\n  level: info\napi:\n  rate_limit: 0\n" + api + top);
    auto imported = run({kBinary, "import", "tickets", kSource + "/demo/items/tickets.ndjson", "--source", "demo", "-c", config.string()});
    EXPECT_EQ(imported.exit_code, 0) << imported.err;
    auto t = run({kBinary, "token", "create", "--role", "partner", "--partner", "northwind", "-c", config.string()});
    EXPECT_EQ(t.exit_code, 0) << t.err;
    token = t.out.substr(0, t.out.find('\n'));
  }
  ~Daemon() {
    if (child) {
      child->signal(SIGTERM);
      EXPECT_EQ(child->wait(15s), 0) << child->err();
    }
  }

  // Starts serve and waits until /livez answers (plain HTTP only).
  void start() {
    child = std::make_unique<testutils::Child>(std::vector<std::string>{kBinary, "serve", "-c", config.string()});
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1);
    std::optional<int> exited;
    const bool live = testutils::eventually(
        [&] {
          if (auto r = c.Get("/livez"); r && r->status == 200) return true;
          return (exited = child->wait(0ms)).has_value();
        },
        10s);
    ASSERT_FALSE(exited) << child->err();
    if (!live) FAIL() << "serve did not answer /livez: " << child->err();
  }

  [[nodiscard]] std::string kpis() const { return "/v1/partners/northwind/kpis?period=2026-10"; }

  // A counter or gauge from /metrics (-1 when it cannot be read).
  [[nodiscard]] long metric(const std::string& series) const {
    Socket s(port);
    if (!s.connected() || !s.send_all(get("/metrics"))) return -1;
    auto a = s.read_answer(10s);
    if (!a) return -1;
    const auto at = a->body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::atol(a->body.c_str() + at + series.size() + 2);
  }

  // Resident memory of serve in KiB.
  [[nodiscard]] long rss_kb() const {
    std::ifstream in("/proc/" + std::to_string(child->pid()) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
    }
    return -1;
  }
};

// Probes /livez and the KPI request `n` times each on new connections: all must answer 200; the
// slowest answer is returned.
double probe(const Daemon& d, int n) {
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    for (const auto& request : {get("/livez"), get(d.kpis(), d.token)}) {
      auto [status, ms] = timed(d.port, request);
      EXPECT_EQ(status, 200) << request.substr(0, request.find('\r'));
      worst = std::max(worst, ms);
    }
  }
  return worst;
}

TEST(Http, IdleConnectionsNeitherStarveTheListenerNorStayPastTheIdleTimeout) {
  Daemon d("  idle_timeout: 3s\n");
  d.start();
  // Four times the 64 workers the thread-per-connection server had: each of these held one.
  const auto opened = Clock::now();
  std::vector<Socket> idle;
  for (int i = 0; i < 300; ++i) {
    idle.emplace_back(d.port);
    ASSERT_TRUE(idle.back().connected()) << i;
  }
  (void)testutils::eventually([&] { return d.metric("pactwatch_http_connections") >= 300; }, 2s, 10ms);
  ASSERT_GE(d.metric("pactwatch_http_connections"), 300) << "the server holds every idle connection";
  const double worst = probe(d, 30);
  EXPECT_LT(worst, 1000.0 * testutils::kSanitizerSlowdown) << "health checks and the API answer while 300 connections sit idle";
  std::cout << "slowest /livez or KPI answer with 300 idle connections open: " << worst << " ms\n";
  // Then the server closes them, not before api.idle_timeout.
  double first_closed = 1e9;
  for (auto& s : idle) {
    ASSERT_TRUE(s.wait_closed(std::chrono::milliseconds(static_cast<long>(9000 - ms_since(opened))))) << "closed by 9 s";
    first_closed = std::min(first_closed, ms_since(opened));
  }
  EXPECT_GE(first_closed, 2500.0) << "no idle connection is closed before its timeout";
  EXPECT_GE(d.metric("pactwatch_http_timeouts_total{phase=\"idle\"}"), 300);
}

TEST(Http, SlowHeadsGet408AtTheHeaderDeadlineWhileOthersAreServed) {
  Daemon d("  header_timeout: 2s\n");
  d.start();
  // 100 clients each sending one more header byte every 100 ms, for ever.
  std::vector<Socket> slow;
  std::vector<double> answered_at(100, -1);
  const auto started = Clock::now();
  for (int i = 0; i < 100; ++i) {
    slow.emplace_back(d.port);
    ASSERT_TRUE(slow.back().send_all("GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
  }
  double worst = 0;
  while (ms_since(started) < 8000.0 * testutils::kSanitizerSlowdown && std::count(answered_at.begin(), answered_at.end(), -1.0) > 0) {
    for (std::size_t i = 0; i < slow.size(); ++i) {
      if (answered_at[i] >= 0) continue;
      slow[i].send_all("a");
      if (slow[i].poll_closed() || !slow[i].received().empty()) answered_at[i] = ms_since(started);
    }
    auto [status, ms] = timed(d.port, get("/livez"));
    EXPECT_EQ(status, 200);
    worst = std::max(worst, ms);
    std::this_thread::sleep_for(100ms);  // the clients' pace, not a wait for the server
  }
  for (std::size_t i = 0; i < slow.size(); ++i) {
    ASSERT_GE(answered_at[i], 0) << "slow client " << i << " was never cut off";
    EXPECT_GE(answered_at[i], 1500.0) << i;
    EXPECT_LE(answered_at[i], 6000.0 * testutils::kSanitizerSlowdown) << i;
    EXPECT_TRUE(slow[i].received().starts_with("HTTP/1.1 408")) << slow[i].received().substr(0, 40);
  }
  EXPECT_LT(worst, 1000.0 * testutils::kSanitizerSlowdown) << "/livez answers while 100 heads trickle in";
  EXPECT_GE(d.metric("pactwatch_http_timeouts_total{phase=\"header\"}"), 100);
}

// Sends a chunked body as fast as the server takes it, until an answer arrives, the connection
// fails or `cap` bytes went out: the answer's status and the body bytes sent.
std::pair<int, std::size_t> send_chunked(int port, const std::string& head, std::size_t cap) {
  Socket s(port);
  if (!s.connected() || !s.send_all(head)) return {0, 0};
  const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
  std::size_t sent = 0;
  const auto deadline = Clock::now() + 30s;
  while (sent < cap && Clock::now() < deadline) {
    pollfd p{s.fd(), POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) break;
    const auto n = ::send(s.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN) break;
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  auto a = s.read_answer(5s);
  return {a ? a->status : 0, sent};
}

TEST(Http, BodiesAreReadOnlyAfterAuthenticationAndNeverPastTheLimit) {
  Daemon d;
  d.start();
  const std::string what_if = "/v1/partners/northwind/what-if";
  const std::size_t cap = 300u << 20;
  const long rss_before = d.rss_kb();
  // Chunked, without a token: refused from the head; the body is never read.
  auto [anonymous, anonymous_sent] = send_chunked(
      d.port, "POST " + what_if + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", cap);
  EXPECT_EQ(anonymous, 401);
  EXPECT_LT(anonymous_sent, 64u << 20) << "only what the sockets' buffers hold went out, not 300 MB";
  // Chunked, with a token: 413 once the body passes 64 KiB.
  auto [limited, limited_sent] = send_chunked(d.port,
                                              "POST " + what_if + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                              "Authorization: Bearer " + d.token + "\r\nTransfer-Encoding: chunked\r\n\r\n",
                                              cap);
  EXPECT_EQ(limited, 413);
  EXPECT_LT(limited_sent, 64u << 20);
  EXPECT_LT(d.rss_kb() - rss_before, 32 * 1024) << "the server kept none of it";
  // Declared too long: 413 from the head alone, before a byte of it is sent.
  {
    Socket s(d.port);
    ASSERT_TRUE(s.send_all("POST " + what_if + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " +
                           d.token + "\r\nContent-Length: 314572800\r\n\r\n"));
    auto a = s.read_answer(5s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 413);
    EXPECT_EQ(a->headers["content-type"], "application/problem+json");
    EXPECT_TRUE(s.wait_closed(5s));
  }
  // Declared, without a token: 401 without waiting for the body.
  {
    Socket s(d.port);
    ASSERT_TRUE(s.send_all("POST " + what_if + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"));
    auto a = s.read_answer(5s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 401);
  }
  // A client that asks first (Expect: 100-continue) is told to go on only once admitted.
  {
    const std::string body = R"({"period": "2026-10", "values": {"p1_first_reply": "99%"}})";
    Socket s(d.port);
    ASSERT_TRUE(s.send_all("POST " + what_if + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " +
                           d.token + "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
    auto go_on = s.read_answer(5s, true);
    ASSERT_TRUE(go_on);
    EXPECT_EQ(go_on->status, 100);
    ASSERT_TRUE(s.send_all(body));
    auto a = s.read_answer(10s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 200) << a->body;
  }
  // The server still serves.
  EXPECT_EQ(timed(d.port, get(d.kpis(), d.token)).first, 200);
}

TEST(Http, SlowBodiesGet408AtTheBodyDeadline) {
  Daemon d("  body_timeout: 1s\n");
  d.start();
  Socket s(d.port);
  const auto started = Clock::now();
  ASSERT_TRUE(s.send_all("POST /v1/partners/northwind/what-if HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Authorization: Bearer " + d.token + "\r\nContent-Length: 100\r\n\r\n{\"period\": "));
  auto a = s.read_answer(6s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 408);
  EXPECT_GE(ms_since(started), 800.0);
  EXPECT_TRUE(s.wait_closed(5s));
  EXPECT_EQ(d.metric("pactwatch_http_timeouts_total{phase=\"body\"}"), 1);
}

TEST(Http, TwoHundredFiftySixKeepAliveClientsAreServedTogether) {
  Daemon d;
  d.start();
  // Every client keeps its connection and asks again only after all have had their answer: a
  // server that gives each connection a worker for its life cannot answer the 65th.
  std::vector<Socket> clients;
  for (int i = 0; i < 256; ++i) {
    clients.emplace_back(d.port);
    ASSERT_TRUE(clients.back().connected());
  }
  const std::string request = get(d.kpis(), d.token, false);
  double slowest_round = 0;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = Clock::now();
    for (auto& c : clients) ASSERT_TRUE(c.send_all(request));
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto a = clients[i].read_answer(std::chrono::milliseconds(std::max<long>(1, 5000 - static_cast<long>(ms_since(t0)))));
      ASSERT_TRUE(a) << "client " << i << " in round " << round << " had no answer within 5 s";
      EXPECT_EQ(a->status, 200);
      EXPECT_EQ(a->headers.count("connection") ? a->headers["connection"] : "", "") << "kept alive";
    }
    slowest_round = std::max(slowest_round, ms_since(t0));
  }
  std::cout << "slowest round of 256 keep-alive requests: " << slowest_round << " ms\n";
  EXPECT_LT(slowest_round, 3000.0 * testutils::kSanitizerSlowdown);
  EXPECT_EQ(d.metric("pactwatch_http_connections_total"), 256 + 1 /* /livez at start */ + 1 /* this */);
}

TEST(Http, ConnectionCapsRefuseWith503AndALogLine) {
  Daemon d("  max_connections: 8\n  max_client_connections: 5\n");
  d.start();
  std::vector<Socket> held;
  for (int i = 0; i < 5; ++i) held.emplace_back(d.port);  // the per-address cap of 127.0.0.1
  // /metrics itself is a 6th connection from 127.0.0.1: refused once the five are in.
  (void)testutils::eventually([&] { return d.metric("pactwatch_http_connections") == -1; }, 2s, 10ms);
  Socket sixth(d.port);
  auto refused = sixth.read_answer(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->headers["retry-after"], "5");
  // Another address is still admitted, up to the total of 8.
  std::vector<Socket> other;
  for (int i = 0; i < 3; ++i) other.emplace_back(d.port, "127.0.0.2");
  for (auto& s : other) ASSERT_TRUE(s.send_all(get("/livez", "", false)));
  for (auto& s : other) {
    auto a = s.read_answer(5s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 200);
  }
  Socket ninth(d.port, "127.0.0.3");
  auto over = ninth.read_answer(5s);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 503);
  EXPECT_TRUE(d.child->wait_for_err("refused", 5s)) << d.child->err();
  held.clear();
  other.clear();
  (void)testutils::eventually([&] { return d.metric("pactwatch_http_connections") != -1; }, 2s, 10ms);
  EXPECT_GE(d.metric("pactwatch_http_connections_refused_total{cap=\"client\"}"), 1);
  EXPECT_GE(d.metric("pactwatch_http_connections_refused_total{cap=\"total\"}"), 1);
}

TEST(Http, TlsClientsThatNeverShakeHandsAreCutOffWhileOthersAreServed) {
  testutils::TempDir certs;
  auto gen = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                  (certs.path() / "key.pem").string(), "-out", (certs.path() / "cert.pem").string(), "-days", "2", "-subj",
                  "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  Daemon d("  header_timeout: 2s\n  tls_cert: " + (certs.path() / "cert.pem").string() + "\n  tls_key: " +
           (certs.path() / "key.pem").string() + "\n");
  d.child = std::make_unique<testutils::Child>(std::vector<std::string>{kBinary, "serve", "-c", d.config.string()});
  httplib::SSLClient tls("127.0.0.1", d.port);
  tls.set_ca_cert_path((certs.path() / "cert.pem").string().c_str());
  tls.enable_server_certificate_verification(true);
  httplib::Result live{nullptr, httplib::Error::Unknown};
  (void)testutils::eventually([&] { return static_cast<bool>(live = tls.Get("/livez")); }, 6s);
  ASSERT_TRUE(live) << d.child->err();
  const auto opened = Clock::now();
  std::vector<Socket> silent;
  for (int i = 0; i < 100; ++i) silent.emplace_back(d.port);
  for (int i = 0; i < 10; ++i) {
    const auto t0 = Clock::now();
    httplib::SSLClient c("127.0.0.1", d.port);
    c.set_ca_cert_path((certs.path() / "cert.pem").string().c_str());
    c.enable_server_certificate_verification(true);
    auto r = c.Get(d.kpis(), {{"Authorization", "Bearer " + d.token}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(ms_since(t0), 1000.0 * testutils::kSanitizerSlowdown);
  }
  for (auto& s : silent) ASSERT_TRUE(s.wait_closed(std::chrono::milliseconds(static_cast<long>(8000 - ms_since(opened)))));
  EXPECT_GE(ms_since(opened), 1500.0);
}

// ---- the server in process ----

TEST(HttpServer, OneClientsBacklogDoesNotDelayAnother) {
  api::HttpOptions o;
  o.workers = 4;
  core::MetricsRegistry metrics;
  api::HttpServer server(o, metrics);
  std::atomic<int> slow_running{0};
  std::atomic<int> slow_peak{0};
  server.route("GET", "/slow", [&](const httplib::Request&, httplib::Response& res) {
    const int now = ++slow_running;
    int peak = slow_peak;
    while (now > peak && !slow_peak.compare_exchange_weak(peak, now)) {
    }
    std::this_thread::sleep_for(300ms);  // on purpose: the work this route does
    --slow_running;
    res.set_content("slow", "text/plain");
  });
  server.route("GET", "/fast", [](const httplib::Request&, httplib::Response& res) { res.set_content("fast", "text/plain"); });
  server.set_client_key([](const httplib::Request& req) { return req.get_header_value("Authorization"); });
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port) << port.error();
  // Client A: 24 slow requests at once, each on its own connection.
  std::vector<Socket> a;
  for (int i = 0; i < 24; ++i) {
    a.emplace_back(*port);
    ASSERT_TRUE(a.back().send_all("GET /slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n\r\n"));
  }
  (void)testutils::eventually([&] { return slow_running >= 2; }, 1s, 5ms);
  // Client B is served at once: A holds at most half the workers; its other requests wait in its own line.
  for (int i = 0; i < 5; ++i) {
    auto [status, ms] = timed(*port, "GET /fast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer b\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status, 200);
    EXPECT_LT(ms, 250.0 * testutils::kSanitizerSlowdown) << "B waited behind A's backlog";
  }
  for (auto& s : a) {
    auto r = s.read_answer(10s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(slow_peak.load(), 2) << "one client holds at most half of the 4 workers";
  // OPTIONS on a known path: 405 with Allow, not 404; an unknown path: 404.
  auto options = timed(*port, "OPTIONS /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(options.first, 405);
  Socket allow(*port);
  ASSERT_TRUE(allow.send_all("OPTIONS /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto allowed = allow.read_answer(5s);
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->headers["allow"], "GET, HEAD");
  EXPECT_EQ(allowed->headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(timed(*port, get("/nowhere")).first, 404);
  server.stop();
}

}  // namespace
}  // namespace pactwatch
