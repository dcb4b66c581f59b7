#include "pactwatch/app/dispatcher.h"

#include <curl/curl.h>
#include <date/date.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstring>
#include <nlohmann/json.hpp>

#include "pactwatch/net/http.h"

namespace pactwatch::app {

namespace {

using nlohmann::json;

// The retry schedule after the first, second, ... failed attempt.
constexpr std::array<std::chrono::seconds, 7> kBackoff{std::chrono::seconds(5),     std::chrono::minutes(5),
                                                       std::chrono::minutes(30),    std::chrono::hours(2),
                                                       std::chrono::hours(5),       std::chrono::hours(10),
                                                       std::chrono::hours(24)};

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::string unbase64(const std::string& in) {
  std::string out(3 * in.size() / 4 + 3, '\0');
  const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
  if (len < 0) return {};
  std::size_t n = static_cast<std::size_t>(len);
  // EVP_DecodeBlock counts padding as data: drop a byte per '='.
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) --n;
  out.resize(n);
  return out;
}

struct Counters {
  std::mutex mutex;
  std::map<std::string, std::map<std::string, std::int64_t>> by_channel;  // channel -> outcome -> n
};
Counters& counters() {
  static Counters c;
  return c;
}
void count(const std::string& channel, const std::string& outcome) {
  std::lock_guard lock(counters().mutex);
  ++counters().by_channel[channel][outcome];
}

std::string slack_text(const store::OutboxEvent& e) {
  const auto p = json::parse(e.payload, nullptr, false);
  std::string what = e.type;
  if (e.type == "kpi.breached") what = "breached";
  else if (e.type == "kpi.at_risk") what = "at risk";
  else if (e.type == "kpi.recovered") what = "recovered";
  else if (e.type == "standard.violated") what = "violated";
  else if (e.type == "obligation.breached") what = "breached (brand obligation)";
  else if (e.type == "statement.closed") what = "statement closed";
  return "pactwatch: " + e.partner + " " + e.contract + " v" + std::to_string(e.version) + " " + e.period + ": " + e.subject +
         " " + what + (p.is_object() && p.contains("from") && p["from"].is_string() ? " (was " + p["from"].get<std::string>() + ")" : "");
}

// What a receiver's answer can mean: only a timeout (408), a request too early (425), a rate limit
// (429) and server errors (5xx) can succeed later. Any other answer outside 2xx (a 400, 401, 403,
// 404, 422, a redirect) refuses this event for good. 410 is handled apart: it disables the channel.
bool retryable_status(long status) { return status >= 500 || status == 408 || status == 425 || status == 429; }

// The first 200 bytes of a receiver's answer, on one line, for the delivery's last_error.
std::string answer_snippet(const std::string& body) {
  std::string s = body.substr(0, 200);
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s.empty() ? "(empty answer)" : s + (body.size() > 200 ? "..." : "");
}

// An event's data, with its links as they are now: an event stored with older links goes out with
// working ones.
json event_data(const store::OutboxEvent& e) {
  json data = json::parse(e.payload, nullptr, false);
  if (!data.is_object()) data = json::object();
  for (const auto& [name, path] : store::event_links(e)) data[name] = path;
  return data;
}

struct Upload {
  std::string data;
  std::size_t pos = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  const std::size_t len = std::min(size * n, u->data.size() - u->pos);
  std::memcpy(buffer, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

// Sends one message over SMTP with libcurl (STARTTLS when the URL is smtp://); "" on success.
int abort_transfer(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(user);
  return abort && abort->load() ? 1 : 0;
}

std::string send_email(const config::ChannelConfig& ch, const std::vector<std::string>& recipients, const std::string& password,
                       const store::OutboxEvent& e, core::Instant now, const std::atomic<bool>* abort) {
  std::string to_header;
  for (const auto& t : recipients) to_header += (to_header.empty() ? "" : ", ") + t;
  const auto time = std::chrono::floor<std::chrono::seconds>(now);
  std::string msg = "From: " + ch.from + "\r\nTo: " + to_header + "\r\nSubject: " + slack_text(e) +
                    "\r\nDate: " + date::format("%a, %d %b %Y %H:%M:%S +0000", date::sys_seconds(time.time_since_epoch())) +
                    "\r\nMessage-ID: <" + std::to_string(std::hash<std::string>{}(e.id)) + "." +
                    std::to_string(core::to_unix_ms(e.created_at)) + "@pactwatch>\r\nX-Pactwatch-Event-Id: " + e.id +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + slack_text(e) + "\r\n\r\nEvent: " + e.type +
                    "\r\nPartner: " + e.partner + "\r\nContract: " + e.contract + " v" + std::to_string(e.version) +
                    "\r\nPeriod: " + e.period + "\r\nDetails: " +
                    event_data(e).dump(-1, ' ', false, json::error_handler_t::replace) + "\r\n";
  CURL* c = curl_easy_init();
  if (!c) return "cannot initialise libcurl";
  Upload up{msg, 0};
  curl_slist* rcpt = nullptr;
  for (const auto& t : recipients) rcpt = curl_slist_append(rcpt, ("<" + t + ">").c_str());
  curl_easy_setopt(c, CURLOPT_URL, ch.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_USE_SSL, ch.starttls_required ? CURLUSESSL_ALL : CURLUSESSL_TRY);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, ("<" + ch.from + ">").c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &up);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  if (abort) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_transfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(abort));
  }
  if (!ch.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, ch.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? "" : std::string("SMTP: ") + curl_easy_strerror(rc);
}

}  // namespace

