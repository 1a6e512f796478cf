// The Store contract (store.h), one typed suite run against every store on a
// real database: store_sqlite_test instantiates it on SQLite in a temporary
// directory, store_postgres_test on a throw-away PostgreSQL server.
//
// A backend type B provides:
//   void SetUp();     // a fresh, empty database
//   void TearDown();
//   Result<std::unique_ptr<Store>> Open();  // the same database each time
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace sovgrid::store {

template <typename B>
class StoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    backend_.TearDown();
  }
  void Reopen() {
    store_.reset();
    auto s = backend_.Open();
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

  B backend_;
  std::unique_ptr<Store> store_;
};

TYPED_TEST_SUITE_P(StoreContract);

TYPED_TEST_P(StoreContract, AddGetUpdateAndHistorySurviveReopen) {
  auto& store = this->store_;
  ASSERT_TRUE(store->AddJobs({this->Job("a", "t1"), this->Job("b", "t2")}).ok());
  ASSERT_TRUE(store->UpdateJob("a", "running", 110, "", R"([{"node":"p/n0"}])").ok());
  ASSERT_TRUE(store->UpdateJob("a", "finished", 150, "exit 0", "").ok());
  this->Reopen();
  auto a = store->GetJob("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->state, "finished");
  EXPECT_EQ(a->updated_at, 150);
  EXPECT_EQ(a->submitted_at, 100);
  EXPECT_EQ(a->reason, "exit 0");
  EXPECT_EQ(a->spec_json, R"({"id":"a"})");
  auto h = store->JobHistory("a");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 3U);
  EXPECT_EQ((*h)[0].state, "pending");
  EXPECT_EQ((*h)[1].state, "running");
  EXPECT_EQ((*h)[2].at, 150);
  EXPECT_EQ((*h)[2].detail, "exit 0");
  auto active = store->ActiveJobs();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 1U);
  EXPECT_EQ((*active)[0].id, "b");
}

TYPED_TEST_P(StoreContract, ABatchWithADuplicateAddsNothing) {
  auto& store = this->store_;
  ASSERT_TRUE(store->AddJobs({this->Job("a", "t1")}).ok());
  const Status s =
      store->AddJobs({this->Job("b", "t1"), this->Job("a", "t1"), this->Job("c", "t1")});
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("'a'"), std::string::npos) << s.message();
  EXPECT_EQ(store->GetJob("b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->GetJob("c").status().code(), StatusCode::kNotFound);
  // A duplicate within one batch too.
  const Status twice = store->AddJobs({this->Job("d", "t1"), this->Job("d", "t1")});
  EXPECT_EQ(twice.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(twice.message().find("'d'"), std::string::npos) << twice.message();
  EXPECT_EQ(store->GetJob("d").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->AddJobs({this->Job("b", "t1")}).ok());  // the store is still usable
}

TYPED_TEST_P(StoreContract, UnknownIdsAreNotFound) {
  auto& store = this->store_;
  EXPECT_EQ(store->UpdateJob("nope", "running", 1, "", "").code(), StatusCode::kNotFound);
  EXPECT_EQ(store->GetJob("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->JobHistory("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->RevokeToken("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(store->FindTokenByHash("nope").status().code(), StatusCode::kNotFound);
}

TYPED_TEST_P(StoreContract, ListsByTenantAndStateInPages) {
  auto& store = this->store_;
  std::vector<StoredJob> jobs;
  for (int i = 0; i < 25; ++i)
    jobs.push_back(this->Job("j" + std::to_string(i), i % 2 ? "odd" : "even"));
  ASSERT_TRUE(store->AddJobs(jobs).ok());
  ASSERT_TRUE(store->UpdateJob("j3", "running", 120, "", "").ok());
  JobFilter f;
  f.tenants = {"odd"};
  f.limit = 5;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto p = store->ListJobs(f);
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
  auto r = store->ListJobs(running);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->jobs.size(), 1U);
  EXPECT_EQ(r->jobs[0].id, "j3");
  JobFilter both;
  both.tenants = {"even", "odd"};
  both.state = "pending";
  both.limit = 100;
  auto b = store->ListJobs(both);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->jobs.size(), 24U);
  EXPECT_EQ(b->next_after, 0);
  JobFilter bad;
  bad.limit = 0;
  EXPECT_EQ(store->ListJobs(bad).status().code(), StatusCode::kInvalidArgument);
  bad.limit = 10;
  bad.after_seq = -1;
  EXPECT_EQ(store->ListJobs(bad).status().code(), StatusCode::kInvalidArgument);
}

TYPED_TEST_P(StoreContract, TokensAndAudit) {
  auto& store = this->store_;
  ASSERT_TRUE(store->AddToken({"tok1", "abc", "kr", "admin", 5, false}).ok());
  EXPECT_EQ(store->AddToken({"tok1", "def", "kr", "user", 6, false}).code(),
            StatusCode::kAlreadyExists);
  auto t = store->FindTokenByHash("abc");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->role, "admin");
  EXPECT_EQ(t->created_at, 5);
  EXPECT_FALSE(t->revoked);
  ASSERT_TRUE(store->RevokeToken("tok1").ok());
  EXPECT_EQ(store->FindTokenByHash("abc").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->AppendAudit({0, 7, "tok1", "job.submit", "a", "{}"}).ok());
  ASSERT_TRUE(store->AppendAudit({0, 8, "tok1", "job.cancel", "a", ""}).ok());
  this->Reopen();
  auto audit = store->ListAudit(0, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2U);
  EXPECT_EQ((*audit)[1].action, "job.cancel");
  EXPECT_EQ((*audit)[0].detail, "{}");
  auto after = store->ListAudit((*audit)[0].seq, 10);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), 1U);
  EXPECT_EQ(store->ListAudit(0, 0).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->AddToken({"Tok0", "xyz", "", "read-only", 9, false}).ok());
  auto tokens = store->ListTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 2U);
  EXPECT_EQ((*tokens)[0].id, "Tok0");  // by id, bytewise
  EXPECT_TRUE((*tokens)[1].revoked);
}

