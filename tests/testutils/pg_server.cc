#include "pg_server.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <stdexcept>
#include <vector>

#include "temp_dir.h"

namespace pactwatch::testutils {

namespace {

std::filesystem::path find_bindir() {
  if (const char* env = std::getenv("PACTWATCH_PG_BINDIR"); env && *env) return env;
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(entry.path() / "bin" / "initdb")) found.push_back(entry.path() / "bin");
  }
  if (found.empty()) {
    throw std::runtime_error(
        "PostgreSQL server binaries not found under /usr/lib/postgresql (run 'make deps' to install postgresql)");
  }
  std::sort(found.begin(), found.end());
  return found.back();
}

}  // namespace

PostgresServer::PostgresServer() : bindir_(find_bindir()) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "pactwatch-pg-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (::geteuid() == 0) {
    // initdb refuses to run as root: hand the directory to the postgres user and run as it.
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("running as root but there is no 'postgres' user");
    if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown failed");
    as_postgres_ = true;
  }
  const std::string init = (bindir_ / "initdb").string() + " -D " + (dir_ / "data").string() +
                           " -U pactwatch -A trust -E UTF8 --no-sync > " + (dir_ / "initdb.log").string() + " 2>&1";
  if (std::system(run_as_owner(init).c_str()) != 0) {
    const std::string log = read_file(dir_ / "initdb.log");
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("initdb failed:\n" + log);
  }
  start();
}

PostgresServer::~PostgresServer() {
  if (running_) {
    std::system(run_as_owner((bindir_ / "pg_ctl").string() + " -D " + (dir_ / "data").string() +
                             " -m immediate -w stop > /dev/null 2>&1")
                    .c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PostgresServer::run_as_owner(const std::string& command) const {
  if (!as_postgres_) return command;
  return "runuser -u postgres -- sh -c '" + command + "'";
}

void PostgresServer::start() {
  for (int attempt = 0; attempt < 5 && !running_; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = free_port();
    const std::string cmd = (bindir_ / "pg_ctl").string() + " -D " + (dir_ / "data").string() + " -l " +
                            (dir_ / "server.log").string() + " -w -t 60 -o \"-p " + std::to_string(port_) +
                            " -h 127.0.0.1 -k " + dir_.string() +
                            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\"" +
                            " start > /dev/null 2>&1";
    running_ = std::system(run_as_owner(cmd).c_str()) == 0;
  }
  if (!running_) throw std::runtime_error("PostgreSQL did not start:\n" + read_file(dir_ / "server.log"));
}

void PostgresServer::stop() {
  if (!running_) return;
  std::system(run_as_owner((bindir_ / "pg_ctl").string() + " -D " + (dir_ / "data").string() +
                           " -m fast -w stop > /dev/null 2>&1")
                  .c_str());
  running_ = false;
}

std::string PostgresServer::create_database(const std::string& name) {
  soci::session admin(soci::postgresql,
                      "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=pactwatch");
  admin << "SET client_min_messages = warning";
  admin << "DROP DATABASE IF EXISTS " + name;
  admin << "CREATE DATABASE " + name;
  return "postgresql://pactwatch@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

PostgresServer& shared_postgres() {
  static PostgresServer server;
  return server;
}

}  // namespace pactwatch::testutils
