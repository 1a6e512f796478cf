#include "testing/slurm_cluster.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "testing/loopback_port.h"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace sovgrid::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kSlurmctld = "/usr/sbin/slurmctld";
constexpr const char* kSlurmd = "/usr/sbin/slurmd";
constexpr const char* kSlurmstepd = "/usr/sbin/slurmstepd";
constexpr const char* kMunged = "/usr/sbin/munged";
constexpr const char* kClients[] = {"/usr/bin/sbatch", "/usr/bin/squeue", "/usr/bin/scontrol",
                                    "/usr/bin/scancel", "/usr/bin/sinfo"};
// Environment variable set on every daemon started here: how Stop finds them
// (and what they spawned) even after a crash of the test.
constexpr const char* kMarker = "SOVGRID_SLURM_DIR=";
constexpr int kAutoPortFirst = 20000;
constexpr int kAutoPortStride = 256;
constexpr int kAutoPortLast = 32000;

Clock::time_point Deadline(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return IoError("cannot write " + path);
  return Status::Ok();
}

std::string Tail(const std::string& path, int lines) {
  const std::string text = ReadFile(path);
  if (text.empty()) return "";
  std::size_t pos = text.size();
  if (text.back() == '\n') --pos;
  for (int n = 0; n < lines && pos > 0; ++n) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
  }
  return text.substr(pos == 0 ? 0 : pos + 1);
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string Padded(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%03d", n);
  return buf;
}

// "x[001-004]" style range, or the single item when first == last.
std::string Range(const std::string& prefix, const std::string& first, const std::string& last) {
  if (first == last) return prefix + first;
  return prefix + "[" + first + "-" + last + "]";
}

bool ValidName(const std::string& s, bool allow_upper) {
  if (s.empty() || s.size() > 32) return false;
  if (!std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::islower(u) || std::isdigit(u) || c == '-' || c == '_' ||
           (allow_upper && std::isupper(u));
  });
}

// The state letter of /proc/PID/stat and the parent pid; false if gone.
bool ReadStat(pid_t pid, char* state, pid_t* ppid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 4 >= stat.size()) return false;
  std::istringstream rest(stat.substr(close + 2));
  long parent = 0;
  rest >> *state >> parent;
  *ppid = static_cast<pid_t>(parent);
  return static_cast<bool>(rest);
}

// Alive = exists and is neither a zombie nor dead. Zombies count as gone:
// processes orphaned to this machine's init may stay zombies for a while.
bool Alive(pid_t pid) {
  char state = '?';
  pid_t ppid = 0;
  if (!ReadStat(pid, &state, &ppid)) return false;
  return state != 'Z' && state != 'X';
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

std::vector<pid_t> ListPids() {
  std::vector<pid_t> pids;
  for (const auto& n : ListDir("/proc")) {
    if (std::all_of(n.begin(), n.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      pids.push_back(static_cast<pid_t>(std::stol(n)));
    }
  }
  return pids;
}

std::string ReadLink(const std::string& path) {
  char buf[4096];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

struct SpawnSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string log_path;
  std::string cwd;
  bool as_munge = false;  // run as uid/gid (munge)
  uid_t uid = 0;
  gid_t gid = 0;
};

// fork + execve; the child is a session leader and dies with the thread that
// started it. Only async-signal-safe calls between fork and exec.
pid_t Spawn(const SpawnSpec& spec) {
  std::vector<std::string> argv_s = spec.argv;
  std::vector<std::string> env_s = spec.env;
  std::vector<char*> argv;
  argv.reserve(argv_s.size() + 1);
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env_s.size() + 1);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setsid();
  if (::chdir(spec.cwd.c_str()) != 0) ::_exit(126);
  const int in = ::open("/dev/null", O_RDONLY);
  const int out = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0) ::_exit(126);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(out, 2);
  if (spec.as_munge) {
    if (::setgroups(1, &spec.gid) != 0 || ::setgid(spec.gid) != 0 || ::setuid(spec.uid) != 0) {
      ::_exit(126);
    }
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(126);
  ::execve(argv[0], argv.data(), envp.data());
  ::_exit(127);
}

// Reaps `pid` (a child of ours), waiting at most `timeout_s`; true if it exited.
bool Reap(pid_t pid, double timeout_s) {
  const auto until = Deadline(timeout_s);
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) return true;
    if (Clock::now() > until) return false;
    SleepMs(10);
  }
}

