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

TEST_F(SqliteStoreTest, ASchemaThreeDatabaseKeepsItsUsageRecordsInDayOrder) {
  store_.reset();
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  // Version 3's usage table: rowids in insertion order and an index on
  // (day, start_at). Two records of day 20001 inserted around one of 20000.
  constexpr std::int64_t kDay = 86400;
  const std::int64_t d = 20000 * kDay;
  std::string rows;
  auto row = [&](const char* job, std::int64_t start, std::int64_t end) {
    rows += "INSERT INTO usage (job, tenant, grant_holder, grant_id, pool, site, operator, model, "
            "milli, start_at, end_at, day, accelerator_s, units, energy_kwh, "
            "lost_accelerator_s, end_reason, job_ended) VALUES ('" +
            std::string(job) + "', 't1', '', '', 'p', 's', 'o', 'm', 1000, " +
            std::to_string(start) + ", " + std::to_string(end) + ", " +
            std::to_string(start / kDay) + ", " + std::to_string(end - start) +
            ", 1, 0, 0, 'finished', 1);";
  };
  row("t1/late", d + kDay + 10, d + kDay + 70);
  row("t1/early", d + 5, d + 65);
  row("t1/later", d + kDay + 20, d + kDay + 30);
  const std::string db = (dir_ / "sovgrid.db").string();
  ASSERT_EQ(std::system(("sqlite3 '" + db +
                         "' \"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); "
                         "INSERT INTO meta VALUES ('schema_version', '3'); CREATE TABLE usage "
                         "(seq INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, tenant TEXT "
                         "NOT NULL, grant_holder TEXT NOT NULL, grant_id TEXT NOT NULL, pool TEXT "
                         "NOT NULL, site TEXT NOT NULL, operator TEXT NOT NULL, model TEXT NOT "
                         "NULL, milli INTEGER NOT NULL, start_at INTEGER NOT NULL, end_at INTEGER "
                         "NOT NULL, day INTEGER NOT NULL, accelerator_s REAL NOT NULL, units REAL "
                         "NOT NULL, energy_kwh REAL NOT NULL, lost_accelerator_s REAL NOT NULL, "
                         "end_reason TEXT NOT NULL, job_ended INTEGER NOT NULL); CREATE INDEX "
                         "usage_by_day ON usage (day, start_at); " +
                         rows + "\" 2>/dev/null")
                            .c_str()),
            0)
      << "needs the sqlite3 command";
  Reopen();
  auto all = store_->UsageRecords(d, d + 2 * kDay, 100);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].job, "t1/early");
  EXPECT_EQ((*all)[1].job, "t1/late");
  EXPECT_EQ((*all)[2].job, "t1/later");
  auto second_day = store_->UsageRecords(d + kDay, d + 2 * kDay, 100);
  ASSERT_TRUE(second_day.ok());
  EXPECT_EQ(second_day->size(), 2u);

  // New records of a migrated day go after its old ones.
  StoredJob job;
  job.id = "t1/new";
  job.name = "new";
  job.tenant = "t1";
  job.spec_json = "{}";
  job.state = "running";
  job.submitted_at = d;
  ASSERT_TRUE(store_->AddJobs({job}).ok());
  JobUpdate end{"t1/new", "finished", d + kDay + 90, "", "", ""};
  model::UsageRecord r = (*all)[1];
  r.job = "t1/new";
  r.start = d + kDay + 40;
  r.end = d + kDay + 90;
  end.usage = {r};
  ASSERT_TRUE(store_->UpdateJobs({end}).ok());
  Reopen();  // migrating again changes nothing
  auto after = store_->UsageRecords(d + kDay, d + 2 * kDay, 100);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 3u);
  EXPECT_EQ((*after)[2].job, "t1/new");
  auto sums = store_->ClippedUsageBetween(d + kDay, d + kDay + 35);
  ASSERT_TRUE(sums.ok()) << sums.status().message();
  ASSERT_EQ(sums->size(), 1u);
  // late: 10..35 of 10..70 (25 of 60 s), later: whole (10 s).
  EXPECT_DOUBLE_EQ((*sums)[0].sum.accelerator_seconds, 25.0 + 10.0);
}

}  // namespace
}  // namespace sovgrid::store
