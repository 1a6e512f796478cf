// Load generator for `sovgrid serve` on loopback (docs/benchmarks.md):
//   api_load --server http://127.0.0.1:PORT --token-file DIR/admin.token --tenant T
//            [--clients 32] [--jobs 20000] [--batch 1000] [--list-jobs 100000] [--settle 0]
//            [--churn 0] [--churn-runtime 60]
// Up to four phases (a count of 0 skips one), each printing throughput and
// latency percentiles:
//   1. single: --clients threads submit --jobs jobs one request each (durable acks);
//   2. batch: the same number of jobs through /v1/jobs:batch, --batch per request;
//   3. list: one tenant's jobs listed page by page (100 per page) while the
//      daemon holds at least --list-jobs jobs (topped up through batches);
//   4. churn: --churn jobs of --churn-runtime seconds submitted in batches,
//      timed until the daemon's sovgrid_jobs_finished_total says all ended:
//      submissions, the cycles that start them and the commits that end them
//      (with their usage records), end to end. Run the daemon with the twin
//      backend and a --speedup that makes the runtime short.
// Every phase is bounded by its job count (churn also by 600 s); nothing runs forever.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string token;
  std::string tenant;
  int clients = 32;
  int jobs = 20000;
  int batch = 1000;
  int list_jobs = 100000;
  std::string prefix = "load";
  int settle_s = 0;  // seconds to wait after topping up, before the list phase
  int churn = 0;
  int churn_runtime_s = 60;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  return v[i];
}

void Report(const char* phase, std::size_t items, double seconds, std::vector<double> lat_ms,
            const char* unit, std::size_t errors) {
  std::printf(
      "%-7s %8zu %s in %7.2f s = %9.0f %s/s   latency ms: p50 %6.2f  p99 %6.2f  max %7.2f   "
      "errors %zu\n",
      phase, items, unit, seconds, static_cast<double>(items) / seconds, unit,
      Percentile(lat_ms, 0.5), Percentile(lat_ms, 0.99), Percentile(lat_ms, 1.0), errors);
  std::fflush(stdout);
}

json Job(const Options& o, const std::string& id, int i, int runtime_s = 3600) {
  return {{"id", id}, {"tenant", o.tenant}, {"accelerators", 1 + i % 8}, {"runtime_s", runtime_s}};
}

// The daemon's sovgrid_jobs_finished_total, or -1 when /metrics cannot be read.
long long FinishedTotal(httplib::Client& client, const httplib::Headers& auth) {
  auto r = client.Get("/metrics", auth);
  if (!r || r->status != 200) return -1;
  static constexpr std::string_view kName = "\nsovgrid_jobs_finished_total ";
  const auto at = r->body.find(kName);
  if (at == std::string::npos) return -1;
  return std::stoll(r->body.substr(at + kName.size()));
}