// True if our child `pid` has exited (and reaps it).
bool ChildExited(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  return r == pid || r < 0;
}

bool Exists(pid_t pid) { return ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0; }

// SIGKILL, then waits for each to die (at most `timeout_s`) and for the
// zombies of the orphans among them to be reaped by init (at most 5 s more;
// this machine's init reaps every ~2 s), so that `pgrep` shows none after.
void KillAndWait(const std::vector<pid_t>& pids, double timeout_s) {
  for (pid_t p : pids) ::kill(p, SIGKILL);
  const auto until = Deadline(timeout_s);
  for (pid_t p : pids) {
    while (Alive(p) && Clock::now() < until) SleepMs(10);
  }
  const auto reaped = Deadline(5);
  for (pid_t p : pids) {
    while (Exists(p) && Clock::now() < reaped) SleepMs(20);
  }
}

}  // namespace

SlurmCluster::SlurmCluster(SlurmClusterOptions options) : options_(std::move(options)) {}

SlurmCluster::~SlurmCluster() { Stop(); }

Result<std::unique_ptr<SlurmCluster>> SlurmCluster::Start(const SlurmClusterOptions& options) {
  std::unique_ptr<SlurmCluster> cluster(new SlurmCluster(options));
  if (Status s = cluster->Launch(); !s.ok()) {
    const std::string tails = cluster->LogTails();
    cluster->Stop();
    return Status(s.code(), "slurm cluster '" + options.cluster_name + "' in " + options.dir +
                                ": " + s.message() + (tails.empty() ? "" : "\n" + tails));
  }
  return Result<std::unique_ptr<SlurmCluster>>(std::move(cluster));
}

