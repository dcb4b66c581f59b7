// The one fake HTTP server of the tests: a help desk, a CRM, a webhook receiver, whatever a test
// needs on the other end of a connection, in process on an ephemeral port of 127.0.0.1.
//
//   testutils::FakeHttp desk;
//   desk.get("/api/v2/tickets", [](const httplib::Request&, httplib::Response& res) { ... });
//   const int port = desk.start();
//   ... desk.count("GET", "/api/v2/tickets"), desk.requests()[0].get_header_value("webhook-id")
//
// Routes are cpp-httplib's: a method and a regular expression over the path, tried in the order
// they were added. A request no route takes goes to the catch-all (`otherwise`; 404 by default).
// Every request is recorded, whatever answers it, before its handler runs; handlers run on the
// server's threads, so state they share with the test needs a lock or an atomic of its own.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "wait.h"

namespace pactwatch::testutils {

class FakeHttp {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  FakeHttp() = default;
  ~FakeHttp() { stop(); }
  FakeHttp(const FakeHttp&) = delete;
  FakeHttp& operator=(const FakeHttp&) = delete;

  // Routes, added before start().
  FakeHttp& get(const std::string& pattern, Handler h) { return route(&httplib::Server::Get, pattern, std::move(h)); }
  FakeHttp& post(const std::string& pattern, Handler h) { return route(&httplib::Server::Post, pattern, std::move(h)); }
  FakeHttp& put(const std::string& pattern, Handler h) { return route(&httplib::Server::Put, pattern, std::move(h)); }
  FakeHttp& patch(const std::string& pattern, Handler h) { return route(&httplib::Server::Patch, pattern, std::move(h)); }
  FakeHttp& del(const std::string& pattern, Handler h) { return route(&httplib::Server::Delete, pattern, std::move(h)); }
  // Answers every request (any method, any path) that no route above takes.
  FakeHttp& otherwise(Handler h) {
    otherwise_ = std::move(h);
    return *this;
  }

  // Listens on an ephemeral port of 127.0.0.1 and returns it once the server accepts.
  int start() {
    if (thread_.joinable()) return port_;
    Handler rest = otherwise_ ? otherwise_ : [](const httplib::Request&, httplib::Response& res) { res.status = 404; };
    for (const Add add : std::initializer_list<Add>{&httplib::Server::Get, &httplib::Server::Post, &httplib::Server::Put,
                                                    &httplib::Server::Patch, &httplib::Server::Delete}) {
      route(add, ".*", rest);
    }
    server_.Options(".*", recorded(rest));
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("fake HTTP server: cannot listen on 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would not reach it: wait until it does.
    if (!eventually([this] { return server_.is_running(); }, std::chrono::seconds(10), std::chrono::milliseconds(1))) {
      throw std::runtime_error("fake HTTP server: did not start");
    }
    return port_;
  }
  // Stops accepting and waits for the requests being answered; safe to call twice.
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url(std::string_view path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  // What was received so far, in order of arrival.
  [[nodiscard]] std::vector<httplib::Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  [[nodiscard]] std::size_t count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  // Requests of one method to one path (the path without its query).
  [[nodiscard]] std::size_t count(std::string_view method, std::string_view path) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& r : requests_) {
      if (r.method == method && r.path == path) ++n;
    }
    return n;
  }

 private:
  using Add = httplib::Server& (httplib::Server::*)(const std::string&, httplib::Server::Handler);

  FakeHttp& route(Add add, const std::string& pattern, Handler h) {
    (server_.*add)(pattern, recorded(std::move(h)));
    return *this;
  }
  httplib::Server::Handler recorded(Handler h) {
    return [this, handler = std::move(h)](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(req);
      }
      handler(req, res);
    };
  }

  httplib::Server server_;
  Handler otherwise_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<httplib::Request> requests_;
};

}  // namespace pactwatch::testutils
