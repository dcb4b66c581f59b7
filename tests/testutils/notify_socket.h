// A NOTIFY_SOCKET of our own: the datagrams a daemon sends to systemd, each with the steady time
// it was received, so a test can see gaps between watchdog pings.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace pactwatch::testutils {

class NotifySocket {
 public:
  struct Message {
    std::chrono::steady_clock::time_point at;
    std::string text;
  };

  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] bool bound() const { return bound_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Reads what arrived (as systemd would: a full queue would block the sender); everything so far.
  const std::vector<Message>& drain() {
    char buf[4096];
    while (true) {
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      messages_.push_back({std::chrono::steady_clock::now(), std::string(buf, static_cast<std::size_t>(n))});
    }
    return messages_;
  }
  // Every message so far, one per line.
  std::string text() {
    std::string all;
    for (const auto& m : drain()) all += m.text + "\n";
    return all;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<Message> messages_;
};

}  // namespace pactwatch::testutils