Status SlurmCluster::Launch() {
  const SlurmClusterOptions& o = options_;
  // Binaries first: a machine without them fails here, loudly.
  std::string missing;
  for (const char* b : {kSlurmctld, kSlurmd, kSlurmstepd, kMunged}) {
    if (::access(b, X_OK) != 0) missing += std::string(" ") + b;
  }
  for (const char* b : kClients) {
    if (::access(b, X_OK) != 0) missing += std::string(" ") + b;
  }
  const passwd* munge = ::getpwnam("munge");
  if (munge == nullptr) missing += " (user munge)";
  if (!missing.empty()) {
    return FailedPrecondition("missing" + missing +
                              ": install slurmctld, slurmd, slurm-client and munge "
                              "(scripts/setup.sh does)");
  }
  const uid_t munge_uid = munge->pw_uid;
  const gid_t munge_gid = munge->pw_gid;

  if (!ValidName(o.cluster_name, false)) {
    return InvalidArgument("cluster_name '" + o.cluster_name + "': expected [a-z][a-z0-9_-]*");
  }
  if (!ValidName(o.node_prefix, true)) {
    return InvalidArgument("node_prefix '" + o.node_prefix + "': expected [A-Za-z][A-Za-z0-9_-]*");
  }
  if (o.dir.empty() || o.dir[0] != '/') {
    return InvalidArgument("dir '" + o.dir + "': expected an absolute path");
  }
  if (o.nodes < 1 || o.nodes > 999) return InvalidArgument("nodes: expected 1..999");
  if (o.gpus_per_node < 0 || o.gpus_per_node > 64) {
    return InvalidArgument("gpus_per_node: expected 0..64");
  }
  if (o.cpus_per_node < 1 || o.memory_mb_per_node < 1) {
    return InvalidArgument("cpus_per_node and memory_mb_per_node must be positive");
  }
  if (o.partitions.empty()) return InvalidArgument("partitions: at least one");
  for (const auto& p : o.partitions) {
    if (!ValidName(p.name, true)) return InvalidArgument("partition name '" + p.name + "'");
    partition_names_.push_back(p.name);
  }
  if (o.client_message_timeout_s < 1) return InvalidArgument("client_message_timeout_s < 1");

  dir_ = fs::path(o.dir).lexically_normal().string();
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  if (dir_.size() + sizeof("/munge/munge.socket.2") > 100) {
    return InvalidArgument("dir '" + dir_ + "' is too long for munge's unix socket path");
  }
  conf_path_ = dir_ + "/etc/slurm.conf";
  client_conf_path_ = dir_ + "/etc/client.conf";
  jobs_dir_ = dir_ + "/jobs";
  for (int i = 1; i <= o.nodes; ++i) node_names_.push_back(o.node_prefix + Padded(i));
  node_list_ = Range(o.node_prefix, Padded(1), Padded(o.nodes));

  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return Internal("gethostname failed");
  hostname_ = host;
  hostname_ = hostname_.substr(0, hostname_.find('.'));  // `hostname -s`

  // Processes left by an earlier run on the same directory (a crashed test).
  KillAndWait(ClusterProcesses(), 10);

  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return IoError("cannot create " + dir_ + ": " + ec.message());
  // munged (user munge) must traverse it.
  if (::chmod(dir_.c_str(), 0755) != 0) return IoError("cannot chmod 0755 " + dir_);
  for (const char* sub : {"etc", "munge", "state", "spool", "log", "run", "dev", "jobs"}) {
    const std::string path = dir_ + "/" + sub;
    fs::remove_all(path, ec);
    if (ec) return IoError("cannot remove " + path + ": " + ec.message());
    fs::create_directories(path, ec);
    if (ec) return IoError("cannot create " + path + ": " + ec.message());
    ::chmod(path.c_str(), 0755);
  }

  daemon_env_.clear();
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    if (kv.rfind("SLURM_", 0) == 0 || kv.rfind(kMarker, 0) == 0) continue;
    daemon_env_.push_back(kv);
  }
  daemon_env_.push_back("SLURM_CONF=" + conf_path_);
  daemon_env_.push_back(kMarker + dir_);

  if (Status s = PickPorts(); !s.ok()) return s;
  if (Status s = WriteFiles(); !s.ok()) return s;

  // munge: its own key and socket in DIR/munge (owner munge, 0711).
  const std::string mdir = dir_ + "/munge";
  std::string key(1024, '\0');
  {
    std::ifstream urandom("/dev/urandom", std::ios::binary);
    urandom.read(key.data(), static_cast<std::streamsize>(key.size()));
    if (!urandom) return IoError("cannot read /dev/urandom");
  }
  const std::string key_path = mdir + "/munge.key";
  if (Status s = WriteFile(key_path, key); !s.ok()) return s;
  if (::chown(mdir.c_str(), munge_uid, munge_gid) != 0 || ::chmod(mdir.c_str(), 0711) != 0 ||
      ::chown(key_path.c_str(), munge_uid, munge_gid) != 0 ||
      ::chmod(key_path.c_str(), 0400) != 0) {
    return IoError("cannot set owner munge on " + mdir);
  }
  SpawnSpec munged;
  munged.argv = {kMunged,
                 "-F",
                 "--socket=" + mdir + "/munge.socket.2",
                 "--key-file=" + key_path,
                 "--pid-file=" + mdir + "/munged.pid",
                 "--log-file=" + mdir + "/munged.log",
                 "--seed-file=" + mdir + "/munged.seed"};
  munged.env = daemon_env_;
  munged.log_path = dir_ + "/log/munged.out";
  munged.cwd = dir_;
  munged.as_munge = true;
  munged.uid = munge_uid;
  munged.gid = munge_gid;
  munged_pid_ = Spawn(munged);
  if (munged_pid_ < 0) return Internal("fork failed");
  const auto munge_until = Deadline(10);
  while (true) {
    struct stat st {};
    if (::stat((mdir + "/munge.socket.2").c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) break;
    if (ChildExited(munged_pid_)) {
      munged_pid_ = -1;
      return Internal("munged exited at start");
    }
    if (Clock::now() > munge_until) return Internal("munged socket missing after 10 s");
    SleepMs(10);
  }

  // The controller first: a slurmd that finds no controller retries its
  // registration only a second later.
  if (Status s = SpawnController(); !s.ok()) return s;
  if (Status s = WaitForController(o.start_timeout_s); !s.ok()) return s;
  for (const auto& node : node_names_) {
    SpawnSpec slurmd;
    slurmd.argv = {kSlurmd, "-D", "-N", node};
    slurmd.env = daemon_env_;
    slurmd.log_path = dir_ + "/log/slurmd-" + node + ".out";
    slurmd.cwd = dir_;
    const pid_t pid = Spawn(slurmd);
    if (pid < 0) return Internal("fork failed");
    slurmd_pids_.push_back(pid);
  }
  return WaitForNodes(
      "idle", [](const std::string& state) { return state == "idle"; }, o.start_timeout_s);
}

