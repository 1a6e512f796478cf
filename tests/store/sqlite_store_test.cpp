// The SQLite store against a real database file in a temporary directory: the
// store contract (store_contract.h), then what is SQLite's own (the file,
// migrations from its older schema).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "store/store.h"
#include "store/store_contract.h"

namespace sovgrid::store {
namespace {

namespace fs = std::filesystem;

// A database file in a fresh temporary directory per test.
struct SqliteBackend {
  void SetUp() {
    dir = fs::temp_directory_path() /
          ("sovgrid-store-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() { fs::remove_all(dir); }
  Result<std::unique_ptr<Store>> Open() { return OpenSqliteStore(dir.string()); }
  fs::path dir;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreContract, SqliteBackend);

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sovgrid-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = OpenSqliteStore(dir_.string());
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST(SqliteStoreOpen, MissingDirectoryAndGarbageFileAreErrors) {
  auto missing = OpenSqliteStore("/nonexistent/sovgrid-data");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  const fs::path dir =
      fs::temp_directory_path() / ("sovgrid-store-garbage-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "sovgrid.db", std::ios::binary) << std::string(8192, '\x5a');
  auto garbage = OpenSqliteStore(dir.string());
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kIoError);
  EXPECT_NE(garbage.status().message().find("sovgrid.db"), std::string::npos);
  fs::remove_all(dir);
}

TEST_F(SqliteStoreTest, ASchemaOneDatabaseIsMigratedToTenantScopedIds) {
  store_.reset();
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  // The schema of sovgrid before job ids were scoped to their tenant.
  const std::string db = (dir_ / "sovgrid.db").string();
  ASSERT_EQ(
      std::system(("sqlite3 '" + db +
                   "' \"CREATE TABLE jobs (seq INTEGER PRIMARY KEY "
                   "AUTOINCREMENT, id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL, spec TEXT "
                   "NOT NULL, state TEXT NOT NULL, submitted_at INTEGER NOT NULL, updated_at "
                   "INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '', assignment TEXT NOT "
                   "NULL DEFAULT ''); CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT "
                   "NULL); INSERT INTO meta VALUES ('schema_version', '1'); INSERT INTO jobs "
                   "(id, tenant, spec, state, submitted_at, updated_at) VALUES ('old', "
                   "'startup', '{}', 'pending', 1, 1);\" 2>/dev/null")
                      .c_str()),
      0)
      << "needs the sqlite3 command";
  Reopen();
  auto j = store_->GetJob("startup/old");
  ASSERT_TRUE(j.ok()) << j.status().message();
  EXPECT_EQ(j->name, "old");
  EXPECT_EQ(j->backend_ref, "");
  Reopen();  // migrating again changes nothing
  EXPECT_TRUE(store_->GetJob("startup/old").ok());
}

}  // namespace
}  // namespace sovgrid::store