TYPED_TEST_P(StoreContract, SettingsKeepTheLastPutInOrder) {
  auto& store = this->store_;
  ASSERT_TRUE(store->PutSetting("site:north", R"({"state":"down"})").ok());
  ASSERT_TRUE(store->PutSetting("quota:research", R"({"guarantee":{}})").ok());
  ASSERT_TRUE(store->PutSetting("site:north", R"({"state":"up"})").ok());
  this->Reopen();
  auto s = store->ListSettings();
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 2U);
  EXPECT_EQ((*s)[0].first, "quota:research");
  EXPECT_EQ((*s)[1].first, "site:north");
  EXPECT_EQ((*s)[1].second, R"({"state":"up"})");
}

TYPED_TEST_P(StoreContract, AnAuditedWriteIsOneTransaction) {
  auto& store = this->store_;
  // A token whose audit entry cannot be written is not added (and the reverse).
  ASSERT_TRUE(store
                  ->AddToken({"tok1", "h1", "kr", "user", 5, false},
                             {{0, 5, "admin", "token.create", "tok1", ""}})
                  .ok());
  EXPECT_EQ(store
                ->AddToken({"tok1", "h2", "kr", "user", 6, false},
                           {{0, 6, "admin", "token.create", "tok1", "again"}})
                .code(),
            StatusCode::kAlreadyExists);
  auto audit = store->ListAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1U);  // the failed add left no entry
  EXPECT_EQ(store->RevokeToken("nope", {{0, 7, "admin", "token.revoke", "nope", ""}}).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(store->AddJobs({this->Job("t/a", "t")}).ok());
  EXPECT_EQ(
      store
          ->UpdateJobs({{"t/a", "cancelled", 9, "", "", ""}, {"t/zz", "cancelled", 9, "", "", ""}},
                       {{0, 9, "admin", "job.cancel", "t/a", ""}})
          .code(),
      StatusCode::kNotFound);
  EXPECT_EQ(store->GetJob("t/a")->state, "pending");
  EXPECT_EQ(store->ListAudit(0, 100)->size(), 1U);
  // Jobs and their audit entries together.
  ASSERT_TRUE(store
                  ->AddJobs({this->Job("t/b", "t"), this->Job("t/c", "t")},
                            {{0, 10, "admin", "job.submit", "t/b", ""},
                             {0, 10, "admin", "job.submit", "t/c", ""}})
                  .ok());
  auto all = store->ListAudit(0, 100);
  ASSERT_EQ(all->size(), 3U);
  EXPECT_EQ((*all)[2].target, "t/c");
}

