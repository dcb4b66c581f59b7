#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace pactwatch::testutils {

// A throwaway PostgreSQL server: initdb into a temporary directory, listening on a free port on
// 127.0.0.1, run as the `postgres` user when the tests run as root. Stopped and removed on
// destruction. Set PACTWATCH_PG_BINDIR to use another installation than /usr/lib/postgresql/*/bin.
class PostgresServer {
 public:
  // Throws std::runtime_error with the server's log when it cannot start.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Creates an empty database and returns its postgresql:// URL.
  std::string create_database(const std::string& name);
  [[nodiscard]] int port() const { return port_; }
  // Stops and starts the server on the same port and data (for reconnection tests).
  void stop();
  void start();

 private:
  std::string run_as_owner(const std::string& command) const;
  std::filesystem::path bindir_;
  std::filesystem::path dir_;
  bool as_postgres_ = false;
  int port_ = 0;
  bool running_ = false;
};

// The server shared by every test in this process, started on first use.
PostgresServer& shared_postgres();

}  // namespace pactwatch::testutils