Status SlurmCluster::PickPorts() {
  const SlurmClusterOptions& o = options_;
  if (o.controller_port > 0) {
    controller_port_ = o.controller_port;
    first_node_port_ = o.first_node_port > 0 ? o.first_node_port : o.controller_port + 1;
    if (first_node_port_ + o.nodes > 65535) return InvalidArgument("ports above 65535");
    if (first_node_port_ <= controller_port_ && controller_port_ < first_node_port_ + o.nodes) {
      return InvalidArgument("controller_port inside the node port range");
    }
    std::vector<int> ports = {controller_port_};
    for (int i = 0; i < o.nodes; ++i) ports.push_back(first_node_port_ + i);
    for (int p : ports) {
      if (!LoopbackPortFree(p)) {
        return FailedPrecondition("port " + std::to_string(p) +
                                  " on 127.0.0.1 is in use (another cluster?)");
      }
    }
    return Status::Ok();
  }
  if (o.first_node_port > 0) return InvalidArgument("first_node_port set without controller_port");
  if (o.nodes >= kAutoPortStride) {
    return InvalidArgument("more than 255 nodes: set controller_port and first_node_port");
  }
  for (int base = kAutoPortFirst; base + kAutoPortStride <= kAutoPortLast;
       base += kAutoPortStride) {
    const std::string lock = "/tmp/sovgrid-slurm-port-" + std::to_string(base) + ".lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      continue;
    }
    bool free = true;
    for (int p = base; p <= base + o.nodes && free; ++p) free = LoopbackPortFree(p);
    if (!free) {
      ::close(fd);
      continue;
    }
    port_lock_fd_ = fd;
    controller_port_ = base;
    first_node_port_ = base + 1;
    return Status::Ok();
  }
  return ResourceExhausted("no free block of " + std::to_string(o.nodes + 1) +
                           " ports on 127.0.0.1 in [" + std::to_string(kAutoPortFirst) + ", " +
                           std::to_string(kAutoPortLast) + ")");
}

