# Every dependency comes from Debian 12's archive; scripts/install-deps.sh installs them by name.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(date REQUIRED)
find_package(Boost 1.74 REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(LIBSSL REQUIRED IMPORTED_TARGET libssl)
find_package(CURL REQUIRED)

# SOCI ships no CMake package in Debian 12: find its libraries and headers explicitly.
find_path(SOCI_INCLUDE_DIR soci/soci.h REQUIRED)
find_library(SOCI_CORE_LIBRARY NAMES soci_core REQUIRED)
find_library(SOCI_SQLITE3_LIBRARY NAMES soci_sqlite3 REQUIRED)
find_library(SOCI_POSTGRESQL_LIBRARY NAMES soci_postgresql REQUIRED)
add_library(soci_all INTERFACE)
target_include_directories(soci_all SYSTEM INTERFACE ${SOCI_INCLUDE_DIR})
target_link_libraries(soci_all INTERFACE
  ${SOCI_SQLITE3_LIBRARY} ${SOCI_POSTGRESQL_LIBRARY} ${SOCI_CORE_LIBRARY}
  PkgConfig::SQLITE3 PkgConfig::LIBPQ ${CMAKE_DL_LIBS} Threads::Threads)
