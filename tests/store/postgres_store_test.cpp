// The PostgreSQL store against a real server (tests/testing/postgres_server.h):
// the store contract (store_contract.h), then what is PostgreSQL's own
// (versioned migrations under concurrent starts, errors, a server restart).
#include "store/postgres_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "store/store_contract.h"
#include "testing/postgres_server.h"

namespace sovgrid::store {
namespace {

using sovgrid::testing::PostgresServer;

// One server per test process, started by the first test that needs it; a
// fresh database per test.
PostgresServer* Server() {
  static std::unique_ptr<PostgresServer> server = [] {
    auto s = PostgresServer::Start();
    if (!s.ok()) {
      ADD_FAILURE() << "cannot start PostgreSQL: " << s.status().message();
      return std::unique_ptr<PostgresServer>();
    }
    return std::move(s).value();
  }();
  return server.get();
}

// A fresh schema per test (a database per test would copy template1 each time).
std::string FreshSchema() {
  static int n = 0;
  const std::string schema = "t" + std::to_string(++n);
  const Status s = Server()->CreateSchema(schema);
  EXPECT_TRUE(s.ok()) << s.message();
  return schema;
}

struct PostgresBackend {
  void SetUp() {
    ASSERT_NE(Server(), nullptr);
    uri = Server()->SchemaUri(FreshSchema());
  }
  void TearDown() {}
  Result<std::unique_ptr<Store>> Open() { return OpenPostgresStore(uri); }
  std::string uri;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreContract, PostgresBackend);

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(Server(), nullptr);
    schema_ = FreshSchema();
    uri_ = Server()->SchemaUri(schema_);
  }
  std::string Query(const std::string& sql) {
    auto r = Server()->Query("SET search_path = " + schema_ + "; " + sql);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : "";
  }
  std::string schema_, uri_;
};

TEST_F(PostgresStoreTest, MigrationsRunOnceUnderConcurrentStarts) {
  constexpr int kStarts = 6;
  std::vector<std::unique_ptr<Store>> stores(kStarts);
  std::vector<std::string> errors(kStarts);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarts; ++i) {
    threads.emplace_back([&, i] {
      auto s = OpenPostgresStore(uri_);
      if (s.ok()) {
        stores[i] = std::move(s).value();
      } else {
        errors[i] = s.status().message();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStarts; ++i) ASSERT_NE(stores[i], nullptr) << errors[i];
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"),
            std::to_string(kPostgresSchemaVersion));
  EXPECT_EQ(Query("SELECT max(version) FROM schema_migrations"),
            std::to_string(kPostgresSchemaVersion));
  // Every one of them works on the one schema.
  ASSERT_TRUE(stores[0]->AddJobs({{"t/a", "a", "t", "{}", "pending", 1, 1, "", "", "", 0}}).ok());
  EXPECT_TRUE(stores[kStarts - 1]->GetJob("t/a").ok());
  stores.clear();
  // Opening again applies nothing.
  ASSERT_TRUE(OpenPostgresStore(uri_).ok());
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"),
            std::to_string(kPostgresSchemaVersion));
}

TEST_F(PostgresStoreTest, ASchemaNewerThanThisSovgridIsRefused) {
  ASSERT_TRUE(OpenPostgresStore(uri_).ok());
  Query("INSERT INTO schema_migrations (version) VALUES (99)");
  auto s = OpenPostgresStore(uri_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("99"), std::string::npos) << s.status().message();
}

TEST_F(PostgresStoreTest, ErrorsNameTheServerWhatFailedAndTheSqlState) {
  auto store = OpenPostgresStore(uri_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  Query("DROP TABLE job_events");
  const Status s = (*store)->AddJobs({{"t/a", "a", "t", "{}", "pending", 1, 1, "", "", "", 0}});
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(Server()->port())), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("insert jobs"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("SQLSTATE 42P01"), std::string::npos) << s.message();
  EXPECT_EQ((*store)->GetJob("t/a").status().code(), StatusCode::kNotFound);  // still usable

  auto refused = OpenPostgresStore("postgresql://sovgrid:hunter2@127.0.0.1:1/sovgrid");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kIoError);
  EXPECT_NE(refused.status().message().find("cannot connect"), std::string::npos);
  EXPECT_NE(refused.status().message().find("127.0.0.1:1"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("hunter2"), std::string::npos)
      << refused.status().message();
  auto no_db = OpenPostgresStore(Server()->Uri("no_such_db"));
  ASSERT_FALSE(no_db.ok());
  EXPECT_NE(no_db.status().message().find("no_such_db"), std::string::npos)
      << no_db.status().message();
  EXPECT_EQ(OpenPostgresStore("sqlite").status().code(), StatusCode::kInvalidArgument);
}

