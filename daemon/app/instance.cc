#include "pactwatch/app/instance.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "pactwatch/store/store.h"

namespace pactwatch::app {

namespace {

namespace fs = std::filesystem;

constexpr int kSlots = 16;  // processes that may share one state directory, each with its own name

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host[0] != '\0' ? std::string(host) : std::string("localhost");
}

bool usable_name(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return false;
  }
  return true;
}

std::string random_suffix() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint32_t> d;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", d(rd));
  return buf;
}

// Reads the name kept in an open, locked file, writing a new one when it holds none.
std::optional<std::string> name_in(int fd, const fs::path& file, std::string& error) {
  std::string text;
  char buf[256];
  for (ssize_t n; (n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(text.size()))) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 4096) break;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (usable_name(text)) return text;
  const std::string name = host_name() + ":" + random_suffix();
  const std::string line = name + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()) || ::fsync(fd) != 0) {
    error = "cannot write " + file.string() + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return name;
}

}  // namespace

std::optional<fs::path> state_directory(const config::Config& config) {
  if (const char* dir = std::getenv("STATE_DIRECTORY"); dir != nullptr && *dir != '\0') {
    std::string first(dir);
    first = first.substr(0, first.find(':'));
    if (!first.empty()) return fs::path(first);
  }
  if (config.database_url.starts_with("sqlite://")) {
    if (auto target = store::parse_database_url(config.database_url, "")) {
      const fs::path db = target->connect_string;
      return db.has_parent_path() ? db.parent_path() : fs::current_path();
    }
  }
  return std::nullopt;
}

std::expected<fs::path, std::string> signing_key_path(const config::Config& config) {
  if (!config.agreements_signing_key.empty()) return fs::path(config.agreements_signing_key);
  if (auto dir = state_directory(config)) return *dir / "agreement-signing.key";
  return std::unexpected(
      "no place for the agreement signing key: set agreements.signing_key (the database is not a SQLite file and "
      "$STATE_DIRECTORY is not set)");
}

InstanceIdentity InstanceIdentity::acquire(const config::Config& config) {
  if (!config.cluster_instance.empty()) return {config.cluster_instance, "cluster.instance", true, -1};
  const std::string fallback = host_name() + ":" + std::to_string(::getpid());
  const auto dir = state_directory(config);
  std::string error = "no state directory ($STATE_DIRECTORY is not set and the database is not a SQLite file)";
  if (dir) {
    for (int slot = 1; slot <= kSlots; ++slot) {
      const fs::path file = *dir / (slot == 1 ? std::string("instance-id") : "instance-id." + std::to_string(slot));
      const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
      if (fd < 0) {
        error = "cannot open " + file.string() + ": " + std::strerror(errno);
        break;
      }
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);  // another running process holds this name: try the next
        error = "every name in " + dir->string() + " is held by a running process";
        continue;
      }
      if (auto name = name_in(fd, file, error)) return {*name, file.string(), true, fd};
      ::close(fd);
      break;
    }
  }
  spdlog::warn("cluster: instance name {} (host name and process id): {}; a restart will wait out this process's leases "
               "(set cluster.instance, or give it a writable state directory)",
               fallback, error);
  return {fallback, "host name and process id", false, -1};
}

InstanceIdentity::InstanceIdentity(InstanceIdentity&& other) noexcept
    : name_(std::move(other.name_)), origin_(std::move(other.origin_)), stable_(other.stable_), fd_(other.fd_) {
  other.fd_ = -1;
}

InstanceIdentity::~InstanceIdentity() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace pactwatch::app
