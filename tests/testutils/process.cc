#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include "temp_dir.h"
#include "wait.h"

extern char** environ;

namespace pactwatch::testutils {

namespace {
std::filesystem::path unique_path(const char* suffix) {
  static int counter = 0;
  return std::filesystem::temp_directory_path() /
         ("pactwatch-child-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + suffix);
}
}  // namespace

Child::Child(const std::vector<std::string>& argv) : out_path_(unique_path(".out")), err_path_(unique_path(".err")) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::error_code ec;
  std::filesystem::remove(out_path_, ec);
  std::filesystem::remove(err_path_, ec);
}

void Child::signal(int signo) const { ::kill(pid_, signo); }

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  std::optional<int> code;
  (void)eventually(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
        reaped_ = true;
        code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return true;
      },
      timeout, std::chrono::milliseconds(10));
  return code;
}

std::string Child::out() const { return read_file(out_path_); }
std::string Child::err() const { return read_file(err_path_); }

bool Child::wait_for_err(const std::string& needle, std::chrono::milliseconds timeout) const {
  std::ifstream in(err_path_, std::ios::binary);
  std::string seen;
  // Reads what was written since the last look; true once the needle is in it.
  auto found = [&] {
    for (;;) {
      std::string chunk(4096, '\0');
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      chunk.resize(static_cast<std::size_t>(in.gcount()));
      in.clear();  // at the end of what is written so far: read on later
      if (chunk.empty()) return false;
      // Keep a tail long enough for a needle split across reads.
      seen = seen.substr(seen.size() > needle.size() ? seen.size() - needle.size() : 0) + chunk;
      if (seen.find(needle) != std::string::npos) return true;
    }
  };
  return eventually(found, timeout, std::chrono::milliseconds(1));
}

ProcessResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  Child c(argv);
  auto code = c.wait(timeout);
  if (!code) {
    c.signal(SIGKILL);
    c.wait(std::chrono::milliseconds(5000));
  }
  return {code.value_or(-1), c.out(), c.err()};
}

}  // namespace pactwatch::testutils
