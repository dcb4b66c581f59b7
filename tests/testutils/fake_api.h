// An external API faked on 127.0.0.1 for connector tests: a handler answers as the vendor does
// (fixtures or a stateful simulation), scripted faults go first, and every request is recorded.
#pragma once

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

#include "fake_http.h"

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

// A vendor API on 127.0.0.1 (a FakeHttp): scripted faults first, then the vendor's normal answers.
class FakeApi {
 public:
  using Handler = std::function<Reply(const httplib::Request&)>;
  explicit FakeApi(Handler handler) : handler_(std::move(handler)) {
    auto serve = [this](const httplib::Request& req, httplib::Response& res) {
      Reply r;
      {
        std::lock_guard lock(mutex_);
        if (!faults_.empty()) {
          r = faults_.front();
          faults_.pop_front();
        } else {
          r = handler_(req);
        }
      }
      // A slow vendor is the behaviour under test (timeouts, budgets): the reply takes its time.
      if (r.delay.count() > 0) std::this_thread::sleep_for(r.delay);
      res.status = r.status;
      for (const auto& [k, v] : r.headers) res.set_header(k, v);
      res.set_content(r.body, r.content_type.c_str());
    };
    http_.get(".*", serve).post(".*", serve);
    http_.start();
  }
  void fault(Reply r) {
    std::lock_guard lock(mutex_);
    faults_.push_back(std::move(r));
  }
  std::string url() const { return http_.url(); }
  int port() const { return http_.port(); }
  // Each request as "METHOD /path?k=v&k=v" (parameters in name order).
  std::vector<std::string> log() const {
    std::vector<std::string> out;
    for (const auto& req : http_.requests()) {
      std::string line = req.method + " " + req.path;
      if (!req.params.empty()) {
        line += "?";
        for (const auto& [k, v] : req.params) line += k + "=" + v + "&";
        line.pop_back();
      }
      out.push_back(std::move(line));
    }
    return out;
  }
  std::vector<std::string> bodies() const {
    std::vector<std::string> out;
    for (const auto& req : http_.requests()) out.push_back(req.body);
    return out;
  }
  std::vector<std::string> auth() const {
    std::vector<std::string> out;
    for (const auto& req : http_.requests()) out.push_back(req.get_header_value("Authorization"));
    return out;
  }

 private:
  Handler handler_;
  std::mutex mutex_;
  std::deque<Reply> faults_;
  FakeHttp http_;  // last: stopped first, before the state its handlers use goes
};

inline Reply json_reply(std::string body) { return {200, std::move(body), "application/json", {}, {}}; }

}  // namespace pactwatch::testutils
