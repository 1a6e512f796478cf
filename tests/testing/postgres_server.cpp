#include "testing/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "testing/loopback_port.h"

namespace sovgrid::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kPortFirst = 33000;
constexpr int kPortLast = 34999;

Clock::time_point Deadline(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  std::size_t pos = text.size();
  for (int n = 0; n <= lines && pos > 0; ++n) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    pos = nl;
  }
  return text.substr(pos + 1);
}

struct Spawn {
  std::vector<std::string> argv;
  std::string log_path;  // stdout and stderr, appended
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  bool die_with_parent = false;
};

// fork + exec; only async-signal-safe calls in the child.
pid_t StartProcess(const Spawn& s) {
  std::vector<std::string> argv_s = s.argv;
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int fd = ::open(s.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  const int null = ::open("/dev/null", O_RDONLY);
  if (null >= 0) ::dup2(null, 0);
  if (s.switch_user) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(s.gid) != 0 || ::setuid(s.uid) != 0) ::_exit(126);
  }
  // After setuid, which clears it.
  if (s.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (::getppid() != parent) ::_exit(1);
  }
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

// Waits for `pid`; its exit code, or -1 after `timeout_s` (then killed).
int Wait(pid_t pid, double timeout_s) {
  const auto until = Deadline(timeout_s);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Status Run(const Spawn& s, double timeout_s, const std::string& what) {
  const pid_t pid = StartProcess(s);
  if (pid < 0) return Internal("fork failed for " + what);
  const int rc = Wait(pid, timeout_s);
  if (rc != 0) {
    return Internal(what + " failed (exit " + std::to_string(rc) + "): " + Tail(s.log_path, 15));
  }
  return Status::Ok();
}

// The initdb'd cluster copied by every server: built once per machine (and uid).
Result<std::string> Template(const PostgresServerOptions& o, bool switch_user, uid_t uid,
                             gid_t gid) {
  const std::string base = "/tmp/sovgrid-pg-template-v2-" + std::to_string(::geteuid());
  const std::string lock_path = base + ".lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return IoError("cannot open " + lock_path);
  ::flock(lock, LOCK_EX);  // released by close
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{lock};
  const std::string data = base + "/data";
  std::error_code ec;
  if (fs::exists(base + "/done", ec)) return data;
  fs::remove_all(base, ec);
  const std::string tmp = base + ".tmp";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return IoError("cannot create " + tmp + ": " + ec.message());
  if (switch_user && ::chown(tmp.c_str(), uid, gid) != 0) return IoError("cannot chown " + tmp);
  Spawn s;
  s.argv = {o.bin_dir + "/initdb",
            "-D",
            tmp + "/data",
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
            "--wal-segsize=1"};
  s.log_path = tmp + "/initdb.log";
  s.switch_user = switch_user;
  s.uid = uid;
  s.gid = gid;
  if (Status st = Run(s, 120, "initdb"); !st.ok()) return st;
  std::ofstream(tmp + "/done") << "ok\n";
  fs::rename(tmp, base, ec);
  if (ec) return IoError("cannot rename " + tmp + ": " + ec.message());
  return data;
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(
    const PostgresServerOptions& options) {
  std::unique_ptr<PostgresServer> server(new PostgresServer(options));
  for (const char* bin : {"/initdb", "/postgres"}) {
    if (::access((options.bin_dir + bin).c_str(), X_OK) != 0) {
      return FailedPrecondition(options.bin_dir + bin +
                                " is missing: install postgresql-15 (scripts/setup.sh)");
    }
  }
  PostgresServer& s = *server;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) pw = ::getpwnam("nobody");
    if (pw == nullptr) return FailedPrecondition("no postgres or nobody account to run as");
    s.switch_user_ = true;
    s.uid_ = pw->pw_uid;
    s.gid_ = pw->pw_gid;
  }
  auto tmpl = Template(options, s.switch_user_, s.uid_, s.gid_);
  if (!tmpl.ok()) return tmpl.status();
  char dir[] = "/tmp/sovgrid-pg-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return IoError("mkdtemp failed");
  s.dir_ = dir;
  Spawn cp;
  cp.argv = {"/bin/cp", "-a", *tmpl, s.dir_ + "/data"};
  cp.log_path = s.dir_ + "/cp.log";
  if (Status st = Run(cp, 60, "copying the template cluster"); !st.ok()) return st;
  if (s.switch_user_ && ::chown(s.dir_.c_str(), s.uid_, s.gid_) != 0)
    return IoError("cannot chown " + s.dir_);
  ::chmod(s.dir_.c_str(), 0700);
  for (int port = kPortFirst; port <= kPortLast; ++port) {
    const std::string lock = "/tmp/sovgrid-pg-port-" + std::to_string(port) + ".lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || !LoopbackPortFree(port)) {
      ::close(fd);
      continue;
    }
    s.port_lock_fd_ = fd;
    s.port_ = port;
    break;
  }
  if (s.port_ == 0) return FailedPrecondition("no free port for PostgreSQL");
  if (Status st = s.Launch(); !st.ok()) return st;
  return server;
}