std::string webhook_signature(const std::string& secret, const std::string& id, std::int64_t timestamp, const std::string& body) {
  const std::string key = unbase64(secret.starts_with("whsec_") ? secret.substr(6) : secret);
  const std::string content = id + "." + std::to_string(timestamp) + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &len);
  return "v1," + base64(mac, len);
}

std::string cloudevent(const store::OutboxEvent& e) {
  json data = event_data(e);
  data["partner"] = e.partner;
  data["contract"] = {{"id", e.contract}, {"version", e.version}};
  data["period"] = e.period;
  json ce{{"specversion", "1.0"},
          {"id", e.id},
          {"source", "pactwatch"},
          {"type", "pactwatch." + e.type},
          {"subject", e.partner + "/" + e.contract + "/" + std::to_string(e.version) + "/" + e.period + "/" + e.subject},
          {"time", core::format_rfc3339(e.created_at)},
          {"datacontenttype", "application/json"},
          {"data", data}};
  return ce.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string refuse_url(const std::string& url, bool allow_private) {
  if (!url.starts_with("https://") && !url.starts_with("http://") && !url.starts_with("smtp://") && !url.starts_with("smtps://")) {
    return "only http(s) and smtp(s) URLs are called";
  }
  if (allow_private) return "";
  const auto start = url.find("://") + 3;
  auto end = url.find_first_of("/?#", start);
  std::string host = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (const auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.find(']') - 1);
  else if (const auto colon = host.rfind(':'); colon != std::string::npos) host = host.substr(0, colon);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host.starts_with("169.254.") || host.starts_with("fe80:") || host == "metadata.google.internal" || host == "metadata" ||
      host == "100.100.100.200" || host == "fd00:ec2::254") {
    return "link-local and cloud metadata addresses are refused (set allow_private: true to allow them)";
  }
  return "";
}

Dispatcher::Dispatcher(const config::Config& config, store::Store& store, const core::Clock& clock, RulesSnapshot rules,
                       const std::atomic<bool>* abort)
    : config_(config), store_(store), clock_(clock), rules_(std::move(rules)), abort_(abort) {
  for (const auto& c : config_.channels) {
    if (c.secret.empty()) continue;
    auto s = config::read_secret(c.secret, "notify.channels." + c.name);
    if (!s) spdlog::error("{}; channel {} cannot sign, its deliveries wait", s.error(), c.name);
    else secrets_[c.name] = *s;
  }
}

