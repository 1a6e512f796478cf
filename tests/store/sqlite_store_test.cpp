// The SQLite store against a real database file in a temporary directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "store/store.h"

namespace sovgrid::store {
namespace {

namespace fs = std::filesystem;

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
  static StoredJob Job(const std::string& id, const std::string& tenant, std::int64_t at = 100) {
    StoredJob j;
    j.id = id;
    j.tenant = tenant;
    j.spec_json = R"({"id":")" + id + R"("})";
    j.state = "pending";
    j.submitted_at = at;
    return j;
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, AddGetUpdateAndHistorySurviveReopen) {
  ASSERT_TRUE(store_->AddJobs({Job("a", "t1"), Job("b", "t2")}).ok());
  ASSERT_TRUE(store_->UpdateJob("a", "running", 110, "", R"([{"node":"p/n0"}])").ok());
  ASSERT_TRUE(store_->UpdateJob("a", "finished", 150, "exit 0", "").ok());
  Reopen();
  auto a = store_->GetJob("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->state, "finished");
  EXPECT_EQ(a->updated_at, 150);
  EXPECT_EQ(a->reason, "exit 0");
  EXPECT_EQ(a->spec_json, R"({"id":"a"})");
  auto h = store_->JobHistory("a");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 3U);
  EXPECT_EQ((*h)[0].state, "pending");
  EXPECT_EQ((*h)[1].state, "running");
  EXPECT_EQ((*h)[2].at, 150);
  auto active = store_->ActiveJobs();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 1U);
  EXPECT_EQ((*active)[0].id, "b");
}

TEST_F(SqliteStoreTest, ABatchWithADuplicateAddsNothing) {
  ASSERT_TRUE(store_->AddJobs({Job("a", "t1")}).ok());
  const Status s = store_->AddJobs({Job("b", "t1"), Job("a", "t1"), Job("c", "t1")});
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("'a'"), std::string::npos);
  EXPECT_EQ(store_->GetJob("b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJob("c").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->AddJobs({Job("b", "t1")}).ok());  // the store is still usable
}

TEST_F(SqliteStoreTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(store_->UpdateJob("nope", "running", 1, "", "").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJob("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->JobHistory("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RevokeToken("nope").code(), StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, ListsByTenantAndStateInPages) {
  std::vector<StoredJob> jobs;
  for (int i = 0; i < 25; ++i) jobs.push_back(Job("j" + std::to_string(i), i % 2 ? "odd" : "even"));
  ASSERT_TRUE(store_->AddJobs(jobs).ok());
  ASSERT_TRUE(store_->UpdateJob("j3", "running", 120, "", "").ok());
  JobFilter f;
  f.tenants = {"odd"};
  f.limit = 5;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto p = store_->ListJobs(f);
    ASSERT_TRUE(p.ok());
    for (const auto& j : p->jobs) {
      EXPECT_EQ(j.tenant, "odd");
      seen.push_back(j.id);
    }
    if (p->next_after == 0) break;
    f.after_seq = p->next_after;
  }
  ASSERT_EQ(seen.size(), 12U);
  EXPECT_EQ(seen.front(), "j1");
  EXPECT_EQ(seen.back(), "j23");
  JobFilter running;
  running.state = "running";
  auto r = store_->ListJobs(running);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->jobs.size(), 1U);
  EXPECT_EQ(r->jobs[0].id, "j3");
  JobFilter bad;
  bad.limit = 0;
  EXPECT_EQ(store_->ListJobs(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, TokensAndAudit) {
  ASSERT_TRUE(store_->AddToken({"tok1", "abc", "kr", "admin", 5, false}).ok());
  EXPECT_EQ(store_->AddToken({"tok1", "def", "kr", "user", 6, false}).code(),
            StatusCode::kAlreadyExists);
  auto t = store_->FindTokenByHash("abc");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->role, "admin");
  ASSERT_TRUE(store_->RevokeToken("tok1").ok());
  EXPECT_EQ(store_->FindTokenByHash("abc").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->AppendAudit({0, 7, "tok1", "job.submit", "a", "{}"}).ok());
  ASSERT_TRUE(store_->AppendAudit({0, 8, "tok1", "job.cancel", "a", ""}).ok());
  Reopen();
  auto audit = store_->ListAudit(0, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2U);
  EXPECT_EQ((*audit)[1].action, "job.cancel");
  auto after = store_->ListAudit((*audit)[0].seq, 10);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), 1U);
  auto tokens = store_->ListTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1U);
  EXPECT_TRUE((*tokens)[0].revoked);
}

TEST_F(SqliteStoreTest, SettingsKeepTheLastPutInOrder) {
  ASSERT_TRUE(store_->PutSetting("site:north", R"({"state":"down"})").ok());
  ASSERT_TRUE(store_->PutSetting("quota:research", R"({"guarantee":{}})").ok());
  ASSERT_TRUE(store_->PutSetting("site:north", R"({"state":"up"})").ok());
  Reopen();
  auto s = store_->ListSettings();
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 2U);
  EXPECT_EQ((*s)[0].first, "quota:research");
  EXPECT_EQ((*s)[1].first, "site:north");
  EXPECT_EQ((*s)[1].second, R"({"state":"up"})");
}

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

TEST_F(SqliteStoreTest, AnAuditedWriteIsOneTransaction) {
  // A token whose audit entry cannot be written is not added (and the reverse).
  ASSERT_TRUE(store_
                  ->AddToken({"tok1", "h1", "kr", "user", 5, false},
                             {{0, 5, "admin", "token.create", "tok1", ""}})
                  .ok());
  EXPECT_EQ(store_
                ->AddToken({"tok1", "h2", "kr", "user", 6, false},
                           {{0, 6, "admin", "token.create", "tok1", "again"}})
                .code(),
            StatusCode::kAlreadyExists);
  auto audit = store_->ListAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1U);  // the failed add left no entry
  EXPECT_EQ(store_->RevokeToken("nope", {{0, 7, "admin", "token.revoke", "nope", ""}}).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(store_->AddJobs({Job("t/a", "t")}).ok());
  EXPECT_EQ(
      store_
          ->UpdateJobs({{"t/a", "cancelled", 9, "", "", ""}, {"t/zz", "cancelled", 9, "", "", ""}},
                       {{0, 9, "admin", "job.cancel", "t/a", ""}})
          .code(),
      StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJob("t/a")->state, "pending");
  EXPECT_EQ(store_->ListAudit(0, 100)->size(), 1U);
}

TEST_F(SqliteStoreTest, JobsAreFoundByNameAcrossTenantsAndRefsRecordedWithoutHistory) {
  StoredJob a = Job("t1/x", "t1"), b = Job("t2/x", "t2"), c = Job("t1/y", "t1");
  a.name = b.name = "x";
  c.name = "y";
  ASSERT_TRUE(store_->AddJobs({a, b, c}).ok());
  auto found = store_->FindJobsByName("x", 10);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 2U);
  EXPECT_EQ((*found)[0].id, "t1/x");
  EXPECT_EQ((*found)[1].tenant, "t2");
  ASSERT_TRUE(store_->UpdateJobs({{"t1/x", "running", 110, "", "[]", ""}}).ok());
  ASSERT_TRUE(store_->RecordBackendRefs({{"t1/x", "pid:42"}}).ok());
  EXPECT_EQ(store_->GetJob("t1/x")->backend_ref, "pid:42");
  EXPECT_EQ(store_->JobHistory("t1/x")->size(), 2U);  // pending, running: no entry for the ref
  ASSERT_TRUE(store_->Probe(120).ok());
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
