#pragma once

#include <string>
#include <vector>

namespace pactwatch::store {

struct MigrationFile {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<MigrationFile>& sqlite_migrations();
const std::vector<MigrationFile>& postgresql_migrations();

// Splits a migration into statements at semicolons outside quotes and comments.
std::vector<std::string> split_sql(const std::string& sql);

}  // namespace pactwatch::store