Status SlurmCluster::WriteFiles() {
  const SlurmClusterOptions& o = options_;
  const std::string& d = dir_;
  // Key/value lines in order; extra_config replaces a key or appends.
  std::vector<std::pair<std::string, std::string>> conf = {
      {"ClusterName", o.cluster_name},
      {"SlurmctldHost", hostname_ + "(127.0.0.1)"},
      {"SlurmctldPort", std::to_string(controller_port_)},
      {"SlurmdPort", std::to_string(first_node_port_)},
      {"CommunicationParameters", "NoCtldInAddrAny,NoInAddrAny"},
      {"AuthType", "auth/munge"},
      {"AuthInfo", "socket=" + d + "/munge/munge.socket.2"},
      {"CredType", "cred/munge"},
      {"SlurmUser", "root"},
      {"SlurmdUser", "root"},
      {"StateSaveLocation", d + "/state"},
      {"SlurmdSpoolDir", d + "/spool/%n"},
      {"SlurmctldPidFile", d + "/run/slurmctld.pid"},
      {"SlurmdPidFile", d + "/run/slurmd-%n.pid"},
      {"SlurmctldLogFile", d + "/log/slurmctld.log"},
      {"SlurmdLogFile", d + "/log/slurmd-%n.log"},
      {"SlurmctldDebug", "info"},
      {"SlurmdDebug", "info"},
      {"ProctrackType", "proctrack/linuxproc"},
      {"TaskPlugin", "task/none"},
      {"MpiDefault", "none"},
      {"SwitchType", "switch/none"},
      {"AccountingStorageType", "accounting_storage/none"},
      {"JobAcctGatherType", "jobacct_gather/none"},
      {"JobCompType", "jobcomp/none"},
      {"SelectType", "select/cons_tres"},
      {"SelectTypeParameters", "CR_Core"},
      {"SchedulerType", "sched/backfill"},
      {"SlurmdParameters", "config_overrides"},
      {"GresTypes", "gpu"},
      {"MessageTimeout", "60"},
      {"UnkillableStepTimeout", "300"},
      {"SlurmdTimeout", "300"},
      {"SlurmctldTimeout", "300"},
      {"InactiveLimit", "0"},
      {"KillWait", "5"},
      {"MinJobAge", "86400"},
      {"MaxJobCount", "100000"},
      {"MaxArraySize", "100001"},
      {"ReturnToService", "1"},
      {"MailProg", "/bin/true"},
  };
  std::vector<std::string> appended;
  for (const auto& line : o.extra_config) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("extra_config '" + line + "': expected Key=Value");
    }
    const std::string key = line.substr(0, eq);
    auto same = [&](const auto& kv) {
      return kv.first.size() == key.size() &&
             std::equal(key.begin(), key.end(), kv.first.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) ==
                      std::tolower(static_cast<unsigned char>(b));
             });
    };
    auto it = std::find_if(conf.begin(), conf.end(), same);
    if (it != conf.end()) {
      it->second = line.substr(eq + 1);
    } else {
      appended.push_back(line);
    }
  }

  std::string nodes_line =
      "NodeName=" + node_list_ + " NodeAddr=127.0.0.1 NodeHostname=" + hostname_ + " Port=" +
      Range("", std::to_string(first_node_port_), std::to_string(first_node_port_ + o.nodes - 1)) +
      " CPUs=" + std::to_string(o.cpus_per_node) +
      " RealMemory=" + std::to_string(o.memory_mb_per_node);
  if (o.gpus_per_node > 0) nodes_line += " Gres=gpu:" + std::to_string(o.gpus_per_node);
  nodes_line += " State=UNKNOWN";

  auto render = [&](const std::string& message_timeout) {
    std::string text =
        "# Written by sovgrid's test fixture (tests/testing/slurm_cluster.cpp); see "
        "docs/slurm.md.\n";
    for (const auto& [k, v] : conf) {
      if (v.empty()) continue;  // removed by extra_config "Key="
      text += k + "=" + (k == "MessageTimeout" ? message_timeout : v) + "\n";
    }
    for (const auto& line : appended) text += line + "\n";
    text += nodes_line + "\n";
    bool first = true;
    for (const auto& p : o.partitions) {
      text += "PartitionName=" + p.name + " Nodes=" + (p.nodes.empty() ? "ALL" : p.nodes) +
              " Default=" + (first ? "YES" : "NO") +
              (p.extra.find("MaxTime=") == std::string::npos ? " MaxTime=INFINITE" : "") +
              " State=UP" + (p.extra.empty() ? "" : " " + p.extra) + "\n";
      first = false;
    }
    return text;
  };
  std::string daemon_timeout = "60";
  for (const auto& [k, v] : conf) {
    if (k == "MessageTimeout") daemon_timeout = v;
  }
  if (Status s = WriteFile(conf_path_, render(daemon_timeout)); !s.ok()) return s;
  if (Status s = WriteFile(client_conf_path_, render(std::to_string(o.client_message_timeout_s)));
      !s.ok()) {
    return s;
  }

  std::string gres = "AutoDetect=off\n";
  if (o.gpus_per_node > 0) {
    gres += "NodeName=" + node_list_ +
            " Name=gpu File=" + Range(d + "/dev/nvidia", "0", std::to_string(o.gpus_per_node - 1)) +
            "\n";
  }
  if (Status s = WriteFile(d + "/etc/gres.conf", gres); !s.ok()) return s;
  for (int i = 0; i < o.gpus_per_node; ++i) {
    const std::string dev = d + "/dev/nvidia" + std::to_string(i);
    if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
      return IoError("mknod " + dev + " failed (needs root)");
    }
  }
  return Status::Ok();
}

Status SlurmCluster::SpawnController() {
  SpawnSpec ctld;
  ctld.argv = {kSlurmctld, "-D"};
  ctld.env = daemon_env_;
  ctld.log_path = dir_ + "/log/slurmctld.out";
  ctld.cwd = dir_;
  ctld_pid_ = Spawn(ctld);
  if (ctld_pid_ < 0) {
    ctld_pid_ = -1;
    return Internal("fork failed");
  }
  return Status::Ok();
}

