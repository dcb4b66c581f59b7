#include "pactwatch/notify/message.h"

#include <date/date.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>

namespace pactwatch::notify {

namespace {

using nlohmann::json;

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

// An event's data, with its links as they are now.
json event_data(const store::OutboxEvent& e) {
  json data = json::parse(e.payload, nullptr, false);
  if (!data.is_object()) data = json::object();
  for (const auto& [name, path] : store::event_links(e)) data[name] = path;
  return data;
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

std::string event_text(const store::OutboxEvent& e) {
  const auto p = json::parse(e.payload, nullptr, false);
  if (e.type.starts_with("dispute.")) {
    auto field = [&](const char* k) { return p.is_object() && p.contains(k) && p[k].is_string() ? p[k].get<std::string>() : std::string(); };
    const std::string what = e.partner + " " + e.contract + " v" + std::to_string(e.version) + " " + e.period + " " + field("rule") +
                             ": dispute " + (p.is_object() && p.contains("dispute") ? p["dispute"].dump() : std::string("?"));
    if (e.type == "dispute.opened") return "pactwatch: " + what + " opened by the partner (" + field("category") + "): " + field("comment");
    return "pactwatch: " + what + " " + (field("act") == "accept" ? "accepted" : "rejected") + " by the " + field("party") +
           (field("comment").empty() ? "" : ": " + field("comment"));
  }
  if (e.type.starts_with("contract.")) {
    auto field = [&](const char* k) { return p.is_object() && p.contains(k) && p[k].is_string() ? p[k].get<std::string>() : std::string(); };
    const std::string what = e.contract + " v" + std::to_string(e.version) + " (" + e.partner + ")";
    const std::string by = field("party") + " " + field("by");
    if (e.type == "contract.proposed") return "pactwatch: " + what + " proposed by the " + by;
    if (e.type == "contract.approved") return "pactwatch: " + what + " approved by the " + by;
    if (e.type == "contract.rejected") {
      return "pactwatch: " + what + (field("act") == "request_changes" ? " changes requested by the " : " rejected by the ") + by +
             (field("comment").empty() ? "" : ": " + field("comment"));
    }
    if (e.type == "contract.withdrawn") return "pactwatch: " + what + " withdrawn by the " + by;
    if (e.type == "contract.enforced") return "pactwatch: " + what + " agreed by both parties; enforced from " + field("effective_from");
  }
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

std::string email_message(const config::ChannelConfig& channel, const std::vector<std::string>& recipients, const store::OutboxEvent& e,
                          core::Instant now) {
  std::string to_header;
  for (const auto& t : recipients) to_header += (to_header.empty() ? "" : ", ") + t;
  const auto time = std::chrono::floor<std::chrono::seconds>(now);
  return "From: " + channel.from + "\r\nTo: " + to_header + "\r\nSubject: " + event_text(e) +
         "\r\nDate: " + date::format("%a, %d %b %Y %H:%M:%S +0000", date::sys_seconds(time.time_since_epoch())) +
         "\r\nMessage-ID: <" + std::to_string(std::hash<std::string>{}(e.id)) + "." + std::to_string(core::to_unix_ms(e.created_at)) +
         "@pactwatch>\r\nX-Pactwatch-Event-Id: " + e.id + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + event_text(e) +
         "\r\n\r\nEvent: " + e.type + "\r\nPartner: " + e.partner + "\r\nContract: " + e.contract + " v" + std::to_string(e.version) +
         "\r\nPeriod: " + e.period + "\r\nDetails: " + event_data(e).dump(-1, ' ', false, json::error_handler_t::replace) + "\r\n";
}

}  // namespace pactwatch::notify
