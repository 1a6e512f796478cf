// A throw-away PostgreSQL server for tests, owned by the test: Debian's
// PostgreSQL 15 (/usr/lib/postgresql/15/bin, package postgresql-15, which
// scripts/setup.sh installs), on loopback, all state in one temporary
// directory, stopped by PID.
//
// Contract:
// - `Start` copies a cluster made once by `initdb` (kept in
//   /tmp/sovgrid-pg-template-UID, built under a lock, so parallel tests run
//   initdb once) into a new temporary directory, starts the postmaster on it
//   (-k DIR: the Unix socket stays in the directory; listen_addresses =
//   127.0.0.1 only; trust authentication for the `postgres` superuser) and
//   waits (bounded) until it accepts connections. As root, initdb and the server run as the
//   `postgres` account (else `nobody`), which owns the directory: PostgreSQL refuses root.
// - Port: any free loopback port from a range, held under a lock file
//   (/tmp/sovgrid-pg-port-P.lock) for the object's life, so servers of
//   parallel test processes never collide.
// - The postmaster is the test's child and dies with the thread that started
//   it (PR_SET_PDEATHSIG): a crashed test leaves no server behind.
// - `Stop`: SIGINT (a fast shutdown), at most 10 s, then SIGKILL. The
//   destructor: SIGQUIT (immediate), then removes the directory.
// - A missing binary is FAILED_PRECONDITION (never a skip); a failure to start
//   carries the tail of the server's log.
// Not thread-safe; use one object from one thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace sovgrid::testing {

struct PostgresServerOptions {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  double start_timeout_s = 30;
  // fsync=on (durable commits, as in production) unless false: benchmarks keep it.
  bool fsync = true;
};

class PostgresServer {
 public:
  static Result<std::unique_ptr<PostgresServer>> Start(const PostgresServerOptions& options = {});
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Fast shutdown (SIGINT), then SIGKILL after `timeout_s`. Idempotent.
  void Stop(double timeout_s = 10);
  // Starts the server again on the same directory and port.
  Status Restart();
  bool running() const { return pid_ > 0; }

  // postgresql://postgres@127.0.0.1:PORT/DB (the database `postgres` exists from the start).
  std::string Uri(const std::string& db = "postgres") const;
  // Creates database `db` (owned by postgres; slow-ish: it copies template1).
  Status CreateDatabase(const std::string& db);
  // A fresh schema in database `postgres` (instant), and a URI whose sessions
  // work in it (search_path): a clean store per test on one server.
  Status CreateSchema(const std::string& schema);
  std::string SchemaUri(const std::string& schema) const;
  // Runs `sql` on `db` as the superuser (simple query protocol); the first
  // row's first value, or "" when there is none.
  Result<std::string> Query(const std::string& sql, const std::string& db = "postgres");

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  std::string LogTail(int lines = 20) const;

 private:
  explicit PostgresServer(PostgresServerOptions options) : options_(std::move(options)) {}
  Status Launch();

  PostgresServerOptions options_;
  std::string dir_;
  int port_ = 0;
  int port_lock_fd_ = -1;
  pid_t pid_ = -1;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  bool switch_user_ = false;
};

}  // namespace sovgrid::testing