TYPED_TEST_P(StoreContract, JobsAreFoundByNameAcrossTenantsAndRefsRecordedWithoutHistory) {
  auto& store = this->store_;
  StoredJob a = this->Job("t1/x", "t1"), b = this->Job("t2/x", "t2"), c = this->Job("t1/y", "t1");
  a.name = b.name = "x";
  c.name = "y";
  ASSERT_TRUE(store->AddJobs({a, b, c}).ok());
  auto found = store->FindJobsByName("x", 10);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 2U);
  EXPECT_EQ((*found)[0].id, "t1/x");
  EXPECT_EQ((*found)[1].tenant, "t2");
  EXPECT_EQ(store->FindJobsByName("x", 1)->size(), 1U);
  ASSERT_TRUE(store->UpdateJobs({{"t1/x", "running", 110, "", "[]", ""}}).ok());
  ASSERT_TRUE(store->RecordBackendRefs({{"t1/x", "pid:42"}}).ok());
  EXPECT_EQ(store->GetJob("t1/x")->backend_ref, "pid:42");
  EXPECT_EQ(store->JobHistory("t1/x")->size(), 2U);  // pending, running: no entry for the ref
  ASSERT_TRUE(store->Probe(120).ok());
  ASSERT_TRUE(store->Probe(121).ok());
}

