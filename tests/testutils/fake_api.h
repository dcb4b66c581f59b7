// An external API faked on 127.0.0.1 for connector tests: a handler answers as the vendor does
// (fixtures or a stateful simulation), scripted faults go first, and every request is recorded.
#pragma once

#include <httplib.h>

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pactwatch/config/config.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/net/http.h"

namespace pactwatch::testutils {

// A source named "desk" pointed at a fake vendor: short timeouts, three retries, and no request
// budget waits unless a test sets one.
inline config::SourceConfig fake_source(const std::string& kind, const std::string& url, const std::string& auth = "basic") {
  config::SourceConfig s;
  s.name = "desk";
  s.kind = kind;
  s.url = url;
  s.auth = auth;
  s.user = "ops@brand.example";
  s.secret.file = "unused";
  s.timeout_s = 5;
  s.connect_timeout_s = 2;
  s.max_retries = 3;
  s.requests_per_minute = 60000;
  return s;
}

// A file of tests/fixtures/.
inline std::string fixture(const std::string& name) {
  auto text = core::read_file(std::string(PACTWATCH_SOURCE_DIR) + "/tests/fixtures/" + name);
  if (!text) throw std::runtime_error("missing fixture " + name);
  return *text;
}

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  net::Headers headers;
  std::chrono::milliseconds delay{0};
};

// A vendor API on 127.0.0.1: scripted faults first, then the vendor's normal answers.
class FakeApi {
 public:
  using Handler = std::function<Reply(const httplib::Request&)>;
  explicit FakeApi(Handler handler) : handler_(std::move(handler)) {
    using namespace std::chrono_literals;
    auto serve = [this](const httplib::Request& req, httplib::Response& res) {
      Reply r;
      {
        std::lock_guard lock(mutex_);
        std::string line = req.method + " " + req.path;
        if (!req.params.empty()) {
          line += "?";
          for (const auto& [k, v] : req.params) line += k + "=" + v + "&";
          line.pop_back();
        }
        log_.push_back(line);
        bodies_.push_back(req.body);
        auth_.push_back(req.get_header_value("Authorization"));
        if (!faults_.empty()) {
          r = faults_.front();
          faults_.pop_front();
        } else {
          r = handler_(req);
        }
      }
      if (r.delay.count() > 0) std::this_thread::sleep_for(r.delay);
      res.status = r.status;
      for (const auto& [k, v] : r.headers) res.set_header(k, v);
      res.set_content(r.body, r.content_type.c_str());
    };
    server_.Get(".*", serve);
    server_.Post(".*", serve);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(5ms);
  }
  ~FakeApi() {
    server_.stop();
    thread_.join();
  }
  void fault(Reply r) {
    std::lock_guard lock(mutex_);
    faults_.push_back(std::move(r));
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::vector<std::string> log() {
    std::lock_guard lock(mutex_);
    return log_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  std::vector<std::string> auth() {
    std::lock_guard lock(mutex_);
    return auth_;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::deque<Reply> faults_;
  std::vector<std::string> log_, bodies_, auth_;
};

inline Reply json_reply(std::string body) { return {200, std::move(body), "application/json", {}, {}}; }

}  // namespace pactwatch::testutils
