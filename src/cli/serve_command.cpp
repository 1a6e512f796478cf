#include "cli/serve_command.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "backends/slurm_backend.h"
#include "backends/slurm_config.h"
#include "scenario/loader.h"
#include "scenario/toml_limits.h"
#include "server/api.h"
#include "server/cluster.h"
#include "server/control_loop.h"
#include "server/control_plane.h"
#include "server/http_server.h"
#include "store/postgres_store.h"
#include "store/store.h"

namespace sovgrid::cli {
namespace {

struct Options {
  std::string scenario = "scenarios/korea-2027.toml";
  std::string data_dir;
  std::string store = "sqlite";  // or a libpq URI postgresql://USER@HOST:PORT/DB
  std::string listen = "127.0.0.1:8080";
  std::string backend = "twin";
  std::string slurm_config;
  double speedup = 1;
  std::string accounting = "on";
  double kill_grace_s = 5;
  double cycle_interval_s = 1;
  // Several daemons on one PostgreSQL store (docs/deployment.md).
  double lease_ttl_s = 3;
  std::string advertise;  // HOST:PORT the others reach this daemon at; default: the bound address
  std::size_t max_body_mb = 64;
  // Connection handling and TLS; max_body_bytes is set from max_body_mb.
  server::HttpServerOptions http;
  // Local execution's isolation and limits (docs/backends.md, "Isolation model").
  std::string job_isolation = "uid";
  std::uint32_t job_uid_base = 2000000000;
  std::uint32_t job_uid_count = 65536;
  std::uint64_t job_max_processes = 4096;
  std::uint64_t job_max_open_files = 4096;
  std::uint64_t job_max_file_size_mb = 0;
  std::uint64_t job_max_address_space_mb = 0;
  std::uint64_t job_max_memory_mb = 0;
  std::string job_cgroup = "auto";
};

model::Time Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteSecretFile(const std::string& path, const std::string& secret) {
  // Created with mode 0600 before anything is written to it.
  std::FILE* f = std::fopen(path.c_str(), "wx");
  if (f == nullptr) return IoError("cannot create " + path);
  ::chmod(path.c_str(), 0600);
  const bool ok = std::fputs((secret + "\n").c_str(), f) >= 0;
  if (std::fclose(f) != 0 || !ok) return IoError("cannot write " + path);
  return Status::Ok();
}

// Applies a TOML file of serve's options (`listen = "127.0.0.1:9000"`, keys as
// the long flags without "--", `-` or `_`) to every option not given on the
// command line: flags win. Every problem names FILE:LINE:COLUMN and the key.
Status ApplyConfigFile(CLI::App* cmd, const std::string& path) {
  toml::table doc;
  if (auto problem = scenario::ParseTomlFile(path, &doc)) {
    return InvalidArgument(problem->ToString());
  }
  for (const auto& [key, value] : doc) {
    const auto& where = value.source().begin;
    const std::string at =
        path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": ";
    std::string name(key.str());
    std::replace(name.begin(), name.end(), '_', '-');
    CLI::Option* opt =
        name == "config" || name == "help" ? nullptr : cmd->get_option_no_throw("--" + name);
    if (opt == nullptr) return InvalidArgument(at + std::string(key.str()) + ": unknown option");
    if (opt->count() > 0) continue;  // given on the command line
    std::string text;
    if (const auto* v = value.as_string()) {
      text = v->get();
    } else if (const auto* i = value.as_integer()) {
      text = std::to_string(i->get());
    } else if (const auto* f = value.as_floating_point()) {
      text = std::to_string(f->get());
    } else if (const auto* b = value.as_boolean()) {
      text = b->get() ? "true" : "false";
    } else {
      return InvalidArgument(at + std::string(key.str()) +
                             ": expected a string, number or boolean");
    }
    try {
      opt->add_result(text);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return InvalidArgument(at + std::string(key.str()) + ": " + e.what());
    }
  }
  return Status::Ok();
}

// Every connection is a descriptor: the soft limit (often 1024) is raised to
// the hard one. Warns when even that is below the connection cap.
void RaiseFileLimit(int max_connections) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
    ::getrlimit(RLIMIT_NOFILE, &r);
  }
  // The store, the backend and the listener need some descriptors too.
  const rlim_t needed = static_cast<rlim_t>(max_connections) + 256;
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < needed)
    std::cerr << "sovgrid serve: warning: the open-file limit (" << r.rlim_cur
              << ") is below --max-connections + 256 (" << needed
              << "); connections beyond it are refused by the kernel\n";
}

