// A notification channel: where events go (a signed webhook, a Slack incoming webhook, email over
// SMTP). One small class per kind in daemon/notify/, each knowing only its wire format; the
// non-virtual deliver() around them refuses URLs that may not be called, so no channel can forget.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pactwatch/config/config.h"
#include "pactwatch/core/time.h"
#include "pactwatch/notify/outcome.h"
#include "pactwatch/store/store.h"

namespace pactwatch::notify {

class Channel {
 public:
  explicit Channel(const config::ChannelConfig& config) : config_(config) {}
  virtual ~Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  [[nodiscard]] const config::ChannelConfig& config() const { return config_; }
  // One attempt at one event, to `recipients` (email; the others ignore them). `refused`, without
  // a request, when the channel's URL may not be called.
  [[nodiscard]] Attempt deliver(const store::OutboxEvent& event, const std::vector<std::string>& recipients, core::Instant now);

 protected:
  [[nodiscard]] virtual Attempt send(const store::OutboxEvent& event, const std::vector<std::string>& recipients,
                                     core::Instant now) = 0;

 private:
  const config::ChannelConfig& config_;
};

// The channel its config names (`type`: webhook, slack or email), with its secret (a webhook's
// signing key, an email user's password), or nothing when it cannot send: a webhook without its
// key. With `abort`, an attempt in flight is abandoned when it turns true. The config must outlive
// the channel. A channel holds one HTTP connection for its life.
[[nodiscard]] std::unique_ptr<Channel> make_channel(const config::ChannelConfig& config, const std::optional<std::string>& secret,
                                                    const std::atomic<bool>* abort = nullptr);

// Why a URL may not be called ("" when it may): scheme, link-local and metadata hosts.
[[nodiscard]] std::string refuse_url(const std::string& url, bool allow_private);

}  // namespace pactwatch::notify
