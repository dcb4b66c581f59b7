// The channels, one small class each; make_channel (channel.h) picks one by the config's type,
// once. Webhook and Slack are HTTP POSTs that differ only in their request; email is SMTP.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "pactwatch/net/http.h"
#include "pactwatch/notify/channel.h"

namespace pactwatch::notify {

// A channel that POSTs one request per event and classifies the answer (outcome.h).
class HttpChannel : public Channel {
 public:
  HttpChannel(const config::ChannelConfig& config, const std::atomic<bool>* abort);

 protected:
  [[nodiscard]] virtual net::HttpRequest request(const store::OutboxEvent& event, core::Instant now) const = 0;

 private:
  Attempt send(const store::OutboxEvent& event, const std::vector<std::string>& recipients, core::Instant now) final;
  net::HttpClient http_;
  const std::atomic<bool>* abort_;
};

// Standard Webhooks: the CloudEvents JSON body, signed with the channel's key; the event id as
// `webhook-id`, so a receiver deduplicates retries.
class WebhookChannel final : public HttpChannel {
 public:
  WebhookChannel(const config::ChannelConfig& config, std::string key, const std::atomic<bool>* abort);

 private:
  net::HttpRequest request(const store::OutboxEvent& event, core::Instant now) const override;
  std::string key_;
};

// A Slack incoming webhook: {"text": one line}. No signature: the URL is the secret.
class SlackChannel final : public HttpChannel {
 public:
  using HttpChannel::HttpChannel;

 private:
  net::HttpRequest request(const store::OutboxEvent& event, core::Instant now) const override;
};

// SMTP through libcurl: one message per event to every recipient; STARTTLS required unless the
// channel says otherwise (then tried). libcurl's SMTP answers carry no status we could sort
// into permanent and transient, so every failure is transient.
class EmailChannel final : public Channel {
 public:
  EmailChannel(const config::ChannelConfig& config, std::string password, const std::atomic<bool>* abort);

 private:
  Attempt send(const store::OutboxEvent& event, const std::vector<std::string>& recipients, core::Instant now) override;
  // Sends one message; "" on success, else libcurl's reason.
  [[nodiscard]] std::string smtp_send(const store::OutboxEvent& event, const std::vector<std::string>& recipients,
                                      core::Instant now) const;
  std::string password_;
  const std::atomic<bool>* abort_;
};

}  // namespace pactwatch::notify