TYPED_TEST_P(StoreContract, ABatchMayChangeOneJobTwiceInOrder) {
  auto& store = this->store_;
  ASSERT_TRUE(store->AddJobs({this->Job("t/a", "t"), this->Job("t/b", "t")}).ok());
  ASSERT_TRUE(store
                  ->UpdateJobs({{"t/a", "running", 110, "", "[1]", "ref-a"},
                                {"t/b", "running", 110, "", "[2]", ""},
                                {"t/a", "finished", 120, "exit 0", "[1]", ""}})
                  .ok());
  auto a = store->GetJob("t/a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->state, "finished");
  EXPECT_EQ(a->backend_ref, "");
  auto h = store->JobHistory("t/a");
  ASSERT_EQ(h->size(), 3U);
  EXPECT_EQ((*h)[1].state, "running");
  EXPECT_EQ((*h)[2].state, "finished");
  // Distinct jobs in one batch, each with its own values and history.
  ASSERT_TRUE(store
                  ->UpdateJobs({{"t/b", "failed", 130, "node lost", "[2]", ""}},
                               {{0, 130, "sovgrid", "job.fail", "t/b", ""}})
                  .ok());
  EXPECT_EQ(store->GetJob("t/b")->reason, "node lost");
  EXPECT_EQ(store->GetJob("t/b")->assignment_json, "[2]");
  EXPECT_EQ(store->JobHistory("t/b")->back().detail, "node lost");
  EXPECT_EQ(store->ActiveJobs()->size(), 0U);
}

TYPED_TEST_P(StoreContract, AnyTextRoundTrips) {
  // Quotes, backslashes, braces and commas (array syntax), newlines, non-ASCII.
  const std::string odd = "a\"b\\c{d},e 'f'\n\tg NULL \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \\\"";
  auto& store = this->store_;
  StoredJob j = this->Job("t/odd", "t");
  j.name = "odd";
  j.spec_json = odd;
  j.reason = odd;
  ASSERT_TRUE(store->AddJobs({j, this->Job("t/{x,y}", "t")}, {{0, 1, odd, odd, odd, odd}}).ok());
  EXPECT_EQ(store->GetJob("t/odd")->spec_json, odd);
  EXPECT_EQ(store->JobHistory("t/odd")->front().detail, odd);
  EXPECT_TRUE(store->GetJob("t/{x,y}").ok());
  ASSERT_TRUE(store->UpdateJobs({{"t/odd", "running", 5, odd, odd, odd}}).ok());
  auto got = store->GetJob("t/odd");
  EXPECT_EQ(got->assignment_json, odd);
  EXPECT_EQ(got->backend_ref, odd);
  ASSERT_TRUE(store->RecordBackendRefs({{"t/odd", odd + odd}}).ok());
  EXPECT_EQ(store->GetJob("t/odd")->backend_ref, odd + odd);
  auto audit = store->ListAudit(0, 10);
  ASSERT_EQ(audit->size(), 1U);
  EXPECT_EQ((*audit)[0].detail, odd);
  ASSERT_TRUE(store->PutSetting(odd, odd).ok());
  EXPECT_EQ(store->ListSettings()->front().second, odd);
  JobFilter f;
  f.tenants = {"t", odd};
  EXPECT_EQ(store->ListJobs(f)->jobs.size(), 2U);
  EXPECT_EQ(store->FindJobsByName("odd", 5)->size(), 1U);
}

TYPED_TEST_P(StoreContract, ExistingJobIdsKeepTheOrderAsked) {
  auto& store = this->store_;
  ASSERT_TRUE(store->AddJobs({this->Job("t/a", "t"), this->Job("t/c", "t")}).ok());
  auto e = store->ExistingJobIds({"t/c", "t/b", "t/a"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, (std::vector<std::string>{"t/c", "t/a"}));
  EXPECT_TRUE(store->ExistingJobIds({})->empty());
}

TYPED_TEST_P(StoreContract, ConcurrentReadersSeeEveryCommit) {
  auto& store = this->store_;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      std::size_t last = 0;
      while (!done) {
        auto active = store->ActiveJobs();
        if (!active.ok() || active->size() < last) ++bad;
        if (active.ok()) last = active->size();
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store->AddJobs({this->Job("t/" + std::to_string(i), "t")}).ok());
    auto got = store->GetJob("t/" + std::to_string(i));  // read after write
    ASSERT_TRUE(got.ok()) << got.status().message();
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(store->ActiveJobs()->size(), 50U);
}

// Usage records go in with the update that ends their segment (all or none),
// come back whole, and sum into their day's row per tenant, grant and pool.
TYPED_TEST_P(StoreContract, UsageRecordsCommitWithTheirUpdateAndSumPerDay) {
  auto& store = this->store_;
  ASSERT_TRUE(store->AddJobs({this->Job("t1/a", "t1"), this->Job("t1/b", "t1")}).ok());
  auto record = [](const std::string& job, std::int64_t start, std::int64_t end, double units,
                   bool ended) {
    model::UsageRecord r;
    r.job = job;
    r.tenant = "t1";
    r.grant_holder = "t1";
    r.grant = "g \"1\", {x}";  // any text
    r.pool = "p";
    r.site = "s";
    r.operator_name = "o";
    r.model = "m";
    r.milli = 1500;
    r.start = start;
    r.end = end;
    r.accelerator_seconds = 1.5 * static_cast<double>(end - start);
    r.charged_units = units;
    r.energy_kwh = 0.25;
    r.lost_accelerator_seconds = 7.5;
    r.end_reason = "finished";
    r.job_ended = ended;
    return r;
  };
  constexpr std::int64_t kDay = 86400;
  const std::int64_t d = 20000 * kDay;  // 2024-10-04
  JobUpdate a{"t1/a", "finished", d + 100, "", "", ""};
  a.usage = {record("t1/a", d + 10, d + 100, 2.5, true)};
  JobUpdate b{"t1/b", "pending", d + kDay + 50, "", "", ""};
  b.usage = {record("t1/b", d + 20, d + kDay, 1.0, false),
             record("t1/b", d + kDay, d + kDay + 50, 0.125, false)};
  ASSERT_TRUE(store->UpdateJobs({a, b}).ok());
  // A failing batch (unknown job) adds none of its records.
  JobUpdate bad{"t1/nope", "finished", d + 200, "", "", ""};
  JobUpdate c{"t1/a", "finished", d + 200, "", "", ""};
  c.usage = {record("t1/a", d + 150, d + 200, 100.0, true)};
  EXPECT_EQ(store->UpdateJobs({c, bad}).code(), StatusCode::kNotFound);
  this->Reopen();

  auto records = store->UsageRecords(d, d + 2 * kDay, 100);
  ASSERT_TRUE(records.ok()) << records.status().message();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].job, "t1/a");
  EXPECT_EQ((*records)[0].grant, "g \"1\", {x}");
  EXPECT_EQ((*records)[0].milli, 1500);
  EXPECT_EQ((*records)[0].start, d + 10);
  EXPECT_EQ((*records)[0].end, d + 100);
  EXPECT_DOUBLE_EQ((*records)[0].accelerator_seconds, 135.0);
  EXPECT_DOUBLE_EQ((*records)[0].charged_units, 2.5);
  EXPECT_DOUBLE_EQ((*records)[0].lost_accelerator_seconds, 7.5);
  EXPECT_TRUE((*records)[0].job_ended);
  EXPECT_FALSE((*records)[1].job_ended);
  EXPECT_EQ((*records)[2].start, d + kDay);
  // Overlap, not containment: a window inside the first record finds it.
  auto inside = store->UsageRecords(d + 50, d + 60, 100);
  ASSERT_TRUE(inside.ok());
  EXPECT_EQ(inside->size(), 2u);  // a's and b's first
  EXPECT_EQ(store->UsageRecords(d, d + 1, 0).status().code(), StatusCode::kInvalidArgument);

  auto days = store->DailyUsageBetween(d / kDay, d / kDay + 1);
  ASSERT_TRUE(days.ok()) << days.status().message();
  ASSERT_EQ(days->size(), 2u);
  const auto& first = (*days)[0].day == d / kDay ? (*days)[0] : (*days)[1];
  const auto& second = (*days)[0].day == d / kDay ? (*days)[1] : (*days)[0];
  EXPECT_EQ(first.tenant, "t1");
  EXPECT_EQ(first.pool, "p");
  EXPECT_EQ(first.model, "m");
  EXPECT_DOUBLE_EQ(first.sum.charged_units, 3.5);
  EXPECT_DOUBLE_EQ(first.sum.accelerator_seconds, 135.0 + 1.5 * (kDay - 20));
  EXPECT_EQ(first.sum.jobs, 1);
  EXPECT_EQ(first.sum.segments, 2);
  EXPECT_DOUBLE_EQ(second.sum.charged_units, 0.125);
  EXPECT_EQ(second.sum.segments, 1);
  EXPECT_TRUE(store->DailyUsageBetween(d / kDay + 2, d / kDay + 9)->empty());

  // Clipped to [d + 55, d + kDay + 25) inside the store: a's record (d+10..d+100,
  // 2.5 units, ends inside) counts 45/90 of its figures, its lost work and its
  // job; b's first (d+20..d+kDay) counts (kDay-55)/(kDay-20); b's second
  // (d+kDay..d+kDay+50) counts 25/50, without its lost work (it ends outside).
  auto clipped = store->ClippedUsageBetween(d + 55, d + kDay + 25);
  ASSERT_TRUE(clipped.ok()) << clipped.status().message();
  ASSERT_EQ(clipped->size(), 2u);
  const auto& c1 = (*clipped)[0].day == d / kDay ? (*clipped)[0] : (*clipped)[1];
  const auto& c2 = (*clipped)[0].day == d / kDay ? (*clipped)[1] : (*clipped)[0];
  EXPECT_EQ(c1.tenant, "t1");
  EXPECT_EQ(c1.grant, "g \"1\", {x}");
  EXPECT_EQ(c1.site, "s");
  EXPECT_EQ(c1.model, "m");
  const double b_share = static_cast<double>(kDay - 55) / static_cast<double>(kDay - 20);
  EXPECT_NEAR(c1.sum.charged_units, 2.5 * 0.5 + 1.0 * b_share, 1e-9);
  EXPECT_NEAR(c1.sum.accelerator_seconds, 135.0 * 0.5 + 1.5 * (kDay - 20) * b_share, 1e-6);
  EXPECT_NEAR(c1.sum.energy_kwh, 0.25 * 0.5 + 0.25 * b_share, 1e-9);
  EXPECT_NEAR(c1.sum.lost_accelerator_seconds, 15.0, 1e-9);
  EXPECT_EQ(c1.sum.jobs, 1);
  EXPECT_EQ(c1.sum.segments, 2);
  EXPECT_NEAR(c2.sum.charged_units, 0.0625, 1e-12);
  EXPECT_NEAR(c2.sum.lost_accelerator_seconds, 0.0, 1e-12);
  EXPECT_EQ(c2.sum.jobs, 0);
  EXPECT_EQ(c2.sum.segments, 1);
  EXPECT_TRUE(store->ClippedUsageBetween(d + 3 * kDay, d + 4 * kDay)->empty());
}

REGISTER_TYPED_TEST_SUITE_P(StoreContract, AddGetUpdateAndHistorySurviveReopen,
                            ABatchWithADuplicateAddsNothing, UnknownIdsAreNotFound,
                            ListsByTenantAndStateInPages, TokensAndAudit,
                            SettingsKeepTheLastPutInOrder, AnAuditedWriteIsOneTransaction,
                            JobsAreFoundByNameAcrossTenantsAndRefsRecordedWithoutHistory,
                            ABatchMayChangeOneJobTwiceInOrder, AnyTextRoundTrips,
                            ExistingJobIdsKeepTheOrderAsked, ConcurrentReadersSeeEveryCommit,
                            UsageRecordsCommitWithTheirUpdateAndSumPerDay);

}  // namespace sovgrid::store
