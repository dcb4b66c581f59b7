#include <gtest/gtest.h>

#include "pactwatch/store/store.h"

namespace pactwatch::store {
namespace {

TEST(DatabaseUrl, Sqlite) {
  auto t = parse_database_url("sqlite:///var/lib/pactwatch/pactwatch.db", "");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->backend, Backend::sqlite);
  EXPECT_EQ(t->connect_string, "/var/lib/pactwatch/pactwatch.db");
  EXPECT_EQ(parse_database_url("sqlite://var/pw.db", "")->connect_string, "var/pw.db");
  EXPECT_EQ(parse_database_url("sqlite:///tmp/a%20b.db", "")->connect_string, "/tmp/a b.db");
  EXPECT_FALSE(parse_database_url("sqlite://", ""));
}

TEST(DatabaseUrl, PostgresqlBecomesQuotedConninfo) {
  auto t = parse_database_url("postgresql://pactwatch@db.internal:5433/pw?sslmode=require&connect_timeout=5", "it's");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->backend, Backend::postgresql);
  EXPECT_EQ(t->connect_string,
            "host='db.internal' port='5433' dbname='pw' user='pactwatch' password='it\\'s' sslmode='require' "
            "connect_timeout='5'");
  EXPECT_EQ(parse_database_url("postgres://h/db", "")->connect_string, "host='h' dbname='db'");
  EXPECT_EQ(parse_database_url("postgresql://u@[::1]:5432/db", "")->connect_string,
            "host='::1' port='5432' dbname='db' user='u'");
  EXPECT_EQ(parse_database_url("postgresql://u@%2Frun%2Fpostgresql/db", "")->connect_string,
            "host='/run/postgresql' dbname='db' user='u'");
}

TEST(DatabaseUrl, Rejects) {
  EXPECT_FALSE(parse_database_url("mysql://x/y", ""));
  EXPECT_FALSE(parse_database_url("postgresql://u:pw@h/db", ""));
  EXPECT_FALSE(parse_database_url("postgresql://h/db?novalue", ""));
  EXPECT_FALSE(parse_database_url("postgresql://[::1/db", ""));
}

}  // namespace
}  // namespace pactwatch::store
