// This instance's name in the leases of a shared database (docs/operations.md, "Restart after a
// crash"). A name that survives a restart lets a restarted instance hold its own leases again at
// once, instead of waiting for them to run out as if they were another instance's.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>

#include "pactwatch/config/config.h"

namespace pactwatch::app {

// Where this installation keeps its own files (the instance name, the agreement signing key):
// $STATE_DIRECTORY (the first when systemd lists several), else the SQLite database's directory;
// nothing for a PostgreSQL store outside systemd.
[[nodiscard]] std::optional<std::filesystem::path> state_directory(const config::Config& config);

// The agreement signing key's file: agreements.signing_key, else agreement-signing.key in the
// state directory; an error saying to set agreements.signing_key when there is no state directory.
[[nodiscard]] std::expected<std::filesystem::path, std::string> signing_key_path(const config::Config& config);

class InstanceIdentity {
 public:
  // cluster.instance when the config sets it. Otherwise a name kept in the state directory
  // ($STATE_DIRECTORY under systemd, else the directory of the SQLite database): the host name
  // and a random suffix ("db1:3f9a61c2"), made on the first start and read back on every later
  // one. The file is locked while the process runs, so two processes never share a name: a
  // second one on the same directory takes the next file (instance-id.2, instance-id.3, ...).
  // Without a state directory, or when it cannot be written: the host name and process id, so
  // a restart waits out its old leases (a warning says so).
  [[nodiscard]] static InstanceIdentity acquire(const config::Config& config);

  InstanceIdentity(InstanceIdentity&& other) noexcept;
  InstanceIdentity& operator=(InstanceIdentity&&) = delete;
  InstanceIdentity(const InstanceIdentity&) = delete;
  InstanceIdentity& operator=(const InstanceIdentity&) = delete;
  ~InstanceIdentity();  // releases the lock

  [[nodiscard]] const std::string& name() const { return name_; }
  // Where the name comes from, for the start-up log: "cluster.instance", the file, or "host name
  // and process id (...)".
  [[nodiscard]] const std::string& origin() const { return origin_; }
  // True when a restart of this process comes back under the same name.
  [[nodiscard]] bool stable() const { return stable_; }

 private:
  InstanceIdentity(std::string name, std::string origin, bool stable, int fd)
      : name_(std::move(name)), origin_(std::move(origin)), stable_(stable), fd_(fd) {}
  std::string name_;
  std::string origin_;
  bool stable_ = false;
  int fd_ = -1;
};

}  // namespace pactwatch::app
