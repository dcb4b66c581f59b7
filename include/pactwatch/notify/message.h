// What an outbox event looks like on the wire: the CloudEvents 1.0 body and the Standard Webhooks
// signature of a webhook, the one line of a Slack message (and of an email's subject), and the
// whole email. Pure functions of the event (and `now` where a message carries a date).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pactwatch/config/config.h"
#include "pactwatch/core/time.h"
#include "pactwatch/store/store.h"

namespace pactwatch::notify {

// The Standard Webhooks signature of a message: "v1," + base64(HMAC-SHA256(key, id.timestamp.body)),
// where the key is the base64 part of a "whsec_..." secret.
[[nodiscard]] std::string webhook_signature(const std::string& secret, const std::string& id, std::int64_t timestamp,
                                            const std::string& body);
// The CloudEvents 1.0 JSON form of an outbox event, its links as they are now (an event stored
// with older links goes out with working ones).
[[nodiscard]] std::string cloudevent(const store::OutboxEvent& e);
// One line for people: "pactwatch: northwind support v3 2026-10: kpi:p1 breached (was met)".
[[nodiscard]] std::string event_text(const store::OutboxEvent& e);
// The email for an event (RFC 5322 headers and a plain-text body, CRLF line ends), dated `now`.
[[nodiscard]] std::string email_message(const config::ChannelConfig& channel, const std::vector<std::string>& recipients,
                                        const store::OutboxEvent& e, core::Instant now);

}  // namespace pactwatch::notify
