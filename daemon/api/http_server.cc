// The HTTP(S) server on Boost.Asio and Boost.Beast. One I/O thread runs every connection as a
// chain of asynchronous steps:
//
//   [TLS handshake] -> wait for a request (idle deadline) -> read its head (head deadline)
//     -> route -> [admission on the pool, then the body up to the limit (body deadline)]
//     -> the handler (inline, or on the pool) -> write the answer (write deadline) -> again
//
// A connection's state is this Session object and its socket; nothing else is held while it waits.
// Handlers that may block run on FairPool, which starts the next task of each client in turn and
// lets no client hold more than its share of the workers. Nothing of a request's body is read
// before its route's admission has accepted the head, and never more than the body limit.
#include <utility>  // must precede Boost.Asio with Boost 1.74 and GCC 12 in C++23 mode

#include "pactwatch/api/http_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace pactwatch::api {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

// Runs tasks on a fixed number of threads, serving clients in turn: each client (a key) has its
// own queue, a client with a task waiting and room under its share takes the next free worker
// after the clients ahead of it, and a client never holds more than `per_client` workers. One
// client's backlog therefore delays only itself.
class FairPool {
 public:
  using Task = std::move_only_function<void()>;

  void start(int workers, int per_client) {
    per_client_ = per_client;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }

  void submit(const std::string& key, Task task) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      auto& lane = lanes_[key];
      lane.tasks.push_back(std::move(task));
      ++queued_;
      if (lane.ready || lane.running >= per_client_) return;  // it is in line already, or at its share
      lane.ready = true;
      ready_.push_back(key);
    }
    cv_.notify_one();
  }

  // Tasks in progress finish; tasks not started are dropped.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    std::unordered_map<std::string, Lane> dropped;
    {
      std::lock_guard lock(mutex_);
      dropped.swap(lanes_);
      ready_.clear();
      queued_ = 0;
    }
  }

  [[nodiscard]] std::size_t queued() const {
    std::lock_guard lock(mutex_);
    return queued_;
  }

 private:
  struct Lane {
    std::deque<Task> tasks;
    int running = 0;
    bool ready = false;  // in ready_
  };

  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      const std::string key = std::move(ready_.front());
      ready_.pop_front();
      Lane& lane = lanes_.at(key);  // a lane is erased only when idle and empty: this one is neither
      Task task = std::move(lane.tasks.front());
      lane.tasks.pop_front();
      --queued_;
      ++lane.running;
      lane.ready = !lane.tasks.empty() && lane.running < per_client_;
      if (lane.ready) ready_.push_back(key);  // its next task waits behind the other clients
      const bool more = !ready_.empty();
      lock.unlock();
      if (more) cv_.notify_one();
      task();
      task = nullptr;
      lock.lock();
      Lane& after = lanes_.at(key);
      --after.running;
      if (!after.ready && !after.tasks.empty() && after.running < per_client_) {
        after.ready = true;
        ready_.push_back(key);
      } else if (after.tasks.empty() && after.running == 0) {
        lanes_.erase(key);
      }
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Lane> lanes_;
  std::deque<std::string> ready_;
  std::vector<std::thread> threads_;
  std::size_t queued_ = 0;
  int per_client_ = 1;
  bool stopping_ = false;
};

struct Route {
  std::string method;
  std::string path;
  HttpHandler handler;
  HttpServer::Run run;
};

struct Mount {
  std::string prefix;
  HttpHandler handler;
  HttpAdmission admit;
  HttpAnswerNow now;
};

enum class Phase { idle, head, body, write, linger };
constexpr std::array<const char*, 5> kPhaseNames{"idle", "header", "body", "write", "linger"};