int Run(const Options& o) {
  const auto colon = o.listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      std::from_chars(o.listen.data() + colon + 1, o.listen.data() + o.listen.size(), port).ec !=
          std::errc() ||
      port < 0 || port > 65535) {
    std::cerr << "error: --listen: expected HOST:PORT, found '" << o.listen << "'\n";
    return 2;
  }
  const std::string host = o.listen.substr(0, colon);

  std::vector<scenario::Diagnostic> diagnostics;
  auto grid = scenario::LoadScenarioFile(o.scenario, &diagnostics);
  if (!grid.ok()) {
    for (const auto& d : diagnostics) std::cerr << "error: " << d.ToString() << "\n";
    if (diagnostics.empty()) std::cerr << "error: " << grid.status().message() << "\n";
    return 1;
  }
  // Everything the daemon creates is its own: the database, its WAL, tokens.
  ::umask(077);
  const bool isolated = o.backend == "local" && o.job_isolation == "uid";
  if (isolated && ::geteuid() != 0) {
    // Refused before anything is created in the data dir.
    std::cerr << "error: --backend local runs each job under a uid of its own, which needs root "
                 "(this process runs as uid "
              << ::geteuid()
              << "): start the daemon as root, or pass --job-isolation none (development only)\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  // Not listable by anyone else. 0711 when jobs run under their own uids:
  // they pass through it to their folders (DATA_DIR/local/jobs/...) and can
  // open nothing else in it (the database and admin.token are 0600).
  if (::chmod(o.data_dir.c_str(), isolated ? 0711 : 0700) != 0) {
    std::cerr << "error: " << o.data_dir << ": cannot set its mode: " << std::strerror(errno)
              << "\n";
    return 1;
  }
  const std::string token_path = (std::filesystem::path(o.data_dir) / "admin.token").string();
  if (::chmod(token_path.c_str(), 0600) != 0 && errno != ENOENT) {
    std::cerr << "error: " << token_path << ": cannot set mode 0600: " << std::strerror(errno)
              << "\n";
    return 1;
  }
  const bool ha = store::IsPostgresUri(o.store);
  // The execution backend of a leadership (one per term: a new leader adopts
  // the running work as a restarted daemon does). Null with *rc set on error.
  auto make_backend = [&](int* rc, bool quiet) -> std::unique_ptr<backends::ExecutionBackend> {
    if (o.backend == "local") {
      backends::LocalBackendOptions lo;
      lo.dir = (std::filesystem::path(o.data_dir) / "local").string();
      lo.kill_grace_s = o.kill_grace_s;
      lo.isolation = isolated ? backends::JobIsolation::kUid : backends::JobIsolation::kNone;
      lo.uid_base = o.job_uid_base;
      lo.uid_count = o.job_uid_count;
      lo.max_processes = o.job_max_processes;
      lo.max_open_files = o.job_max_open_files;
      lo.max_file_size_bytes = o.job_max_file_size_mb << 20;
      lo.max_address_space_bytes = o.job_max_address_space_mb << 20;
      lo.max_memory_bytes = o.job_max_memory_mb << 20;
      lo.cgroup = o.job_cgroup;
      if (!isolated && !quiet)
        std::cerr << "warning: --job-isolation none: jobs run as this user and can read and change "
                     "everything the daemon can (its database, admin.token, other jobs' output); "
                     "for development only\n";
      std::string summary;
      auto local = backends::MakeLocalBackend(lo, &summary);
      if (!local.ok()) {
        std::cerr << "error: " << local.status().message() << "\n";
        if (local.status().code() != StatusCode::kFailedPrecondition) {
          *rc = 1;
          return nullptr;
        }
        std::cerr << "error: --backend local: start the daemon as root, or pass --job-isolation "
                     "none (development only)\n";
        {
          *rc = 2;
          return nullptr;
        }
      }
      if (!quiet) std::cout << "sovgrid serve: local execution: " << summary << std::endl;
      return std::move(local).value();
    } else if (o.backend == "slurm") {
      if (o.slurm_config.empty()) {
        std::cerr << "error: --backend slurm needs --slurm-config FILE (docs/backends.md)\n";
        {
          *rc = 2;
          return nullptr;
        }
      }
      std::vector<scenario::Diagnostic> problems;
      auto options = backends::ReadSlurmConfig(
          o.slurm_config, *grid, (std::filesystem::path(o.data_dir) / "slurm").string(), &problems);
      if (!options.ok()) {
        for (const auto& d : problems) std::cerr << "error: " << d.ToString() << "\n";
        if (problems.empty()) std::cerr << "error: " << options.status().message() << "\n";
        {
          *rc = 2;
          return nullptr;
        }
      }
      auto slurm = backends::MakeSlurmBackend(*options, *grid);
      if (!slurm.ok()) {
        std::cerr << "error: " << slurm.status().message() << "\n";
        {
          *rc = 1;
          return nullptr;
        }
      }
      return std::move(slurm).value();
    } else {
      return backends::MakeTwinBackend(o.speedup);
    }
  };
  int rc = 0;
  // Built once at start, so that a bad backend configuration stops the start.
  std::unique_ptr<backends::ExecutionBackend> first_backend = make_backend(&rc, false);
  if (first_backend == nullptr) return rc;

  // The daemon that initialised the store writes admin.token (0600); the others,
  // and later starts, find a token already there and write nothing.
  auto write_admin_token = [&](server::Api& api) {
    auto secret = api.BootstrapAdminToken();
    if (!secret.ok()) {
      std::cerr << "error: " << secret.status().message() << "\n";
      return false;
    }
    if (secret->empty()) return true;
    if (Status s = WriteSecretFile(token_path, *secret); !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return false;
    }
    std::cout << "sovgrid serve: first start; the admin token is in " << token_path
              << " (mode 0600)\n";
    return true;
  };
  auto front = std::make_unique<server::ClusterFront>("");
  std::unique_ptr<store::PostgresLease> lease;
  const auto ttl_ms = static_cast<std::int64_t>(o.lease_ttl_s * 1000);
  if (!ha) {
    // One daemon on its SQLite file: always the leader, epoch 1, no lease.
    auto store = store::OpenSqliteStore(o.data_dir);
    if (!store.ok()) {
      std::cerr << "error: " << store.status().message() << "\n";
      return 1;
    }
    auto term = std::make_shared<server::LeaderTerm>();
    term->store = std::move(store).value();
    auto cp = server::ControlPlane::Open(*grid, term->store.get(), std::move(first_backend), Now(),
                                         {o.accounting == "on"});
    if (!cp.ok()) {
      std::cerr << "error: " << cp.status().message() << "\n";
      return 1;
    }
    term->cp = std::move(cp).value();
    term->api = std::make_unique<server::Api>(term->cp.get(), term->store.get(), Now);
    if (!write_admin_token(*term->api)) return 1;
    front->Lead(std::move(term));
  } else {
    // Migrates the schema and writes admin.token if this daemon initialised
    // the store; the leader's own store is opened when it takes the lease.
    auto store = store::OpenPostgresStore(o.store);
    if (!store.ok()) {
      std::cerr << "error: " << store.status().message() << "\n";
      return 1;
    }
    server::Api boot(nullptr, store->get(), Now);
    if (!write_admin_token(boot)) return 1;
    auto l = store::OpenPostgresLease(o.store, std::max<std::int64_t>(ttl_ms / 3, 200));
    if (!l.ok()) {
      std::cerr << "error: " << l.status().message() << "\n";
      return 1;
    }
    lease = std::move(l).value();
  }

  std::signal(SIGPIPE, SIG_IGN);  // a client hanging up must not kill the daemon
  // SIGTERM and SIGINT are taken by one thread, so that shutdown is orderly
  // (SIGUSR1 wakes that thread when the server stops for another reason).
  // Blocked here, before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (o.http.tls_cert.empty() != o.http.tls_key.empty()) {
    std::cerr << "error: --tls-cert and --tls-key go together\n";
    return 2;
  }
  RaiseFileLimit(o.http.max_connections);
  server::HttpServerOptions ho = o.http;
  ho.max_body_bytes = o.max_body_mb << 20;
  server::HttpServer http(front.get(), ho);
  if (!http.valid()) {
    std::cerr << "error: cannot load the TLS certificate " << o.http.tls_cert << " and key "
              << o.http.tls_key << "\n";
    return 1;
  }
  auto bound = http.Bind(host, port);
  if (!bound.ok()) {
    std::cerr << "error: " << bound.status().message() << "\n";
    return 1;
  }
  const std::string self = o.advertise.empty() ? host + ":" + std::to_string(*bound) : o.advertise;
  front->set_self(self);

  // The tick thread, and with PostgreSQL the lease thread (server/control_loop.h).
  server::ControlLoopOptions loop_options;
  loop_options.cycle_interval_s = o.cycle_interval_s;
  loop_options.lease_ttl_ms = ttl_ms;
  loop_options.self = self;
  auto open_term = [&](std::shared_ptr<store::LeaderFence> fence)
      -> Result<std::shared_ptr<server::LeaderTerm>> {
    auto term = std::make_shared<server::LeaderTerm>();
    auto st = store::OpenPostgresStore(o.store, std::move(fence));
    if (!st.ok()) return st.status();
    term->store = std::move(st).value();
    int brc = 0;
    auto backend = first_backend != nullptr ? std::move(first_backend) : make_backend(&brc, true);
    if (backend == nullptr) return Internal("cannot create the execution backend");
    auto cp = server::ControlPlane::Open(*grid, term->store.get(), std::move(backend), Now(),
                                         {o.accounting == "on"});
    if (!cp.ok()) return cp.status();
    term->cp = std::move(cp).value();
    term->api = std::make_unique<server::Api>(term->cp.get(), term->store.get(), Now);
    return term;
  };
  server::ControlLoop loop(front.get(), lease.get(), open_term, Now, loop_options);
  loop.Start();
  // With PostgreSQL the daemon says it listens once it knows its role (the
  // first round of the lease, a restore included when it leads), so that a
  // lone daemon answers like a SQLite one from its first request.
  for (int i = 0; !loop.first_round_done() && i < 3000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::cout << "sovgrid serve: " << grid->name << " (" << grid->TotalAccelerators()
            << " accelerators), " << o.backend << " execution, data in "
            << (store::IsPostgresUri(o.store) ? store::RedactPostgresUri(o.store) : o.data_dir)
            << ", listening on " << (o.http.tls_cert.empty() ? "http" : "https") << "://" << host
            << ":" << *bound << std::endl;
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGUSR1) return;  // woken for shutdown after a server failure
    std::cout << "sovgrid serve: signal " << sig << ", shutting down" << std::endl;
    http.Stop();
  });
  const bool served = http.Run();
  loop.Stop();  // the last tick ends; with PostgreSQL the lease is handed on
  pthread_kill(signal_waiter.native_handle(), SIGUSR1);
  signal_waiter.join();
  std::cout << "sovgrid serve: stopped" << std::endl;
  return served ? 0 : 1;
}

}  // namespace