// The leader's lease: taken by one holder at a time by the database's clock,
// renewed at the same epoch, taken over at a new epoch only once expired.
TEST_F(PostgresStoreTest, TheLeaseHasOneHolderAndANewEpochOnEachTakeover) {
  ASSERT_TRUE(OpenPostgresStore(uri_).ok());  // migrates
  auto a = OpenPostgresLease(uri_, 1000);
  auto b = OpenPostgresLease(uri_, 1000);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  auto first = (*a)->TakeOrRenew("A", "a:1", 0, 10000);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(first->taken);
  EXPECT_EQ(first->holder, "A");
  EXPECT_EQ(first->address, "a:1");
  const std::int64_t e1 = first->epoch;
  EXPECT_GE(e1, 1);
  // B cannot take a live lease; it learns who holds it.
  auto refused = (*b)->TakeOrRenew("B", "b:1", 0, 300);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->taken);
  EXPECT_EQ(refused->holder, "A");
  EXPECT_EQ(refused->address, "a:1");
  EXPECT_TRUE(refused->live);
  // A renews at the same epoch (for 300 ms now).
  auto renewed = (*a)->TakeOrRenew("A", "a:1", e1, 300);
  ASSERT_TRUE(renewed.ok());
  EXPECT_TRUE(renewed->taken);
  EXPECT_EQ(renewed->epoch, e1);
  // Once it expired, B takes it at the next epoch, and A cannot renew.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto taken = (*b)->TakeOrRenew("B", "b:1", 0, 10000);  // long: A's try below must find it live
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken->taken);
  EXPECT_EQ(taken->epoch, e1 + 1);
  auto late = (*a)->TakeOrRenew("A", "a:1", e1, 300);
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->taken);
  EXPECT_EQ(late->holder, "B");
  // A holder that gave its term up takes the lease back only at a new epoch.
  ASSERT_TRUE((*b)->Release("B", e1 + 1).ok());
  auto again = (*b)->TakeOrRenew("B", "b:1", 0, 300);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->taken);
  EXPECT_EQ(again->epoch, e1 + 2);
}