const boost::system::error_category& http_errors() { return boost::system::error_code(http::error::bad_target).category(); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

httplib::Response problem(int status, const char* title, const std::string& detail, const std::string& instance) {
  httplib::Response res;
  res.status = status;
  nlohmann::json body{{"type", "about:blank"}, {"title", title}, {"status", status}, {"detail", detail}, {"instance", instance}};
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/problem+json");
  return res;
}

// Runs a handler; an exception becomes a 500 problem and a log line, never a dropped connection.
void run_handler(const HttpHandler& handler, const httplib::Request& req, httplib::Response& res) {
  try {
    handler(req, res);
  } catch (const std::exception& e) {
    spdlog::error("HTTP {} {}: {}", req.method, req.path, e.what());
    res = problem(500, "Internal error", "the request failed; the log says why", req.path);
  }
  if (res.status == -1) res.status = 200;
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpOptions o) : options(std::move(o)) {}

  HttpOptions options;
  std::vector<Route> routes;
  std::vector<Mount> mounts;
  HttpClientKey client_key;
  std::optional<asio::ssl::context> ssl;

  // Connections open, in all and by client address (taken at accept, given back when a session ends,
  // which may be on a worker thread at shutdown).
  mutable std::mutex connections_mutex;
  std::size_t open = 0;
  std::unordered_map<std::string, std::size_t> per_client;

  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused_total{0};
  std::atomic<std::uint64_t> refused_client{0};
  std::array<std::atomic<std::uint64_t>, 5> timeouts{};
  // Refusals are logged at most once per 10 s (I/O thread only).
  std::uint64_t refusals_unlogged = 0;
  std::chrono::steady_clock::time_point refusal_logged{};
  std::string last_refused;

  FairPool pool;
  bool started = false;
  std::atomic<bool> stopping{false};
  // Declared last: destroyed first, with the sessions its pending handlers hold, while the state
  // above that they give back to is still there.
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_pause{io};
  std::thread io_thread;

  void accept();
  void admit(tcp::socket socket);
  void release(const std::string& address) {
    std::lock_guard lock(connections_mutex);
    --open;
    if (auto it = per_client.find(address); it != per_client.end() && --it->second == 0) per_client.erase(it);
  }
  void log_refusal(const std::string& address, bool client_cap) {
    (client_cap ? refused_client : refused_total)++;
    ++refusals_unlogged;
    last_refused = address;
    const auto now = std::chrono::steady_clock::now();
    if (now - refusal_logged < std::chrono::seconds(10)) return;
    spdlog::warn("HTTP: refused {} connection(s) in the last 10 s at a cap: {} in all (api.max_connections) or {} from one "
                 "address (api.max_client_connections); the last from {}",
                 refusals_unlogged, options.max_connections, options.max_client_connections, last_refused);
    refusals_unlogged = 0;
    refusal_logged = now;
  }
  [[nodiscard]] std::string key_of(const httplib::Request& req) const {
    std::string key = client_key ? client_key(req) : std::string();
    return key.empty() ? "addr:" + req.remote_addr : "key:" + key;
  }
};