Status SlurmCluster::WaitForController(double timeout_s) {
  const auto until = Deadline(timeout_s);
  while (true) {
    if (ctld_pid_ > 0 && ChildExited(ctld_pid_)) {
      ctld_pid_ = -1;
      return Internal("slurmctld exited at start");
    }
    if (ctld_pid_ <= 0) return FailedPrecondition("slurmctld is not running");
    const CommandResult r = Run("scontrol ping", 10);
    if (r.exit_code == 0 && r.out.find("is UP") != std::string::npos) return Status::Ok();
    if (Clock::now() > until) {
      return Internal("slurmctld not answering `scontrol ping` after " +
                      std::to_string(static_cast<int>(timeout_s)) + " s: " + r.out + r.err);
    }
    SleepMs(50);
  }
}

Status SlurmCluster::WaitForNodes(const std::string& what, bool (*done)(const std::string&),
                                  double timeout_s) {
  const auto until = Deadline(timeout_s);
  std::string last;
  while (true) {
    if (munged_pid_ > 0 && ChildExited(munged_pid_)) {
      munged_pid_ = -1;
      return Internal("munged exited");
    }
    if (ctld_pid_ > 0 && ChildExited(ctld_pid_)) {
      ctld_pid_ = -1;
      return Internal("slurmctld exited");
    }
    if (ctld_pid_ <= 0) return FailedPrecondition("slurmctld is not running");
    for (std::size_t i = 0; i < slurmd_pids_.size(); ++i) {
      if (slurmd_pids_[i] > 0 && ChildExited(slurmd_pids_[i])) {
        slurmd_pids_[i] = -1;
        return Internal("slurmd -N " + node_names_[i] + " exited");
      }
    }
    const CommandResult r = Run("sinfo -h -N -o '%N %t'", 15);
    last = r.out + r.err;
    if (r.exit_code == 0) {
      std::map<std::string, std::string> state;
      std::istringstream in(r.out);
      std::string node, st;
      while (in >> node >> st) state[node] = st;
      const bool all = std::all_of(node_names_.begin(), node_names_.end(), [&](const auto& n) {
        auto it = state.find(n);
        return it != state.end() && done(it->second);
      });
      if (all) return Status::Ok();
    }
    if (Clock::now() > until) {
      std::string m = "nodes not all " + what + " after ";
      m += std::to_string(static_cast<int>(timeout_s));
      m += " s; sinfo -N says:\n";
      m += last;
      return Internal(m);
    }
    SleepMs(100);
  }
}

Status SlurmCluster::WaitForIdle(double timeout_s) {
  Status s = WaitForNodes(
      "idle", [](const std::string& state) { return state == "idle"; }, timeout_s);
  if (!s.ok()) return Status(s.code(), s.message() + "\n" + LogTails());
  return s;
}

Status SlurmCluster::StopController(bool graceful) {
  if (ctld_pid_ <= 0) return FailedPrecondition("slurmctld is not running");
  // Its children (slurmscriptd) go with it.
  std::vector<pid_t> children;
  for (pid_t pid : ListPids()) {
    char state = '?';
    pid_t ppid = 0;
    if (ReadStat(pid, &state, &ppid) && ppid == ctld_pid_) children.push_back(pid);
  }
  ::kill(ctld_pid_, graceful ? SIGTERM : SIGKILL);
  bool exited = Reap(ctld_pid_, 30);
  if (!exited) {
    ::kill(ctld_pid_, SIGKILL);
    Reap(ctld_pid_, 10);
  }
  ctld_pid_ = -1;
  KillAndWait(children, 10);
  if (!exited) return Internal("slurmctld ignored SIGTERM for 30 s; killed");
  return Status::Ok();
}

Status SlurmCluster::StartController() {
  if (ctld_pid_ > 0) return FailedPrecondition("slurmctld is already running");
  Status s = SpawnController();
  if (s.ok()) s = WaitForController(options_.start_timeout_s);
  if (s.ok()) {
    s = WaitForNodes(
        "registered",
        [](const std::string& state) {
          return state.rfind("unk", 0) != 0 && state.find('*') == std::string::npos;
        },
        options_.start_timeout_s);
  }
  if (!s.ok()) return Status(s.code(), s.message() + "\n" + LogTails());
  return s;
}

std::map<std::string, std::string> SlurmCluster::Env() const {
  return {{"SLURM_CONF", client_conf_path_}};
}

CommandResult SlurmCluster::Run(const std::string& command, double timeout_s) const {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", timeout_s);
  return RunCommand("SLURM_CONF=" + ShellQuote(client_conf_path_) + " timeout -k 2 " + seconds +
                    " /bin/sh -c " + ShellQuote(command));
}