// A leader's store commits only while the lease names its epoch: a deposed
// leader's writes fail ("fenced"), leave nothing, and every later one fails too.
TEST_F(PostgresStoreTest, ADeposedLeadersWritesAreFenced) {
  ASSERT_TRUE(OpenPostgresStore(uri_).ok());
  auto a = OpenPostgresLease(uri_, 1000);
  auto b = OpenPostgresLease(uri_, 1000);
  ASSERT_TRUE(a.ok() && b.ok());
  auto held = (*a)->TakeOrRenew("A", "a:1", 0, 300);
  ASSERT_TRUE(held.ok() && held->taken);
  auto fence = std::make_shared<LeaderFence>();
  fence->holder = "A";
  fence->epoch = held->epoch;
  auto store = OpenPostgresStore(uri_, fence);
  ASSERT_TRUE(store.ok()) << store.status().message();
  Store& s = **store;
  // The leader writes: every kind of write passes the check.
  ASSERT_TRUE(s.AddJobs({{"t/a", "a", "t", "{}", "pending", 1, 1, "", "", "", 0}}).ok());
  ASSERT_TRUE(s.UpdateJobs({{"t/a", "running", 2, "", "[]", ""}}).ok());
  ASSERT_TRUE(s.RecordBackendRefs({{"t/a", "pid:1"}}).ok());
  ASSERT_TRUE(s.PutSetting("k", "1").ok());
  ASSERT_TRUE(s.AppendAudit({0, 3, "x", "y", "z", ""}).ok());
  ASSERT_TRUE(s.Probe(4).ok());
  // B takes over after the expiry.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto taken = (*b)->TakeOrRenew("B", "b:1", 0, 5000);
  ASSERT_TRUE(taken.ok() && taken->taken);
  const Status fenced = s.AddJobs({{"t/b", "b", "t", "{}", "pending", 5, 5, "", "", "", 0}});
  EXPECT_EQ(fenced.code(), StatusCode::kFailedPrecondition) << fenced.message();
  EXPECT_EQ(fenced.message(),
            "fenced: epoch " + std::to_string(held->epoch) + " is no longer the leader's");
  EXPECT_TRUE(fence->lost);
  EXPECT_EQ(fence->fenced_commits, 1u);
  EXPECT_EQ(Query("SELECT count(*) FROM jobs WHERE id = 't/b'"), "0");
  // Every later write fails without asking the server; reads go on.
  EXPECT_EQ(s.UpdateJobs({{"t/a", "finished", 6, "", "[]", ""}}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.RecordBackendRefs({{"t/a", "pid:2"}}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.PutSetting("k", "2").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.AppendAudit({0, 7, "x", "y", "z", ""}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.Probe(8).code(), StatusCode::kFailedPrecondition);
  auto job = s.GetJob("t/a");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, "running");
  EXPECT_EQ(job->backend_ref, "pid:1");
  // A write transaction's check (BEGIN and the check in one round trip)
  // fails the same way when it is a deposed leader's first write.
  auto fence2 = std::make_shared<LeaderFence>();
  fence2->holder = "A";
  fence2->epoch = held->epoch;
  auto store2 = OpenPostgresStore(uri_, fence2);
  ASSERT_TRUE(store2.ok()) << store2.status().message();
  const Status update = (*store2)->UpdateJobs({{"t/a", "finished", 6, "", "[]", ""}});
  EXPECT_EQ(update.code(), StatusCode::kFailedPrecondition) << update.message();
  EXPECT_EQ(update.message(), fenced.message());
  EXPECT_TRUE(fence2->lost);
  EXPECT_EQ(fence2->fenced_commits, 1u);
  EXPECT_EQ(Query("SELECT state FROM jobs WHERE id = 't/a'"), "running");
  // Even when the lease comes back to the same holder name at a later
  // epoch, the old fence stays lost.
  EXPECT_EQ(s.AddJobs({{"t/c", "c", "t", "{}", "pending", 9, 9, "", "", "", 0}}).code(),
            StatusCode::kFailedPrecondition);
}

TEST(PostgresUri, PasswordsAreRedacted) {
  EXPECT_EQ(RedactPostgresUri("postgresql://u:pw@h:5/db"), "postgresql://u:***@h:5/db");
  EXPECT_EQ(RedactPostgresUri("postgresql://u@h:5/db"), "postgresql://u@h:5/db");
  EXPECT_EQ(RedactPostgresUri("postgresql://h/db?user=u&password=pw&sslmode=require"),
            "postgresql://h/db?user=u&password=***&sslmode=require");
  EXPECT_TRUE(IsPostgresUri("postgres://h/db"));
  EXPECT_FALSE(IsPostgresUri("sqlite"));
}

TEST_F(PostgresStoreTest, KeepsCommitsAndReconnectsAcrossAServerRestart) {
  auto store = OpenPostgresStore(uri_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  ASSERT_TRUE((*store)->AddJobs({{"t/a", "a", "t", "{}", "pending", 1, 1, "", "", "", 0}}).ok());
  ASSERT_TRUE((*store)->PutSetting("site:x", "{}").ok());
  ASSERT_TRUE(Server()->Restart().ok()) << Server()->LogTail();
  // Reads and writes go on: lost connections are opened again.
  auto a = (*store)->GetJob("t/a");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*store)->ListSettings()->size(), 1U);
  const Status add = (*store)->AddJobs({{"t/b", "b", "t", "{}", "pending", 2, 2, "", "", "", 0}});
  EXPECT_TRUE(add.ok()) << add.message();
  EXPECT_TRUE((*store)->Probe(3).ok());
  EXPECT_EQ((*store)->ActiveJobs()->size(), 2U);
}

}  // namespace
}  // namespace sovgrid::store