namespace {

template <class Stream>
constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

// One connection, from accept to close; owned by the handlers of its pending operations.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl& server, tcp::socket socket, std::string address)
    requires(!kTls<Stream>)
      : server_(server), stream_(std::move(socket)), timer_(server.io), address_(std::move(address)) {}
  Session(HttpServer::Impl& server, tcp::socket socket, std::string address)
    requires(kTls<Stream>)
      : server_(server), stream_(std::move(socket), *server.ssl), timer_(server.io), address_(std::move(address)) {}
  ~Session() { server_.release(address_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    if constexpr (kTls<Stream>) {
      arm(server_.options.header_timeout, Phase::head);
      stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return self->end();
        self->wait_request();
      });
    } else {
      wait_request();
    }
  }

 private:
  tcp::socket& socket() {
    if constexpr (kTls<Stream>) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // ---- deadlines ----

  void arm(std::chrono::milliseconds after, Phase phase) {
    phase_ = phase;
    timed_out_ = false;
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this(), gen = ++gen_](const boost::system::error_code& ec) {
      if (ec || gen != self->gen_) return;
      self->on_deadline();
    });
  }
  void disarm() {
    ++gen_;
    timer_.cancel();
  }
  void on_deadline() {
    server_.timeouts[static_cast<std::size_t>(phase_)]++;
    spdlog::debug("HTTP: {} deadline passed for a connection from {}", kPhaseNames[static_cast<std::size_t>(phase_)], address_);
    if (phase_ == Phase::head || phase_ == Phase::body) {
      // The pending read ends with operation_aborted; its handler answers 408.
      timed_out_ = true;
      boost::system::error_code ignored;
      socket().cancel(ignored);
    } else {
      end();
    }
  }

  void end() {
    disarm();
    boost::system::error_code ignored;
    socket().close(ignored);
  }

  // ---- reading a request ----

  void wait_request() {
    req_.reset();
    head_.reset();
    full_.reset();
    route_ = nullptr;
    mount_ = nullptr;
    unread_body_ = false;
    if (server_.stopping) return end();
    if (buffer_.size() > 0) return read_head();  // the next request arrived with the last one
    buffer_.shrink_to_fit();                     // an idle connection keeps no buffer
    arm(server_.options.idle_timeout, Phase::idle);
    if constexpr (kTls<Stream>) {
      stream_.async_read_some(buffer_.prepare(2048), [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (ec) return self->end();
        self->buffer_.commit(n);
        self->read_head();
      });
    } else {
      socket().async_wait(tcp::socket::wait_read, [self = this->shared_from_this()](const boost::system::error_code& ec) {
        if (ec) return self->end();
        self->read_head();
      });
    }
  }

  void read_head() {
    head_.emplace();
    head_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    // Checked against the limit once the head is admitted. (Not boost::none: Beast 1.74 compares a
    // declared length with the empty optional and calls every length over the limit.)
    head_->body_limit(std::numeric_limits<std::uint64_t>::max());
    arm(server_.options.header_timeout, Phase::head);
    http::async_read_header(stream_, buffer_, *head_, [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      self->on_head(ec);
    });
  }

  void on_head(const boost::system::error_code& ec) {
    if (ec) {
      if (timed_out_) return refuse(408, "Request timeout", "the request's head did not arrive in time (api.header_timeout)");
      if (ec == http::error::header_limit) {
        return refuse(431, "Request header fields too large",
                      "the request's head is over " + std::to_string(server_.options.max_header_bytes) + " bytes");
      }
      if (ec.category() == http_errors() && ec != http::error::end_of_stream &&
          ec != http::error::partial_message) {
        return refuse(400, "Bad request", "the request is not valid HTTP/1.1 (" + ec.message() + ")");
      }
      return end();
    }
    const auto& msg = head_->get();
    auto req = std::make_shared<httplib::Request>();
    req->method = std::string(msg.method_string());
    req->target = std::string(msg.target());
    req->version = msg.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
    req->remote_addr = address_;
    for (const auto& f : msg) req->headers.emplace(std::string(f.name_string()), std::string(f.value()));
    keep_alive_ = msg.keep_alive();
    req_ = req;
    has_body_ = msg.chunked() || (head_->content_length() && *head_->content_length() > 0);
    unread_body_ = has_body_;
    if (req->target.empty() || req->target.front() != '/') {
      return refuse(400, "Bad request", "the request target must be a path starting with '/'");
    }
    const auto q = req->target.find('?');
    req->path = httplib::detail::decode_url(req->target.substr(0, q), false);
    if (q != std::string::npos) httplib::detail::parse_query_text(req->target.substr(q + 1), req->params);

    std::string allow;
    for (const auto& r : server_.routes) {
      if (r.path != req->path) continue;
      if (r.method == req->method || (req->method == "HEAD" && r.method == "GET")) {
        route_ = &r;
        break;
      }
      allow += (allow.empty() ? "" : ", ") + r.method + (r.method == "GET" ? ", HEAD" : "");
    }
    if (!route_) {
      if (!allow.empty()) {
        auto res = problem(405, "Method not allowed", req->method + " is not served here; use " + allow, req->path);
        res.set_header("Allow", allow);
        return respond(std::move(res), has_body_);
      }
      for (const auto& m : server_.mounts) {
        const bool under = req->path.starts_with(m.prefix) &&
                           (req->path.size() == m.prefix.size() || req->path[m.prefix.size()] == '/');
        if (under && (!mount_ || m.prefix.size() > mount_->prefix.size())) mount_ = &m;
      }
      if (!mount_) return respond(problem(404, "Not found", "no such resource", req->path), has_body_);
    }
    if (!has_body_) return dispatch();
    if (mount_ && mount_->admit) {
      // The route decides from the head (who asks, may they) before a byte of the body is read.
      disarm();
      server_.pool.submit(server_.key_of(*req), [self = this->shared_from_this(), req]() mutable {
        httplib::Response res;
        bool admitted = false;
        try {
          admitted = self->mount_->admit(*req, res);
        } catch (const std::exception& e) {
          spdlog::error("HTTP {} {}: {}", req->method, req->path, e.what());
          res = problem(500, "Internal error", "the request failed; the log says why", req->path);
        }
        if (res.status == -1) res.status = 403;
        auto& io = self->server_.io;  // the last reference goes with the post: the session ends on the I/O thread
        asio::post(io, [self = std::move(self), admitted, res = std::move(res)]() mutable {
          if (admitted) return self->read_body();
          self->respond(std::move(res), true);
        });
      });
      return;
    }
    read_body();
  }

  void read_body() {
    const auto declared = head_->content_length();
    const auto limit = server_.options.max_body_bytes;
    if (declared && *declared > limit) {
      return refuse(413, "Payload too large", "the body is over the limit of " + std::to_string(limit) + " bytes");
    }
    if (iequals(req_->get_header_value("Expect"), "100-continue")) {
      static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
      arm(server_.options.write_timeout, Phase::write);
      asio::async_write(stream_, asio::buffer(k100.data(), k100.size()),
                        [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          if (ec) return self->end();
                          self->read_body_now();
                        });
      return;
    }
    read_body_now();
  }

  void read_body_now() {
    full_.emplace(std::move(*head_));
    head_.reset();
    full_->body_limit(server_.options.max_body_bytes);
    arm(server_.options.body_timeout, Phase::body);
    http::async_read(stream_, buffer_, *full_, [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      self->on_body(ec);
    });
  }

  void on_body(const boost::system::error_code& ec) {
    if (ec) {
      if (timed_out_) return refuse(408, "Request timeout", "the request's body did not arrive in time (api.body_timeout)");
      if (ec == http::error::body_limit) {
        return refuse(413, "Payload too large",
                      "the body is over the limit of " + std::to_string(server_.options.max_body_bytes) + " bytes");
      }
      if (ec.category() == http_errors() && ec != http::error::end_of_stream &&
          ec != http::error::partial_message) {
        return refuse(400, "Bad request", "the request's body is not valid HTTP/1.1 framing (" + ec.message() + ")");
      }
      return end();
    }
    unread_body_ = false;
    req_->body = std::move(full_->get().body());
    full_.reset();
    if (req_->get_header_value("Content-Type").starts_with("application/x-www-form-urlencoded")) {
      httplib::detail::parse_query_text(req_->body, req_->params);
    }
    dispatch();
  }

  // ---- answering ----

  void dispatch() {
    disarm();
    const HttpHandler& handler = route_ ? route_->handler : mount_->handler;
    if (route_ && route_->run == HttpServer::Run::inline_io) {
      httplib::Response res;
      run_handler(handler, *req_, res);
      return respond(std::move(res), false);
    }
    if (mount_ && mount_->now && req_->body.empty()) {
      httplib::Response res;
      bool answered = false;
      try {
        answered = mount_->now(*req_, res);
      } catch (const std::exception& e) {
        spdlog::error("HTTP {} {}: {}", req_->method, req_->path, e.what());
      }
      if (answered) return respond(std::move(res), false);
    }
    server_.pool.submit(server_.key_of(*req_), [self = this->shared_from_this(), req = req_, &handler]() mutable {
      httplib::Response res;
      run_handler(handler, *req, res);
      auto& io = self->server_.io;  // the last reference goes with the post: the session ends on the I/O thread
      asio::post(io, [self = std::move(self), res = std::move(res)]() mutable { self->respond(std::move(res), false); });
    });
  }

  // Answers and ends the connection; whatever the client still sends is drained for a moment.
  void refuse(int status, const char* title, const std::string& detail) {
    unread_body_ = true;
    respond(problem(status, title, detail, req_ ? req_->path : std::string("/")), true);
  }

  void respond(httplib::Response res, bool close) {
    // No answer of this server is meant to be content-sniffed (JSON, problems, pages, CSV, text).
    if (!res.has_header("X-Content-Type-Options")) res.set_header("X-Content-Type-Options", "nosniff");
    auto& out = res_.emplace();
    out.version(req_ && req_->version == "HTTP/1.0" ? 10 : 11);
    out.result(static_cast<unsigned>(res.status));
    for (const auto& [name, value] : res.headers) {
      if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection")) continue;
      if (value.find_first_of("\r\n") != std::string::npos || name.find_first_of("\r\n: ") != std::string::npos) continue;
      out.insert(name, value);
    }
    out.body() = std::move(res.body);
    out.prepare_payload();
    if (req_ && req_->method == "HEAD") out.body().clear();  // Content-Length stays: the GET's
    close_after_ = close || !keep_alive_ || server_.stopping;
    out.keep_alive(!close_after_);
    arm(server_.options.write_timeout, Phase::write);
    http::async_write(stream_, out, [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      self->res_.reset();
      if (ec) return self->end();
      if (self->close_after_) return self->close_after_answer();
      self->wait_request();
    });
  }

  // After an answer that ends the connection. A body the client is still sending is read and
  // dropped for a moment first (at most one more body's worth): closing with unread bytes would
  // reset the connection and could destroy the answer before the client reads it.
  void close_after_answer() {
    if constexpr (kTls<Stream>) {
      return end();
    } else {
      boost::system::error_code ignored;
      socket().shutdown(tcp::socket::shutdown_send, ignored);
      if (!unread_body_) return end();
      buffer_.consume(buffer_.size());
      lingered_ = 0;
      arm(std::chrono::seconds(2), Phase::linger);
      linger();
    }
  }
  void linger() {
    socket().async_read_some(buffer_.prepare(16 * 1024), [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ > self->server_.options.max_body_bytes) return self->end();
      self->linger();
    });
  }

  HttpServer::Impl& server_;
  Stream stream_;
  asio::steady_timer timer_;
  std::string address_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> head_;
  std::optional<http::request_parser<http::string_body>> full_;
  std::optional<http::response<http::string_body>> res_;
  std::shared_ptr<httplib::Request> req_;
  const Route* route_ = nullptr;
  const Mount* mount_ = nullptr;
  Phase phase_ = Phase::idle;
  unsigned gen_ = 0;
  std::size_t lingered_ = 0;
  bool timed_out_ = false;
  bool keep_alive_ = false;
  bool close_after_ = false;
  bool has_body_ = false;
  bool unread_body_ = false;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping) return;
      // Out of descriptors or memory: say so, and try again shortly instead of spinning.
      spdlog::warn("HTTP: cannot accept a connection: {}", ec.message());
      accept_pause.expires_after(std::chrono::milliseconds(100));
      accept_pause.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    admit(std::move(socket));
    accept();
  });
}

