#include <curl/curl.h>

#include <algorithm>
#include <cstring>

#include "channels.h"
#include "pactwatch/notify/message.h"

namespace pactwatch::notify {

namespace {

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

int abort_transfer(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(user);
  return abort && abort->load() ? 1 : 0;
}

}  // namespace

EmailChannel::EmailChannel(const config::ChannelConfig& config, std::string password, const std::atomic<bool>* abort)
    : Channel(config), password_(std::move(password)), abort_(abort) {}

Attempt EmailChannel::send(const store::OutboxEvent& event, const std::vector<std::string>& recipients, core::Instant now) {
  std::string error = smtp_send(event, recipients, now);
  if (error.empty()) return {Outcome::delivered, {}, {}};
  if (abort_ && abort_->load()) return {Outcome::abandoned, std::move(error), {}};  // a stop: still pending
  return {Outcome::transient, std::move(error), {}};
}

std::string EmailChannel::smtp_send(const store::OutboxEvent& event, const std::vector<std::string>& recipients,
                                    core::Instant now) const {
  const auto& ch = config();
  CURL* c = curl_easy_init();
  if (!c) return "cannot initialise libcurl";
  Upload up{email_message(ch, recipients, event, now), 0};
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
  if (abort_) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_transfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(abort_));
  }
  if (!ch.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, ch.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password_.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? "" : std::string("SMTP: ") + curl_easy_strerror(rc);
}

}  // namespace pactwatch::notify