Status ApplyServeConfigFile(CLI::App* serve, const std::string& path) {
  return ApplyConfigFile(serve, path);
}

void AddServeCommand(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Run the control plane: the REST API (docs/api.md) over the same scheduler as the twin, "
      "with durable state in DATA_DIR, jobs run by the twin, local or slurm backend "
      "(docs/backends.md).");
  cmd->add_option("--scenario", o->scenario, "Scenario TOML file")->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir,
                  "Directory for the database (sovgrid.db, SQLite WAL) and admin.token "
                  "(required, here or in --config)");
  cmd->add_option("--store", o->store,
                  "Where the state lives: sqlite (DATA_DIR/sovgrid.db) or a PostgreSQL server as "
                  "a libpq URI postgresql://USER@HOST:PORT/DB (the schema is created and "
                  "migrated at start; admin.token is written to DATA_DIR by the daemon that "
                  "initialises an empty database)")
      ->capture_default_str()
      ->check(
          [](const std::string& v) {
            return v == "sqlite" || store::IsPostgresUri(v)
                       ? std::string()
                       : std::string("expected sqlite or postgresql://USER@HOST:PORT/DB");
          },
          "sqlite|postgresql://...");
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  auto config = std::make_shared<std::string>();
  cmd->add_option("--config", *config,
                  "TOML file of these options, keys as the flags without '--' "
                  "(listen = \"127.0.0.1:9000\"); flags given here win")
      ->check(CLI::ExistingFile);
  cmd->add_option("--backend", o->backend,
                  "Execution: twin (jobs run for runtime_s, simulated), local (the job's command "
                  "as processes on this machine, output in DATA_DIR/local) or slurm (a Slurm "
                  "cluster per site, --slurm-config)")
      ->capture_default_str()
      ->check(CLI::IsMember({"twin", "local", "slurm"}));
  cmd->add_option("--slurm-config", o->slurm_config,
                  "Slurm execution: TOML file naming each site's cluster and each pool's "
                  "partition and nodes (docs/backends.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--kill-grace", o->kill_grace_s,
                  "Local execution: seconds between SIGTERM and SIGKILL when a job is stopped")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--job-isolation", o->job_isolation,
                  "Local execution: uid (each running job under a uid of its own, from "
                  "--job-uid-base; needs root) or none (jobs run as the daemon's user and can read "
                  "its database and tokens: development only)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uid", "none"}));
  cmd->add_option("--job-uid-base", o->job_uid_base,
                  "Local execution: first uid (and gid) handed to jobs; nothing else may use "
                  "the range")
      ->capture_default_str()
      ->check(CLI::Range(std::uint32_t{1}, std::uint32_t{4294000000U}));
  cmd->add_option("--job-uid-count", o->job_uid_count,
                  "Local execution: number of job uids: at most this many jobs run at once")
      ->capture_default_str()
      ->check(CLI::Range(std::uint32_t{1}, std::uint32_t{1U << 24}));
  cmd->add_option("--job-max-processes", o->job_max_processes,
                  "Local execution: processes per job (RLIMIT_NPROC of its uid; pids.max of its "
                  "cgroup v2); 0: unlimited")
      ->capture_default_str();
  cmd->add_option("--job-max-open-files", o->job_max_open_files,
                  "Local execution: open files per process (RLIMIT_NOFILE); 0: inherited")
      ->capture_default_str();
  cmd->add_option("--job-max-file-size-mb", o->job_max_file_size_mb,
                  "Local execution: largest file a job writes, its output included, MiB "
                  "(RLIMIT_FSIZE); 0: unlimited")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30));
  cmd->add_option("--job-max-address-space-mb", o->job_max_address_space_mb,
                  "Local execution: address space per process, MiB (RLIMIT_AS; GPU runtimes "
                  "map far more than they use); 0: unlimited")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30));
  cmd->add_option("--job-max-memory-mb", o->job_max_memory_mb,
                  "Local execution: memory per job, MiB (memory.max of its cgroup v2; not "
                  "enforced without one); 0: unlimited")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 30));
  cmd->add_option("--job-cgroup", o->job_cgroup,
                  "Local execution: auto (a cgroup v2 per job under /sys/fs/cgroup/sovgrid-jobs "
                  "when /sys/fs/cgroup is a writable cgroup2 mount, else rlimits only), none, or "
                  "a delegated cgroup2 directory to create the jobs' cgroups in")
      ->capture_default_str();
  cmd->add_option("--accounting", o->accounting,
                  "on: usage records are written with every run segment's end (reports, "
                  "grant burn-down, grant usage kept across restarts); off: none are written")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--speedup", o->speedup,
                  "Twin execution: jobs run runtime_s / SPEEDUP seconds of wall-clock time")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lease-ttl", o->lease_ttl_s,
                  "With a PostgreSQL store: seconds the leader's lease lasts (renewed every "
                  "third of it); a follower takes over this long after the leader stops "
                  "answering (docs/deployment.md)")
      ->capture_default_str()
      ->check(CLI::Range(0.3, 600.0));
  cmd->add_option("--advertise", o->advertise,
                  "With a PostgreSQL store: HOST:PORT at which the other daemons reach this one "
                  "(default: the bound --listen address)");
  cmd->add_option("--cycle-interval", o->cycle_interval_s, "Seconds between scheduling cycles")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--tls-cert", o->http.tls_cert,
                  "PEM certificate: serve HTTPS only (with --tls-key)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", o->http.tls_key, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body accepted, MiB")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-connections", o->http.max_connections,
                  "Concurrent connections served; more are closed as soon as they are accepted")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--max-connections-per-ip", o->http.max_connections_per_ip,
                  "Concurrent connections from one client address (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--request-timeout-s", o->http.request_timeout_s,
                  "Seconds a connection has to send a complete request (headers and body), from "
                  "its opening or its previous response; then it is closed")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_option("--idle-timeout-s", o->http.idle_timeout_s,
                  "Seconds without a byte before a connection is closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--keepalive-max-requests", o->http.keepalive_max_requests,
                  "Requests per connection; the last is answered with 'Connection: close' "
                  "(0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000000));
  cmd->callback([o, config, cmd] {
    if (!config->empty()) {
      if (Status s = ApplyConfigFile(cmd, *config); !s.ok()) {
        std::cerr << "error: " << s.message() << "\n";
        throw CLI::RuntimeError(2);
      }
    }
    if (o->data_dir.empty()) {
      std::cerr << "error: --data-dir is required (on the command line or in --config)\n";
      throw CLI::RuntimeError(2);
    }
    if (int rc = Run(*o); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sovgrid::cli
