// The HTTP client that connectors poll through and notification channels deliver through
// (libcurl): timeouts, TLS verification on by default, response headers kept for rate-limit,
// paging and retry decisions. Transport failures are values, not exceptions, so the sync loop and
// the notification pipeline can classify and retry them.
#pragma once

#include <atomic>
#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pactwatch/core/time.h"

namespace pactwatch::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  std::optional<std::pair<std::string, std::string>> basic_auth;  // user, password
};

struct HttpResponse {
  long status = 0;
  Headers headers;  // as received, in order
  std::string body;
  // The first header of that name, compared case-insensitively.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

struct TransportError {
  enum class Kind { timeout, connect, tls, other } kind = Kind::other;
  std::string message;
};

struct HttpOptions {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds timeout{60};
  bool verify_tls = true;
  std::string user_agent = "pactwatch";
  const std::atomic<bool>* abort = nullptr;  // when it turns true, a transfer in progress is abandoned
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  [[nodiscard]] std::expected<HttpResponse, TransportError> send(const HttpRequest& request);

 private:
  HttpOptions options_;
  void* curl_;  // CURL*, reused between requests (keeps the connection alive)
};

// A URL with its query-string secrets and any user:password@ part replaced by "REDACTED", for logs.
[[nodiscard]] std::string redact_url(std::string_view url);
// Percent-encodes a query-string value.
[[nodiscard]] std::string url_encode(std::string_view value);
// The URL of rel="next" in an RFC 8288 Link header (either quote style, any spacing), if any.
[[nodiscard]] std::optional<std::string> link_next(std::string_view link_header);
// `Retry-After`: seconds, or an HTTP date (then relative to `now`). Empty when absent or unreadable.
[[nodiscard]] std::optional<std::chrono::milliseconds> retry_after(const HttpResponse& r, core::Instant now);

}  // namespace pactwatch::net
