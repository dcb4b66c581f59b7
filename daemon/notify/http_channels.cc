#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "channels.h"
#include "pactwatch/notify/message.h"

namespace pactwatch::notify {

HttpChannel::HttpChannel(const config::ChannelConfig& config, const std::atomic<bool>* abort)
    : Channel(config), http_({std::chrono::seconds(5), std::chrono::seconds(15), true, "pactwatch", abort}), abort_(abort) {}

Attempt HttpChannel::send(const store::OutboxEvent& event, const std::vector<std::string>&, core::Instant now) {
  const auto req = request(event, now);
  spdlog::debug("notifications: sending {} to {}", event.id, config().name);
  const auto answer = http_.send(req);
  if (!answer && abort_ && abort_->load()) return {Outcome::abandoned, answer.error().message, {}};
  return classify(answer, now);
}

WebhookChannel::WebhookChannel(const config::ChannelConfig& config, std::string key, const std::atomic<bool>* abort)
    : HttpChannel(config, abort), key_(std::move(key)) {}

net::HttpRequest WebhookChannel::request(const store::OutboxEvent& event, core::Instant now) const {
  net::HttpRequest req;
  req.method = "POST";
  req.url = config().url;
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = cloudevent(event);
  const auto ts = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  req.headers.emplace_back("webhook-id", event.id);
  req.headers.emplace_back("webhook-timestamp", std::to_string(ts));
  req.headers.emplace_back("webhook-signature", webhook_signature(key_, event.id, ts, req.body));
  return req;
}

net::HttpRequest SlackChannel::request(const store::OutboxEvent& event, core::Instant) const {
  net::HttpRequest req;
  req.method = "POST";
  req.url = config().url;
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = nlohmann::json{{"text", event_text(event)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return req;
}

}  // namespace pactwatch::notify