Status PostgresServer::Launch() {
  Spawn s;
  s.argv = {options_.bin_dir + "/postgres",
            "-D",
            dir_ + "/data",
            "-p",
            std::to_string(port_),
            "-k",
            dir_,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            std::string("fsync=") + (options_.fsync ? "on" : "off"),
            "-c",
            "max_connections=100"};
  s.log_path = dir_ + "/pg.log";
  s.switch_user = switch_user_;
  s.uid = uid_;
  s.gid = gid_;
  s.die_with_parent = true;
  pid_ = StartProcess(s);
  if (pid_ < 0) return Internal("fork failed for postgres");
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port_) +
                               " user=postgres dbname=postgres "
                               "connect_timeout=2";
  const auto until = Deadline(options_.start_timeout_s);
  while (Clock::now() < until) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return Status::Ok();
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Internal("postgres exited at start: " + LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop(5);
  return Internal("postgres did not accept connections within " +
                  std::to_string(options_.start_timeout_s) + " s: " + LogTail());
}

PostgresServer::~PostgresServer() {
  // Immediate shutdown: the directory is thrown away, no checkpoint needed.
  if (pid_ > 0) {
    ::kill(pid_, SIGQUIT);
    Wait(pid_, 10);
    pid_ = -1;
  }
  if (port_lock_fd_ >= 0) ::close(port_lock_fd_);
  if (!dir_.empty() && std::getenv("SOVGRID_KEEP_PG") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void PostgresServer::Stop(double timeout_s) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGINT);
  Wait(pid_, timeout_s);
  pid_ = -1;
}

Status PostgresServer::Restart() {
  Stop();
  return Launch();
}

std::string PostgresServer::Uri(const std::string& db) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

Result<std::string> PostgresServer::Query(const std::string& sql, const std::string& db) {
  PGconn* c = PQconnectdb(("host=127.0.0.1 port=" + std::to_string(port_) +
                           " user=postgres connect_timeout=5 dbname=" + db)
                              .c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    return IoError("cannot connect to the test server: " + msg);
  }
  PGresult* r = PQexec(c, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  Result<std::string> out = std::string();
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    out = IoError(sql + ": " + PQresultErrorMessage(r));
  } else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) {
    out = std::string(PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  PQfinish(c);
  return out;
}

std::string PostgresServer::SchemaUri(const std::string& schema) const {
  return Uri() + "?options=-csearch_path%3D" + schema;
}

Status PostgresServer::CreateSchema(const std::string& schema) {
  auto r = Query("CREATE SCHEMA " + schema, "postgres");
  return r.ok() ? Status::Ok() : r.status();
}

Status PostgresServer::CreateDatabase(const std::string& db) {
  auto r = Query("CREATE DATABASE " + db, "postgres");
  return r.ok() ? Status::Ok() : r.status();
}

std::string PostgresServer::LogTail(int lines) const { return Tail(dir_ + "/pg.log", lines); }

}  // namespace sovgrid::testing
