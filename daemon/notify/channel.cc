#include "pactwatch/notify/channel.h"

#include <cctype>

#include "channels.h"

namespace pactwatch::notify {

Attempt Channel::deliver(const store::OutboxEvent& event, const std::vector<std::string>& recipients, core::Instant now) {
  if (auto why = refuse_url(config_.url, config_.allow_private); !why.empty()) return {Outcome::refused, std::move(why), {}};
  return send(event, recipients, now);
}

std::unique_ptr<Channel> make_channel(const config::ChannelConfig& config, const std::optional<std::string>& secret,
                                      const std::atomic<bool>* abort) {
  if (config.type == "webhook") {
    if (!secret) return nullptr;  // unsigned, it would be refused: its deliveries wait for the key
    return std::make_unique<WebhookChannel>(config, *secret, abort);
  }
  if (config.type == "email") return std::make_unique<EmailChannel>(config, secret.value_or(std::string()), abort);
  return std::make_unique<SlackChannel>(config, abort);  // the config admits webhook, slack and email only
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

}  // namespace pactwatch::notify