// Runs `per_client(client, latencies, errors)` on --clients threads.
template <typename Fn>
double Parallel(int clients, Fn fn, std::vector<double>* lat, std::size_t* errors) {
  std::mutex mu;
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::vector<double> mine;
      std::size_t bad = 0;
      fn(c, &mine, &bad);
      std::lock_guard lock(mu);
      lat->insert(lat->end(), mine.begin(), mine.end());
      *errors += bad;
    });
  }
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string token_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") {
      const auto colon = v.rfind(':');
      o.host = v.substr(v.find("//") + 2, colon - v.find("//") - 2);
      o.port = std::stoi(v.substr(colon + 1));
    } else if (k == "--token-file") {
      token_file = v;
    } else if (k == "--tenant") {
      o.tenant = v;
    } else if (k == "--clients") {
      o.clients = std::stoi(v);
    } else if (k == "--jobs") {
      o.jobs = std::stoi(v);
    } else if (k == "--batch") {
      o.batch = std::stoi(v);
    } else if (k == "--list-jobs") {
      o.list_jobs = std::stoi(v);
    } else if (k == "--settle") {
      o.settle_s = std::stoi(v);
    } else if (k == "--churn") {
      o.churn = std::stoi(v);
    } else if (k == "--churn-runtime") {
      o.churn_runtime_s = std::stoi(v);
    } else if (k == "--prefix") {
      o.prefix = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  std::ifstream in(token_file);
  std::getline(in, o.token);
  if (o.token.empty() || o.tenant.empty()) {
    std::fprintf(stderr, "usage: api_load --server URL --token-file FILE --tenant T [...]\n");
    return 2;
  }
  const httplib::Headers auth = {{"Authorization", "Bearer " + o.token}};
  std::printf("api_load: %s:%d, %d clients, tenant %s\n", o.host.c_str(), o.port, o.clients,
              o.tenant.c_str());

  // 1. Single submissions.
  if (o.jobs > 0) {
    std::vector<double> lat;
    std::size_t errors = 0;
    std::atomic<int> next{0};
    const double s = Parallel(
        o.clients,
        [&](int c, std::vector<double>* l, std::size_t* bad) {
          httplib::Client client(o.host, o.port);
          client.set_keep_alive(true);
          client.set_tcp_nodelay(true);
          for (int i = next++; i < o.jobs; i = next++) {
            const std::string body = Job(o, o.prefix + "-s-" + std::to_string(i), i).dump();
            const auto t0 = Clock::now();
            auto r = client.Post("/v1/jobs", auth, body, "application/json");
            l->push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            if (!r || r->status != 201) {
              if (++*bad == 1)
                std::fprintf(stderr, "single: first error: %s\n",
                             r ? (std::to_string(r->status) + " " + r->body).c_str()
                               : httplib::to_string(r.error()).c_str());
            }
          }
          (void)c;
        },
        &lat, &errors);
    Report("single", static_cast<std::size_t>(o.jobs), s, lat, "jobs", errors);
  }
  // 2. Batches.
  int listed_total = o.jobs;
  if (o.jobs > 0) {
    std::vector<double> lat;
    std::size_t errors = 0;
    std::atomic<int> next{0};
    const int batches = (o.jobs + o.batch - 1) / o.batch;
    const double s = Parallel(
        std::min(o.clients, 4),
        [&](int, std::vector<double>* l, std::size_t* bad) {
          httplib::Client client(o.host, o.port);
          client.set_read_timeout(120, 0);
          for (int b = next++; b < batches; b = next++) {
            json jobs = json::array();
            for (int i = b * o.batch; i < std::min(o.jobs, (b + 1) * o.batch); ++i)
              jobs.push_back(Job(o, o.prefix + "-b-" + std::to_string(i), i));
            const auto t0 = Clock::now();
            auto r = client.Post("/v1/jobs:batch", auth, json({{"jobs", jobs}}).dump(),
                                 "application/json");
            l->push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            if (!r || r->status != 201) ++*bad;
          }
        },
        &lat, &errors);
    Report("batch", static_cast<std::size_t>(o.jobs), s, lat, "jobs", errors);
    listed_total += o.jobs;
  }
  // 3. Listing one tenant's jobs, paginated, with at least --list-jobs in the daemon.
  if (o.list_jobs > 0) {
    httplib::Client client(o.host, o.port);
    client.set_read_timeout(120, 0);
    for (int i = listed_total; i < o.list_jobs; i += o.batch) {
      json jobs = json::array();
      for (int k = i; k < std::min(o.list_jobs, i + o.batch); ++k)
        jobs.push_back(Job(o, o.prefix + "-l-" + std::to_string(k), k));
      client.Post("/v1/jobs:batch", auth, json({{"jobs", jobs}}).dump(), "application/json");
    }
    // The first cycles after the top-up place thousands of jobs; --settle lets
    // them pass so the phase measures listing, not the scheduler's catch-up.
    std::this_thread::sleep_for(std::chrono::seconds(o.settle_s));
    std::vector<double> lat;
    std::size_t errors = 0, pages = 0;
    const double s = Parallel(
        o.clients,
        [&](int, std::vector<double>* l, std::size_t* bad) {
          httplib::Client c2(o.host, o.port);
          std::int64_t after = 0;
          for (int page = 0; page < 20; ++page) {
            const auto t0 = Clock::now();
            auto r = c2.Get(
                "/v1/jobs?tenant=" + o.tenant + "&limit=100&after=" + std::to_string(after), auth);
            l->push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            if (!r || r->status != 200) {
              ++*bad;
              break;
            }
            // The cursor only: parsing the whole page on the same two cores
            // as the daemon would take CPU from what is measured.
            const auto at = r->body.rfind("\"next_after\":");
            after = at == std::string::npos ? 0 : std::stoll(r->body.substr(at + 13));
            if (after == 0) break;
          }
        },
        &lat, &errors);
    pages = lat.size();
    Report("list", pages, s, lat, "pages", errors);
  }
  // 4. Churn: submitted, started, ended, recorded.
  if (o.churn > 0) {
    httplib::Client client(o.host, o.port);
    client.set_read_timeout(120, 0);
    const long long before = FinishedTotal(client, auth);
    if (before < 0) {
      std::fprintf(stderr, "churn: cannot read sovgrid_jobs_finished_total from /metrics\n");
      return 1;
    }
    std::vector<double> lat;
    std::size_t errors = 0;
    const auto start = Clock::now();
    for (int i = 0; i < o.churn; i += o.batch) {
      json jobs = json::array();
      for (int k = i; k < std::min(o.churn, i + o.batch); ++k)
        jobs.push_back(Job(o, o.prefix + "-c-" + std::to_string(k), k, o.churn_runtime_s));
      const auto t0 = Clock::now();
      auto r = client.Post("/v1/jobs:batch", auth, json({{"jobs", jobs}}).dump(), "application/json");
      lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!r || r->status != 201) ++errors;
    }
    long long done = 0;
    while (std::chrono::duration<double>(Clock::now() - start).count() < 600) {
      const long long now = FinishedTotal(client, auth);
      if (now >= 0) done = now - before;
      if (done >= o.churn) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    if (done < o.churn) {
      std::fprintf(stderr, "churn: only %lld of %d jobs finished within 600 s\n", done, o.churn);
      ++errors;
    }
    Report("churn", static_cast<std::size_t>(done), s, lat, "jobs", errors);
  }
  return 0;
}
