// The daemon's HTTP(S) server: health, metrics, the API and the portal on one listener.
//
// Connections are asynchronous (Boost.Asio and Boost.Beast on one I/O thread): a connection waiting
// for its next request holds a socket and a few hundred bytes, never a thread. Each connection runs
// under deadlines (idle between requests, a request's head, its body, the answer's delivery), the
// number of connections is capped in total and per client address, and handlers that may block
// (on the store) run on a bounded pool that serves its clients in turn, so one client's queue of
// requests does not delay another's. Requests and answers are httplib's plain structs, which the
// API's handlers already take. Design and measurements: docs/design.md, docs/benchmarks.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "pactwatch/core/metrics.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace pactwatch::api {

struct HttpOptions {
  // PEM certificate chain and key: with both, the listener speaks HTTPS only.
  std::string tls_cert;
  std::string tls_key;
  // A kept-alive (or new) connection may wait this long for the first byte of its next request.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // From a request's first byte (or a TLS connection's start) to the end of its head.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // To receive a request's body once its head was accepted.
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};
  // To deliver an answer.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // Connections open at once, in all and from one client address; past either cap a new connection
  // is answered 503 with Retry-After (plain HTTP) or closed (HTTPS), and the refusal is logged.
  std::size_t max_connections = 4096;
  std::size_t max_client_connections = 512;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  // Threads that run handlers; one client (its credential, else its address) holds at most
  // `client_workers` of them at once (0: half the workers, at least one).
  int workers = 8;
  int client_workers = 0;
};

// Answers a request: sets res.status (200 when left unset), headers and body.
using HttpHandler = std::function<void(const httplib::Request&, httplib::Response&)>;
// Decides from a request's head alone, before its body is read: true admits the body; false
// refuses the request with the answer written to `res` (the body is never read).
using HttpAdmission = std::function<bool(const httplib::Request&, httplib::Response&)>;
// Answers on the I/O thread when it can without blocking (true, `res` written); false sends the
// request to the workers as usual.
using HttpAnswerNow = std::function<bool(const httplib::Request&, httplib::Response&)>;
// The client a request counts against for fair service: its credential when it has one ("" for
// none: its address is used).
using HttpClientKey = std::function<std::string(const httplib::Request&)>;

class HttpServer {
 public:
  // Where a handler runs: on the I/O thread (only for answers that never block and take
  // microseconds, such as /livez), or on the worker pool.
  enum class Run { inline_io, pool };

  // Registers the listener's metrics (connections open, accepted, refused; deadlines passed;
  // requests queued) on `metrics`, read when it renders: the server must outlive its renders.
  HttpServer(HttpOptions options, core::MetricsRegistry& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // One method and exact path (GET also answers HEAD).
  void route(std::string method, std::string path, HttpHandler handler, Run run = Run::pool);
  // Every method at `prefix` and below it ("/v1" takes "/v1" and "/v1/..."); requests with a body
  // pass `admit` first when it is set; requests without one are offered to `now` first, on the I/O
  // thread, when it is set.
  void mount(std::string prefix, HttpHandler handler, HttpAdmission admit = nullptr, HttpAnswerNow now = nullptr);
  void set_client_key(HttpClientKey key);

  // Loads the certificate and key when TLS is configured, binds, listens and starts serving on
  // its own threads. Port 0 takes a free port. Returns the port, or why it cannot serve.
  [[nodiscard]] std::expected<int, std::string> listen(const std::string& host, int port);
  // Stops accepting, closes every connection and waits for handlers in progress. Idempotent.
  void stop();

  [[nodiscard]] bool tls() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pactwatch::api
