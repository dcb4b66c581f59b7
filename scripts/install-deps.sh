#!/usr/bin/env bash
# Installs every Debian 12 package that pactwatch's build, tests and demo need. Idempotent: it
# checks each package by name, runs apt-get update once only when something is missing, and
# installs just what is missing. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates
  # the linker of the default and sanitizer builds (PACTWATCH_LLD): links the test executables fast
  lld
  # libraries (Debian 12 archive only)
  libboost-dev libsoci-dev libsqlite3-dev libpq-dev libyaml-cpp-dev libcpp-httplib-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libhowardhinnant-date-dev
  libsystemd-dev libssl-dev libcurl4-openssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # a real PostgreSQL server for the store conformance suite (the tests start their own instance)
  postgresql util-linux
  # an independent HMAC for the webhook signature test; the OpenAPI and CSV checks of the API tests;
  # the layering check against docs/design.md's module map (tests/layering, python3 alone)
  python3 python3-yaml python3-jsonschema
  # the portal rendered in a real browser (tests/browser), and the API load benchmark (make bench-api)
  chromium chromium-driver python3-selenium wrk
  # the sandboxing check of the shipped unit (systemd-analyze security, in make test)
  systemd
  # the Debian package (make deb) and its test: dpkg-shlibdeps, lintian
  dpkg-dev fakeroot lintian
  # demo and manual checks
  sqlite3 curl tzdata openssl
)

# `install-deps.sh --fuzz` adds the clang that builds the libFuzzer targets (make fuzz).
if [ "${1:-}" = "--fuzz" ]; then
  PACKAGES=(clang-19 libclang-rt-19-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
    exit 1
  fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Installing postgresql must not try to start a system cluster in a container without init.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