DispatchStats Dispatcher::run_once(const std::function<bool()>& may_continue) {
  DispatchStats stats;
  for (const auto& ch : config_.channels) {
    if (disabled_.contains(ch.name)) continue;
    if (ch.type == "webhook" && !secrets_.contains(ch.name)) continue;
    const core::Instant since = ch.since.empty() ? core::Instant{} : *core::parse_rfc3339(ch.since);
    std::vector<store::Delivery> due;
    try {
      due = store_.due_deliveries(ch.name, clock_.now(), since);
    } catch (const store::StoreError& e) {
      spdlog::error("outbox: {}", e.what());
      return stats;
    }
    net::HttpClient http({std::chrono::seconds(5), std::chrono::seconds(15), true, "pactwatch", abort_});
    for (auto& d : due) {
      if (may_continue && !may_continue()) return stats;
      const auto event = store_.outbox_event(d.event_id);
      if (!event) continue;
      // Routing: the channel's own filter, then the contract's notify block.
      const auto rules = rules_ ? rules_() : nullptr;
      const rules::ContractVersion* contract = nullptr;
      if (rules) {
        for (const auto& c : rules->contracts) {
          if (c.contract == event->contract && c.version == event->version) contract = &c;
        }
      }
      auto listed = [&](const std::vector<std::string>& list) { return std::find(list.begin(), list.end(), event->type) != list.end(); };
      std::vector<std::string> recipients = ch.to;
      bool routed = ch.events.empty() || listed(ch.events);
      if (ch.audience == "partner") {
        routed = routed && contract && contract->enforced && listed(contract->notify_partner);
        recipients.clear();
        if (const auto* p = rules ? rules->partner(event->partner) : nullptr) {
          for (const auto& c : p->contacts) {
            if (!c.email.empty()) recipients.push_back(c.email);
          }
        }
        routed = routed && !recipients.empty();
      } else if (contract && contract->notify_brand) {
        routed = routed && listed(*contract->notify_brand);
      }
      if (!routed) {
        d.status = "skipped";
        store_.update_delivery(d);
        ++stats.skipped;
        continue;
      }
      const auto now = clock_.now();
      // Damping: a recovery is announced only once it has held (a status that flaps back to
      // breached within the hold sends no recovery at all).
      if (event->type == "kpi.recovered" && config_.recovery_hold_s > 0) {
        const auto held_at = event->created_at + std::chrono::seconds(config_.recovery_hold_s);
        if (now < held_at) {
          d.next_attempt_at = held_at;
          store_.update_delivery(d);
          continue;
        }
        const auto current = store_.rule_status(event->contract, event->version, event->period, event->subject);
        if (!current || (*current != "met" && *current != "warning")) {
          d.status = "skipped";
          d.last_error = "did not hold for the recovery hold (now " + current.value_or("unknown") + ")";
          store_.update_delivery(d);
          ++stats.skipped;
          continue;
        }
      }
      ++d.attempts;
      if (const auto why = refuse_url(ch.url, ch.allow_private); !why.empty()) {
        d.status = "dead";
        d.last_error = why;
        store_.update_delivery(d);
        ++stats.dead;
        count(ch.name, "dead");
        continue;
      }
      // The outcome of an attempt: delivered, or retried on the schedule until it is dead.
      auto delivered = [&] {
        d.status = "delivered";
        d.delivered_at = now;
        d.last_error.clear();
        store_.update_delivery(d);
        ++stats.delivered;
        count(ch.name, "delivered");
      };
      auto failed = [&](std::string error, std::chrono::milliseconds at_least) {
        d.last_error = std::move(error);
        if (static_cast<std::size_t>(d.attempts) > kBackoff.size()) {
          d.status = "dead";
          spdlog::error("notify channel {}: event {} dead after {} attempts: {}", ch.name, d.event_id, d.attempts, d.last_error);
          ++stats.dead;
          count(ch.name, "dead");
        } else {
          d.next_attempt_at = now + std::max<std::chrono::milliseconds>(kBackoff[static_cast<std::size_t>(d.attempts - 1)], at_least);
          ++stats.retried;
          count(ch.name, "retried");
        }
        store_.update_delivery(d);
      };
      if (ch.type == "email") {
        const auto failure =
            send_email(ch, recipients, secrets_.contains(ch.name) ? secrets_.at(ch.name) : std::string(), *event, now, abort_);
        if (!failure.empty() && abort_ && abort_->load()) return stats;  // abandoned by a stop: still pending
        if (failure.empty()) delivered();
        else failed(failure, std::chrono::milliseconds(0));
        continue;
      }
      net::HttpRequest req;
      req.method = "POST";
      req.url = ch.url;
      req.headers.emplace_back("Content-Type", "application/json");
      if (ch.type == "webhook") {
        req.body = cloudevent(*event);
        const auto ts = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        req.headers.emplace_back("webhook-id", event->id);
        req.headers.emplace_back("webhook-timestamp", std::to_string(ts));
        req.headers.emplace_back("webhook-signature", webhook_signature(secrets_.at(ch.name), event->id, ts, req.body));
      } else {
        req.body = json{{"text", slack_text(*event)}}.dump(-1, ' ', false, json::error_handler_t::replace);
      }
      spdlog::debug("notifications: sending {} to {}", event->id, ch.name);
      auto resp = http.send(req);
      if (!resp && abort_ && abort_->load()) return stats;  // abandoned by a stop: still pending, as it was
      if (resp && resp->status >= 200 && resp->status < 300) {
        delivered();
        continue;
      }
      if (resp && resp->status == 410) {
        // The receiver says it is gone for good: stop calling it until the config changes.
        d.status = "dead";
        d.last_error = "endpoint gone (HTTP 410); channel disabled until the next reload";
        store_.update_delivery(d);
        disabled_.insert(ch.name);
        spdlog::error("notify channel {}: {}", ch.name, d.last_error);
        ++stats.dead;
        count(ch.name, "gone");
        break;
      }
      if (resp && !retryable_status(resp->status)) {
        // The receiver refused this event (a bad request, a wrong secret, an unknown path): sending
        // it again cannot succeed. Dead at once, with the receiver's answer.
        d.status = "dead";
        d.last_error = "HTTP " + std::to_string(resp->status) + " (permanent; not retried): " + answer_snippet(resp->body);
        store_.update_delivery(d);
        spdlog::error("notify channel {}: event {} refused: {}", ch.name, d.event_id, d.last_error);
        ++stats.dead;
        count(ch.name, "dead");
        continue;
      }
      const auto retry_after = resp ? net::retry_after(*resp, now) : std::nullopt;
      failed(resp ? "HTTP " + std::to_string(resp->status) + ": " + answer_snippet(resp->body) : resp.error().message,
             retry_after.value_or(std::chrono::milliseconds(0)));
    }
  }
  return stats;
}

std::string Dispatcher::prometheus() {
  std::lock_guard lock(counters().mutex);
  std::string out = "# HELP pactwatch_notify_deliveries_total Notification delivery outcomes by channel.\n"
                    "# TYPE pactwatch_notify_deliveries_total counter\n";
  for (const auto& [ch, outcomes] : counters().by_channel) {
    for (const auto& [o, n] : outcomes) {
      out += "pactwatch_notify_deliveries_total{channel=\"" + ch + "\",outcome=\"" + o + "\"} " + std::to_string(n) + "\n";
    }
  }
  return out;
}

}  // namespace pactwatch::app
