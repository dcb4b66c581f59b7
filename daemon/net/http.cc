#include "pactwatch/net/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <stdexcept>

namespace pactwatch::net {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(s);
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(user);
  return abort && abort->load() ? 1 : 0;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  const std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    r->headers.clear();  // a new response (after a 100 Continue or a redirect)
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    r->headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return size * n;
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (!curl_) throw std::runtime_error("cannot initialise libcurl");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::expected<HttpResponse, TransportError> HttpClient::send(const HttpRequest& req) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  HttpResponse resp;
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count() * 1000));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count() * 1000));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever libcurl can decode
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
  if (options_.abort) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options_.abort));
  }
  if (req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  if (req.basic_auth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, req.basic_auth->first.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, req.basic_auth->second.c_str());
  }
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) headers = curl_slist_append(headers, (k + ": " + v).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    TransportError e;
    e.message = curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT: e.kind = TransportError::Kind::timeout; break;
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY: e.kind = TransportError::Kind::connect; break;
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CACERT_BADFILE: e.kind = TransportError::Kind::tls; break;
      default: e.kind = TransportError::Kind::other; break;
    }
    return std::unexpected(std::move(e));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

std::string redact_url(std::string_view url) {
  std::string out(url);
  // user:password@host
  if (const auto scheme = out.find("://"); scheme != std::string::npos) {
    const auto host_end = out.find_first_of("/?#", scheme + 3);
    const auto at = out.rfind('@', host_end == std::string::npos ? out.size() : host_end);
    if (at != std::string::npos && at > scheme) out.replace(scheme + 3, at - scheme - 3, "REDACTED");
  }
  // query parameters that carry secrets
  for (const char* key : {"access_token=", "api_key=", "apikey=", "hapikey=", "token=", "password=", "client_secret="}) {
    std::size_t pos = 0;
    while ((pos = out.find(key, pos)) != std::string::npos) {
      if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&') {
        pos += 1;
        continue;
      }
      const auto start = pos + std::string_view(key).size();
      const auto end = out.find('&', start);
      out.replace(start, (end == std::string::npos ? out.size() : end) - start, "REDACTED");
      pos = start;
    }
  }
  return out;
}

std::string url_encode(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    const auto ch = static_cast<unsigned char>(c);
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

std::optional<std::string> link_next(std::string_view header) {
  // <url>; rel="next", <url>;rel='prev'
  std::size_t pos = 0;
  while (pos < header.size()) {
    const auto lt = header.find('<', pos);
    if (lt == std::string_view::npos) return std::nullopt;
    const auto gt = header.find('>', lt);
    if (gt == std::string_view::npos) return std::nullopt;
    const auto next = header.find('<', gt);
    const std::string_view params = header.substr(gt + 1, (next == std::string_view::npos ? header.size() : next) - gt - 1);
    std::string p;
    for (char ch : params) {
      if (ch != ' ' && ch != '"' && ch != '\'') p += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (p.find("rel=next") != std::string::npos) return std::string(header.substr(lt + 1, gt - lt - 1));
    if (next == std::string_view::npos) return std::nullopt;
    pos = next;
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> retry_after(const HttpResponse& r, core::Instant now) {
  using std::chrono::milliseconds;
  const auto h = r.header("Retry-After");
  if (!h || h->empty()) return std::nullopt;
  if (std::all_of(h->begin(), h->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (h->size() > 7) return milliseconds(86400000);  // absurdly long: cap at a day
    return milliseconds(std::stoll(*h) * 1000);
  }
  const time_t at = curl_getdate(h->c_str(), nullptr);  // an HTTP date
  if (at < 0) return std::nullopt;
  const auto delta = core::from_unix_ms(static_cast<std::int64_t>(at) * 1000) - now;
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(delta));
}

}  // namespace pactwatch::net
