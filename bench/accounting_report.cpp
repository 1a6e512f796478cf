// Accounting at national scale (issue 18): a month's report over millions of
// usage records on SQLite, and what recording usage adds to the commits of
// the state changes that end run segments.
//
//   ./build/release/accounting_report [--records 10000000] [--days 30]
//
// Phase 1: 20,000 job updates in transactions of 256 (as ControlPlane::Flush
// commits them), without usage records and then with one record each (a
// finish), on the same store: the ratio is what recording costs a commit.
// Phase 2: N records spread over the korea-2027 tenants and pools and `days`
// UTC days, written day after day in transactions of 10,000 (progress on
// stderr); then
// ControlPlane::AccountingReport for the whole period grouped by tenant (whole
// days: the daily sums) and for a period starting and ending mid-day (the
// edge days' records too), five times each. Prints figures; asserts nothing.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "backends/execution_backend.h"
#include "scenario/loader.h"
#include "server/control_plane.h"
#include "store/store.h"

namespace {

using namespace sovgrid;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  long long records = 10'000'000;
  int days = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--records") {
      records = std::atoll(argv[i + 1]);
    } else if (flag == "--days") {
      days = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: accounting_report [--records N] [--days D]\n");
      return 2;
    }
  }
  auto sc = scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) +
                                       "/scenarios/korea-2027.toml");
  if (!sc.ok()) {
    std::fprintf(stderr, "error: %s\n", sc.status().ToString().c_str());
    return 1;
  }
  const model::Scenario& s = *sc;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sovgrid-acct-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  int rc = 0;
  {
    auto opened = store::OpenSqliteStore(dir.string());
    if (!opened.ok()) {
      std::fprintf(stderr, "error: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    store::Store& st = **opened;
    constexpr int kJobs = 20000;
    std::vector<store::StoredJob> jobs;
    for (int i = 0; i < kJobs; ++i) {
      store::StoredJob j;
      j.id = s.tenants[0].id + "/j" + std::to_string(i);
      j.name = "j" + std::to_string(i);
      j.tenant = s.tenants[0].id;
      j.spec_json = "{}";
      j.state = "running";
      j.submitted_at = s.epoch;
      jobs.push_back(std::move(j));
    }
    if (Status a = st.AddJobs(jobs); !a.ok()) {
      std::fprintf(stderr, "error: %s\n", a.ToString().c_str());
      return 1;
    }
    std::mt19937_64 rng(7);
    auto record = [&](const std::string& job, model::Time start, model::Time end) {
      const auto& pool = s.pools[rng() % s.pools.size()];
      const auto& site = s.sites[static_cast<std::size_t>(pool.site_index)];
      const auto& acc = s.accelerators[static_cast<std::size_t>(pool.accelerator_index)];
      const auto& tenant = s.tenants[rng() % s.tenants.size()];
      model::UsageRecord r;
      r.job = job;
      r.tenant = tenant.id;
      if (!tenant.grants.empty()) {
        r.grant_holder = tenant.id;
        r.grant = tenant.grants[0].id;
      }
      r.pool = pool.id;
      r.site = site.id;
      r.operator_name = site.operator_name;
      r.model = acc.name;
      r.milli = static_cast<model::Milli>(1000 * (1 + rng() % 8));
      r.start = start;
      r.end = end;
      r.accelerator_seconds = static_cast<double>(r.milli) / 1000 * static_cast<double>(end - start);
      r.charged_units = r.accelerator_seconds / 3600 * acc.charge_rate;
      r.energy_kwh = acc.power_w * r.accelerator_seconds / 3.6e6;
      r.end_reason = "finished";
      r.job_ended = true;
      return r;
    };
    // Phase 1: the cost of recording in the commits that end segments.
    auto commit_updates = [&](bool with_usage, model::Time at) {
      const auto t0 = Clock::now();
      for (int from = 0; from < kJobs; from += 256) {
        std::vector<store::JobUpdate> batch;
        for (int i = from; i < std::min(kJobs, from + 256); ++i) {
          store::JobUpdate u{jobs[static_cast<std::size_t>(i)].id, "finished", at, "", "", ""};
          if (with_usage) u.usage = {record(u.id, at - 3600, at)};
          batch.push_back(std::move(u));
        }
        if (Status x = st.UpdateJobs(batch); !x.ok()) {
          std::fprintf(stderr, "error: %s\n", x.ToString().c_str());
          std::exit(1);
        }
      }
      return Seconds(t0, Clock::now());
    };
    const double plain = commit_updates(false, s.epoch + 7200);
    const double recorded = commit_updates(true, s.epoch + 7200);
    const double plain2 = commit_updates(false, s.epoch + 7200);
    const double recorded2 = commit_updates(true, s.epoch + 7200);
    std::printf("phase 1: %d updates in transactions of 256: without usage %.0f/s, %.0f/s; with "
                "one record each %.0f/s, %.0f/s; cost of recording x%.2f\n",
                kJobs, kJobs / plain, kJobs / plain2, kJobs / recorded, kJobs / recorded2,
                (recorded + recorded2) / (plain + plain2));

    // Phase 2: a month of records.
    const auto w0 = Clock::now();
    long long written = 0;
    std::vector<store::JobUpdate> batch;
    while (written < records) {
      batch.clear();
      store::JobUpdate u{jobs[0].id, "running", s.epoch, "", "", ""};
      for (int i = 0; i < 10000 && written < records; ++i, ++written) {
        // Day by day, as a daemon writes them (segments end in time order;
        // random days would make every index insert a random page).
        const model::Time day =
            s.epoch + static_cast<model::Time>(written * days / records) * 86400;
        const model::Time start = day + static_cast<model::Time>(rng() % 86000);
        const model::Time end = std::min(day + 86400, start + 60 + static_cast<model::Time>(rng() % 21600));
        u.usage.push_back(record(jobs[static_cast<std::size_t>(i % kJobs)].id, start, end));
      }
      batch.push_back(std::move(u));
      if (Status x = st.UpdateJobs(batch); !x.ok()) {
        std::fprintf(stderr, "error: %s\n", x.ToString().c_str());
        return 1;
      }
      if (written % 1'000'000 == 0)
        std::fprintf(stderr, "  %lld of %lld records written (%.0f s)\n", written, records,
                     Seconds(w0, Clock::now()));
    }
    const double write_s = Seconds(w0, Clock::now());
    std::printf("phase 2: %lld records over %d days written in %.1f s (%.0f records/s)\n", written,
                days, write_s, static_cast<double>(written) / write_s);

    auto cp = server::ControlPlane::Open(s, &st, backends::MakeTwinBackend(1), s.epoch);
    if (!cp.ok()) {
      std::fprintf(stderr, "error: %s\n", cp.status().ToString().c_str());
      return 1;
    }
    // 0: whole days by tenant; 1: mid-day to mid-day by tenant; 2: whole days
    // by day and tenant (the web console's usage chart).
    for (int variant = 0; variant < 3; ++variant) {
      server::AccountingQuery q;
      q.group_by = variant == 2 ? accounting::Grouping(accounting::GroupBy::kDay,
                                                       accounting::GroupBy::kTenant)
                                : accounting::Grouping(accounting::GroupBy::kTenant);
      q.from = s.epoch + (variant != 1 ? 0 : 43200);
      q.until = s.epoch + static_cast<model::Time>(days) * 86400 - (variant != 1 ? 0 : 43200);
      std::vector<double> times;
      double units = 0;
      std::size_t rows = 0;
      for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = Clock::now();
        auto report = (*cp)->AccountingReport(q, q.until);
        times.push_back(Seconds(t0, Clock::now()));
        if (!report.ok()) {
          std::fprintf(stderr, "error: %s\n", report.status().ToString().c_str());
          rc = 1;
          break;
        }
        rows = report->size();
        units = 0;
        for (const auto& r : *report) units += r.sum.charged_units;
      }
      std::sort(times.begin(), times.end());
      std::printf("report by %s, %s: %zu rows, %.0f units; min %.3f s, median %.3f s, max "
                  "%.3f s\n",
                  variant == 2 ? "day and tenant" : "tenant",
                  variant != 1 ? "the whole period (whole days)" : "mid-day to mid-day", rows,
                  units, times.front(), times[times.size() / 2], times.back());
    }
  }
  std::filesystem::remove_all(dir);
  return rc;
}