void HttpServer::Impl::admit(tcp::socket socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return;  // gone already
  const std::string address = peer.address().to_string();
  bool over_total = false;
  bool over_client = false;
  {
    std::lock_guard lock(connections_mutex);
    auto& mine = per_client[address];
    over_total = open >= options.max_connections;
    over_client = !over_total && mine >= options.max_client_connections;
    if (!over_total && !over_client) {
      ++open;
      ++mine;
    } else if (mine == 0) {
      per_client.erase(address);
    }
  }
  if (over_total || over_client) {
    log_refusal(address, over_client);
    if (!ssl) {
      // Best effort, without waiting: the socket's buffer is empty, the answer is small.
      static const std::string k503 = [] {
        const std::string body = R"({"type":"about:blank","title":"Service unavailable","status":503,)"
                                 R"("detail":"too many connections; retry shortly"})";
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 5\r\n"
               "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      }();
      ::send(socket.native_handle(), k503.data(), k503.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::shutdown(socket.native_handle(), SHUT_WR);
      char drain[4096];
      while (::recv(socket.native_handle(), drain, sizeof drain, MSG_DONTWAIT) > 0) {
      }
    }
    socket.close(ec);
    return;
  }
  ++accepted;
  socket.set_option(tcp::no_delay(true), ec);  // small answers go out at once (no Nagle delay)
  if (ssl) {
    std::make_shared<Session<TlsStream>>(*this, std::move(socket), address)->start();
  } else {
    std::make_shared<Session<tcp::socket>>(*this, std::move(socket), address)->start();
  }
}

HttpServer::HttpServer(HttpOptions options, core::MetricsRegistry& metrics) : impl_(std::make_unique<Impl>(std::move(options))) {
  using Samples = core::ComputedFamily::Samples;
  const Impl* s = impl_.get();
  auto n = [](auto v) { return static_cast<std::int64_t>(v); };
  metrics.computed({"pactwatch_http_connections", core::MetricType::gauge, "HTTP connections open now.", {}}, [s, n] {
    std::lock_guard lock(s->connections_mutex);
    return Samples{{{}, n(s->open)}};
  });
  metrics.computed({"pactwatch_http_connections_total", core::MetricType::counter, "HTTP connections accepted.", {}},
                   [s, n] { return Samples{{{}, n(s->accepted.load())}}; });
  metrics.computed({"pactwatch_http_connections_refused_total", core::MetricType::counter,
                    "HTTP connections refused at a cap (api.max_connections: total, api.max_client_connections: client).", {"cap"}},
                   [s, n] { return Samples{{{"total"}, n(s->refused_total.load())}, {{"client"}, n(s->refused_client.load())}}; });
  metrics.computed({"pactwatch_http_timeouts_total", core::MetricType::counter,
                    "HTTP connections closed at a deadline, by phase (idle, header, body, write).", {"phase"}},
                   [s, n] {
                     Samples out;
                     for (std::size_t i = 0; i < 4; ++i) out.push_back({{kPhaseNames[i]}, n(s->timeouts[i].load())});
                     return out;
                   });
  metrics.computed({"pactwatch_http_requests_queued", core::MetricType::gauge, "Requests waiting for a worker.", {}},
                   [s, n] { return Samples{{{}, n(s->pool.queued())}}; });
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(std::string method, std::string path, HttpHandler handler, Run run) {
  impl_->routes.push_back({std::move(method), std::move(path), std::move(handler), run});
}

void HttpServer::mount(std::string prefix, HttpHandler handler, HttpAdmission admit, HttpAnswerNow now) {
  impl_->mounts.push_back({std::move(prefix), std::move(handler), std::move(admit), std::move(now)});
}

void HttpServer::set_client_key(HttpClientKey key) { impl_->client_key = std::move(key); }

bool HttpServer::tls() const { return !impl_->options.tls_cert.empty(); }

std::expected<int, std::string> HttpServer::listen(const std::string& host, int port) {
  Impl& s = *impl_;
  if (s.started) return std::unexpected("the server is already listening");
  const auto& o = s.options;
  if (!o.tls_cert.empty()) {
    s.ssl.emplace(asio::ssl::context::tls_server);
    s.ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                       asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    boost::system::error_code ec;
    s.ssl->use_certificate_chain_file(o.tls_cert, ec);
    if (!ec) s.ssl->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
    if (ec || SSL_CTX_check_private_key(s.ssl->native_handle()) != 1) {
      return std::unexpected("cannot use the TLS certificate " + o.tls_cert + " with key " + o.tls_key +
                             " (unreadable, not PEM, or they do not match)");
    }
    // An idle TLS connection gives its read and write buffers back.
    SSL_CTX_set_mode(s.ssl->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code ec;
  tcp::resolver resolver(s.io);
  const auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) return std::unexpected("cannot listen on " + where + ": " + (ec ? ec.message() : "no such address"));
  const tcp::endpoint endpoint = found.begin()->endpoint();
  // SO_REUSEADDR only: SO_REUSEPORT would let a second instance share the port silently instead
  // of failing to start.
  if (s.acceptor.open(endpoint.protocol(), ec); !ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::unexpected("cannot listen on " + where + " (" + ec.message() + ")");
  const int bound = s.acceptor.local_endpoint().port();
  const int workers = std::max(1, o.workers);
  s.pool.start(workers, o.client_workers > 0 ? std::min(o.client_workers, workers) : std::max(1, workers / 2));
  s.started = true;
  s.accept();
  s.io_thread = std::thread([&s] { s.io.run(); });
  return bound;
}

void HttpServer::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopping.exchange(true)) return;
  asio::post(s.io, [&s] {
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
    s.accept_pause.cancel();
  });
  s.io.stop();
  if (s.io_thread.joinable()) s.io_thread.join();
  boost::system::error_code ignored;
  s.acceptor.close(ignored);  // the I/O thread is gone: nothing else touches it now
  s.pool.stop();
}

}  // namespace pactwatch::api