std::string SlurmCluster::LogTails(int lines) const {
  std::string out;
  auto add = [&](const std::string& path) {
    const std::string tail = Tail(path, lines);
    if (!tail.empty()) out += "--- " + path + " (last lines)\n" + tail;
    if (!out.empty() && out.back() != '\n') out += '\n';
  };
  if (dir_.empty()) return out;
  add(dir_ + "/log/munged.out");
  add(dir_ + "/munge/munged.log");
  add(dir_ + "/log/slurmctld.out");
  add(dir_ + "/log/slurmctld.log");
  for (std::size_t i = 0; i < node_names_.size() && i < 2; ++i) {
    add(dir_ + "/log/slurmd-" + node_names_[i] + ".out");
    add(dir_ + "/log/slurmd-" + node_names_[i] + ".log");
  }
  return out;
}

std::vector<pid_t> SlurmCluster::ClusterProcesses() const {
  std::vector<pid_t> roots;
  std::map<pid_t, std::vector<pid_t>> children;
  if (dir_.empty()) return roots;
  const pid_t self = ::getpid();
  const std::string marker = kMarker + dir_;
  const std::string inside = dir_ + "/";
  for (pid_t pid : ListPids()) {
    char state = '?';
    pid_t ppid = 0;
    if (pid == self || !ReadStat(pid, &state, &ppid) || state == 'Z' || state == 'X') continue;
    children[ppid].push_back(pid);
    const std::string proc = "/proc/" + std::to_string(pid);
    bool ours = false;
    const std::string env = ReadFile(proc + "/environ");
    for (std::size_t pos = 0; pos < env.size() && !ours;) {
      const std::size_t end = env.find('\0', pos);
      const std::size_t len = (end == std::string::npos ? env.size() : end) - pos;
      ours = env.compare(pos, len, marker) == 0;
      if (end == std::string::npos) break;
      pos = end + 1;
    }
    // slurmstepd gets a clean environment from slurmd: recognise it by its
    // working directory (slurmd's, DIR) or a file it holds open under DIR.
    if (!ours && ReadFile(proc + "/cmdline").rfind("slurmstepd", 0) == 0) {
      ours = ReadLink(proc + "/cwd") == dir_;
      for (const auto& fd : ListDir(proc + "/fd")) {
        if (ours) break;
        std::string link = proc;
        link += "/fd/";
        link += fd;
        ours = ReadLink(link).rfind(inside, 0) == 0;
      }
    }
    if (ours) roots.push_back(pid);
  }
  for (pid_t p : {munged_pid_, ctld_pid_}) {
    if (p > 0) roots.push_back(p);
  }
  for (pid_t p : slurmd_pids_) {
    if (p > 0) roots.push_back(p);
  }
  // Every descendant too: the job processes under each slurmstepd.
  std::set<pid_t> all;
  std::deque<pid_t> todo(roots.begin(), roots.end());
  while (!todo.empty()) {
    const pid_t p = todo.front();
    todo.pop_front();
    if (p == self || !all.insert(p).second) continue;
    auto it = children.find(p);
    if (it != children.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
  }
  return {all.begin(), all.end()};
}

void SlurmCluster::Stop() {
  if (dir_.empty()) return;
  // slurmctld first and politely (it reaps its slurmscriptd, which would
  // otherwise linger as init's zombie for a while); then SIGKILL for all.
  if (ctld_pid_ > 0) {
    ::kill(ctld_pid_, SIGTERM);
    if (!Reap(ctld_pid_, 5)) {
      ::kill(ctld_pid_, SIGKILL);
      Reap(ctld_pid_, 5);
    }
    ctld_pid_ = -1;
  }
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<pid_t> victims = ClusterProcesses();
    if (victims.empty()) break;
    for (pid_t p : victims) ::kill(p, SIGKILL);
    for (pid_t* p : {&munged_pid_, &ctld_pid_}) {
      if (*p > 0) Reap(*p, 10);
      *p = -1;
    }
    for (pid_t& p : slurmd_pids_) {
      if (p > 0) Reap(p, 10);
      p = -1;
    }
    KillAndWait(victims, 10);
  }
  if (port_lock_fd_ >= 0) {
    ::close(port_lock_fd_);
    port_lock_fd_ = -1;
  }
}

}  // namespace sovgrid::testing
