#include "backends/slurm_backend.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "backends/process.h"

namespace sovgrid::backends {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using model::Time;

constexpr std::string_view kTag = "sovgrid:";  // the comment of every job sovgrid submits

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
  return s.substr(i);
}

// The first line of a client's complaint, without the program's prefix noise.
std::string Complaint(const ProgramResult& r) {
  if (r.timed_out) return "timed out";
  std::string text = Trim(r.err.empty() ? r.out : r.err);
  const auto nl = text.rfind('\n');  // sbatch prints its final reason last
  if (nl != std::string::npos) text = text.substr(nl + 1);
  return text.empty() ? "exit " + std::to_string(r.exit_code) : text;
}

bool Unreachable(const ProgramResult& r) {
  return r.timed_out || r.exit_code < 0 ||
         r.err.find("Unable to contact slurm controller") != std::string::npos ||
         r.err.find("Socket timed out") != std::string::npos;
}

// Slurm node state (sinfo %t, short form) -> sovgrid health.
std::string HealthOf(const std::string& t) {
  if (t.empty()) return "up";
  if (t.back() == '*' || t.rfind("down", 0) == 0 || t == "fail" || t == "failg" || t == "inval" ||
      t == "unk" || t == "boot" || t == "pow_dn" || t == "npc")
    return "down";
  if (t.rfind("drain", 0) == 0 || t == "drng" || t == "drng*" || t == "maint" || t == "resv")
    return "draining";
  return "up";
}

struct Cluster {
  SlurmClusterConfig cfg;
  std::map<std::string, std::string> env;
  std::map<std::string, const SlurmPoolMapping*> pools;  // pool id -> mapping
  std::map<std::string, std::string> sovgrid_node;       // Slurm node -> "pool/n00003"
  bool reachable = true;
  Clock::time_point unreachable_since{};
  std::string site_state = "up";  // as last reported
  std::string last_error;
  Clock::time_point next_poll{};
  std::map<std::string, std::string> node_state;  // sovgrid node -> health last reported
  std::set<std::string> pending_cancels;          // Slurm ids whose scancel did not get through
};

struct Tracked {
  std::size_t cluster = 0;
  std::string slurm_id;
  std::string tag;  // EncodeJobId(id)
};

class SlurmBackend final : public ExecutionBackend {
 public:
  SlurmBackend(SlurmBackendOptions o, const model::Scenario& scenario)
      : o_(std::move(o)), scenario_(scenario) {
    for (const auto& c : o_.clusters) {
      Cluster cl;
      cl.cfg = c;
      cl.env = {{"SLURM_CONF", c.slurm_conf}};
      clusters_.push_back(std::move(cl));
    }
    for (auto& cl : clusters_) {
      for (const auto& p : cl.cfg.pools) {
        cl.pools[p.pool] = &p;
        for (std::size_t i = 0; i < p.nodes.size(); ++i)
          cl.sovgrid_node[p.nodes[i]] = NodeName(p.pool, i);
      }
    }
    // A site with no cluster can run nothing here.
    for (const auto& site : scenario_.sites) {
      if (ClusterOf(site.id) == nullptr) {
        health_.push_back({HealthChange::Kind::kSite, site.id, "down",
                           "no Slurm cluster is configured for this site"});
      }
    }
  }

  std::string_view name() const override { return "slurm"; }

  Status Accepts(const model::Job& job) const override {
    if (job.command.empty())
      return InvalidArgument(
          "job.command: the slurm backend submits the job's command; none given");
    return Status::Ok();
  }

  Result<std::string> Start(const model::Job& job, const std::vector<PlacedPart>& where,
                            Time /*now*/) override {
    if (Status s = Accepts(job); !s.ok()) return s;
    if (where.empty()) return InvalidArgument("empty placement");
    const std::string& site = where.front().site;
    const std::string& pool = where.front().pool;
    for (const auto& p : where) {
      if (p.pool != pool)
        return InvalidArgument("a job placed in several pools (" + pool + ", " + p.pool +
                               ") cannot be one Slurm job");
    }
    Cluster* cl = ClusterOf(site);
    if (cl == nullptr) return InvalidArgument("site " + site + " has no Slurm cluster");
    if (!cl->reachable)
      return IoError("the Slurm controller of site " + site + " is unreachable: " + cl->last_error);
    auto mapping = cl->pools.find(pool);
    if (mapping == cl->pools.end())
      return InvalidArgument("pool " + pool + " has no Slurm partition in the configuration");
    std::vector<std::string> nodes;
    std::size_t per_node = 0;
    bool whole = true;
    const int pool_index = scenario_.FindPool(pool);
    const int accels_per_node =
        pool_index >= 0
            ? scenario_.pools[static_cast<std::size_t>(pool_index)].accelerators_per_node
            : 0;
    for (const auto& p : where) {
      auto slurm = SlurmNode(*mapping->second, p.node);
      if (!slurm.ok()) return slurm.status();
      nodes.push_back(*slurm);
      per_node = std::max(per_node, p.accelerators.size());
      whole = whole && p.share >= 1 && static_cast<int>(p.accelerators.size()) == accels_per_node;
    }
    const std::string tag = EncodeJobId(job.id);
    const fs::path dir = JobDir(tag);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
    // The command in a file of its own: no quoting between sovgrid, sbatch and the shell.
    if (Status s = WriteFile(dir / "command.sh", job.command + "\n"); !s.ok()) return s;
    const std::string run = where.size() > 1
                                ? "exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 /bin/sh "
                                : "exec /bin/sh ";
    if (Status s =
            WriteFile(dir / "batch.sh", "#!/bin/sh\n" + run + (dir / "command.sh").string() + "\n");
        !s.ok())
      return s;
    std::string node_list;
    for (const auto& n : nodes) node_list += (node_list.empty() ? "" : ",") + n;
    std::vector<std::string> argv = {Bin("sbatch"),
                                     "--parsable",
                                     "--job-name=sovgrid-" + tag,
                                     "--comment=" + std::string(kTag) + tag,
                                     "--partition=" + mapping->second->partition,
                                     "--nodes=" + std::to_string(nodes.size()),
                                     "--nodelist=" + node_list,
                                     "--ntasks-per-node=1",
                                     "--no-requeue",
                                     "--open-mode=append",
                                     "--chdir=" + dir.string(),
                                     "--output=" + (dir / "stdout").string(),
                                     "--error=" + (dir / "stderr").string(),
                                     "--export=ALL,SOVGRID_JOB_ID=" + tag};
    if (per_node > 0) argv.push_back("--gres=gpu:" + std::to_string(per_node));
    if (whole) argv.emplace_back("--exclusive");
    if (!cl->cfg.account.empty()) argv.push_back("--account=" + cl->cfg.account);
    argv.push_back((dir / "batch.sh").string());
    const ProgramResult r = RunProgram(argv, cl->env, o_.command_timeout_s);
    if (r.exit_code != 0) {
      if (Unreachable(r)) {
        MarkUnreachable(*cl, Complaint(r));
        return IoError("sbatch at site " + site + ": " + Complaint(r));
      }
      return InvalidArgument("sbatch at site " + site + " refused the job: " + Complaint(r));
    }
    std::string id = Trim(r.out);
    id = id.substr(0, id.find(';'));
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      return IoError("sbatch at site " + site + " printed no job id: '" + Trim(r.out) + "'");
    jobs_[job.id] = {Index(*cl), id, tag};
    return "slurm:" + site + ":" + id;
  }

  Status Adopt(const model::Job& job, const std::vector<PlacedPart>& where, Time /*started_at*/,
               const std::string& handle) override {
    const auto parts = Split(handle, ':');
    if (parts.size() != 3 || parts[0] != "slurm" || parts[2].empty())
      return NotFound("job '" + job.id + "': no Slurm job recorded (handle '" + handle + "')");
    Cluster* cl = ClusterOf(parts[1]);
    if (cl == nullptr || (!where.empty() && where.front().site != parts[1]))
      return NotFound("job '" + job.id + "': site " + parts[1] + " has no Slurm cluster now");
    // Whether Slurm still runs it is seen by the next reconcile pass.
    jobs_[job.id] = {Index(*cl), parts[2], EncodeJobId(job.id)};
    return Status::Ok();
  }

  void Stop(const std::string& job) override {
    auto it = jobs_.find(job);
    if (it == jobs_.end()) return;
    Cluster& cl = clusters_[it->second.cluster];
    const std::string id = it->second.slurm_id;
    jobs_.erase(it);
    if (!cl.reachable || !Cancel(cl, id)) cl.pending_cancels.insert(id);
  }

  std::vector<Ended> Poll(Time /*now*/) override {
    std::vector<Ended> out;
    const auto now = Clock::now();
    for (auto& cl : clusters_) {
      if (now < cl.next_poll) continue;
      cl.next_poll = now + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o_.poll_interval_s));
      Reconcile(cl, &out);
    }
    std::sort(out.begin(), out.end(), [](const Ended& a, const Ended& b) { return a.job < b.job; });
    return out;
  }

  std::vector<HealthChange> Health(Time /*now*/) override {
    std::vector<HealthChange> out;
    out.swap(health_);
    return out;
  }

  Result<std::string> Logs(const std::string& job, std::string_view stream, std::size_t offset,
                           std::size_t limit) override {
    if (stream != "stdout" && stream != "stderr")
      return InvalidArgument("stream: expected stdout or stderr, found '" + std::string(stream) +
                             "'");
    return ReadFileChunk((JobDir(EncodeJobId(job)) / std::string(stream)).string(), offset, limit,
                         "the " + std::string(stream) + " of job '" + job + "'");
  }

 private:
  static std::string NodeName(const std::string& pool, std::size_t i) {
    std::string n = std::to_string(i);
    return pool + "/n" + std::string(n.size() < 5 ? 5 - n.size() : 0, '0') + n;
  }
  static Result<std::string> SlurmNode(const SlurmPoolMapping& m, const std::string& node) {
    const auto slash = node.rfind("/n");
    std::size_t index = 0;
    try {
      index = slash == std::string::npos ? m.nodes.size() : std::stoul(node.substr(slash + 2));
    } catch (const std::exception&) {
      index = m.nodes.size();
    }
    if (index >= m.nodes.size())
      return InvalidArgument("node " + node + " has no Slurm node in the configuration");
    return m.nodes[index];
  }
  Cluster* ClusterOf(const std::string& site) {
    for (auto& c : clusters_) {
      if (c.cfg.site == site) return &c;
    }
    return nullptr;
  }
  std::size_t Index(const Cluster& c) const {
    return static_cast<std::size_t>(&c - clusters_.data());
  }
  fs::path JobDir(const std::string& tag) const { return fs::path(o_.dir) / "jobs" / tag; }
  std::string Bin(const std::string& program) const {
    return o_.bin_dir.empty() ? program : (fs::path(o_.bin_dir) / program).string();
  }
  static Status WriteFile(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out.flush()) return IoError("cannot write " + path.string());
    return Status::Ok();
  }

  bool Cancel(Cluster& cl, const std::string& slurm_id) {
    // scancel exits 0 also for ended or unknown jobs: only "no answer" is a failure.
    const ProgramResult r = RunProgram({Bin("scancel"), slurm_id}, cl.env, o_.command_timeout_s);
    if (r.exit_code == 0) return true;
    if (Unreachable(r)) MarkUnreachable(cl, Complaint(r));
    return false;
  }

  void MarkUnreachable(Cluster& cl, const std::string& why) {
    cl.last_error = why;
    if (!cl.reachable) return;
    cl.reachable = false;
    cl.unreachable_since = Clock::now();
    SetSite(cl, "draining", "the Slurm controller does not answer: " + why);
  }

  void SetSite(Cluster& cl, const std::string& state, const std::string& reason) {
    if (cl.site_state == state) return;
    cl.site_state = state;
    health_.push_back({HealthChange::Kind::kSite, cl.cfg.site, state, reason});
  }

  // One reconcile pass over a cluster: controller, jobs, nodes.
  void Reconcile(Cluster& cl, std::vector<Ended>* ended) {
    const ProgramResult ping = RunProgram({Bin("scontrol"), "ping"}, cl.env, o_.command_timeout_s);
    if (ping.exit_code != 0 || ping.out.find("is UP") == std::string::npos) {
      MarkUnreachable(cl, Complaint(ping));
      const double down_for =
          std::chrono::duration<double>(Clock::now() - cl.unreachable_since).count();
      if (down_for >= o_.site_down_after_s) {
        SetSite(cl, "down",
                "the Slurm controller has not answered for " +
                    std::to_string(static_cast<long long>(down_for)) + " s: " + cl.last_error);
      }
      return;
    }
    if (!cl.reachable) {
      cl.reachable = true;
      SetSite(cl, "up", "the Slurm controller answers again");
    }
    for (auto it = cl.pending_cancels.begin(); it != cl.pending_cancels.end();) {
      it = Cancel(cl, *it) ? cl.pending_cancels.erase(it) : std::next(it);
    }

    // Jobs: "%i|%T|%k|%r" = id, state, comment, reason.
    const ProgramResult q = RunProgram({Bin("squeue"), "-h", "-t", "all", "-o", "%i|%T|%k|%r"},
                                       cl.env, o_.command_timeout_s);
    if (q.exit_code != 0) {
      if (Unreachable(q)) MarkUnreachable(cl, Complaint(q));
      return;  // nothing is concluded from a failed read
    }
    struct Seen {
      std::string state, tag, reason;
    };
    std::map<std::string, Seen> by_id;
    std::istringstream lines(q.out);
    std::string line;
    while (std::getline(lines, line)) {
      const auto f = Split(line, '|');
      if (f.size() < 4 || f[2].rfind(kTag, 0) != 0) continue;
      by_id[f[0]] = {f[1], f[2].substr(kTag.size()), f[3]};
    }
    std::set<std::string> tracked_ids;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      Tracked& t = it->second;
      if (t.cluster != Index(cl)) {
        ++it;
        continue;
      }
      tracked_ids.insert(t.slurm_id);
      auto seen = by_id.find(t.slurm_id);
      // Slurm ids are not unique across controller crashes: the tag must match too.
      if (seen == by_id.end() || seen->second.tag != t.tag) {
        ended->push_back({it->first, false, true,
                          "Slurm at site " + cl.cfg.site + " no longer knows job " + t.slurm_id});
        it = jobs_.erase(it);
        continue;
      }
      auto outcome = Outcome(cl, t.slurm_id, seen->second.state, seen->second.reason);
      if (!outcome) {
        ++it;
        continue;
      }
      outcome->job = it->first;
      ended->push_back(std::move(*outcome));
      it = jobs_.erase(it);
    }
    // Tagged jobs still active that nobody tracks: left by a daemon that died
    // before it recorded them, or stopped while the controller was away.
    for (const auto& [id, s] : by_id) {
      const bool active = s.state == "PENDING" || s.state == "RUNNING" ||
                          s.state == "CONFIGURING" || s.state == "SUSPENDED" ||
                          s.state == "REQUEUED" || s.state == "RESIZING";
      if (active && tracked_ids.count(id) == 0 && !Cancel(cl, id)) cl.pending_cancels.insert(id);
    }

    // Nodes: one line per node and partition.
    const ProgramResult n =
        RunProgram({Bin("sinfo"), "-h", "-N", "-o", "%N|%t|%E"}, cl.env, o_.command_timeout_s);
    if (n.exit_code != 0) return;
    std::map<std::string, std::pair<std::string, std::string>>
        health;  // sovgrid node -> state, why
    std::istringstream nodes(n.out);
    while (std::getline(nodes, line)) {
      const auto f = Split(line, '|');
      if (f.size() < 3) continue;
      auto node = cl.sovgrid_node.find(f[0]);
      if (node == cl.sovgrid_node.end()) continue;
      health[node->second] = {HealthOf(f[1]), "Slurm node " + f[0] + " is " + f[1] +
                                                  (f[2] == "none" ? "" : ": " + f[2])};
    }
    for (const auto& [node, sw] : health) {
      std::string& last = cl.node_state[node];
      if (last.empty()) last = "up";
      if (last == sw.first) continue;
      last = sw.first;
      health_.push_back({HealthChange::Kind::kNode, node, sw.first, sw.second});
    }
  }

  // How a job in `state` ended, or nothing while it has not.
  std::optional<Ended> Outcome(Cluster& cl, const std::string& id, const std::string& state,
                               const std::string& reason) {
    const std::string where = " (Slurm job " + id + " at site " + cl.cfg.site + ")";
    if (state == "COMPLETED") return Ended{"", false, false, "exit 0" + where};
    if (state == "NODE_FAIL" || state == "PREEMPTED")
      return Ended{"", false, true, state + where + ", reason " + reason};
    if (state == "FAILED" || state == "TIMEOUT" || state == "CANCELLED" ||
        state == "OUT_OF_MEMORY" || state == "BOOT_FAIL" || state == "DEADLINE") {
      std::string how = state;
      const ProgramResult r =
          RunProgram({Bin("scontrol"), "show", "job", "-o", id}, cl.env, o_.command_timeout_s);
      const auto at = r.out.find("ExitCode=");
      if (at != std::string::npos) {
        const std::string code = r.out.substr(at + 9, r.out.find(' ', at) - at - 9);
        const auto colon = code.find(':');
        const std::string status = code.substr(0, colon);
        const std::string signal = colon == std::string::npos ? "0" : code.substr(colon + 1);
        if (state == "FAILED" && status != "0") how = "exit " + status;
        if (signal != "0") how += ", signal " + signal;
      }
      if (state == "CANCELLED") how = "cancelled in Slurm";
      return Ended{"", true, false, how + where + (reason == "None" ? "" : ", reason " + reason)};
    }
    return std::nullopt;  // PENDING (waiting on its pinned nodes), RUNNING, COMPLETING...
  }

  SlurmBackendOptions o_;
  const model::Scenario& scenario_;
  std::vector<Cluster> clusters_;
  std::map<std::string, Tracked> jobs_;  // sovgrid id -> its Slurm job
  std::vector<HealthChange> health_;     // not yet taken by Health()
};

}  // namespace

Result<std::vector<std::string>> ExpandSlurmHostList(const std::string& list) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < list.size()) {
    // One name: a prefix, optionally one [ranges] and a suffix, up to a top-level comma.
    std::size_t end = i;
    int depth = 0;
    while (end < list.size() && (depth > 0 || list[end] != ',')) {
      if (list[end] == '[') ++depth;
      if (list[end] == ']') --depth;
      if (depth < 0 || depth > 1) return InvalidArgument("malformed host list '" + list + "'");
      ++end;
    }
    if (depth != 0) return InvalidArgument("unclosed '[' in host list '" + list + "'");
    const std::string name = list.substr(i, end - i);
    if (name.empty()) return InvalidArgument("empty name in host list '" + list + "'");
    const auto open = name.find('[');
    if (open == std::string::npos) {
      out.push_back(name);
    } else {
      const auto close = name.find(']', open);
      const std::string prefix = name.substr(0, open), suffix = name.substr(close + 1);
      for (const auto& range : Split(name.substr(open + 1, close - open - 1), ',')) {
        const auto dash = range.find('-');
        const std::string lo = range.substr(0, dash);
        const std::string hi = dash == std::string::npos ? lo : range.substr(dash + 1);
        if (lo.empty() || hi.empty() || lo.find_first_not_of("0123456789") != std::string::npos ||
            hi.find_first_not_of("0123456789") != std::string::npos || lo.size() > 9 ||
            hi.size() > 9)
          return InvalidArgument("malformed range '" + range + "' in host list '" + list + "'");
        const long a = std::stol(lo), b = std::stol(hi);
        if (b < a || b - a > 100000)
          return InvalidArgument("bad range '" + range + "' in host list '" + list + "'");
        for (long v = a; v <= b; ++v) {
          std::string digits = std::to_string(v);
          if (digits.size() < lo.size()) digits.insert(0, lo.size() - digits.size(), '0');
          out.push_back(prefix + digits + suffix);
        }
      }
    }
    i = end + 1;
  }
  return out;
}

Result<std::unique_ptr<ExecutionBackend>> MakeSlurmBackend(const SlurmBackendOptions& options,
                                                           const model::Scenario& scenario) {
  if (options.dir.empty()) return InvalidArgument("slurm backend: no directory given");
  std::error_code ec;
  fs::create_directories(fs::path(options.dir) / "jobs", ec);
  if (ec) return IoError("cannot create " + options.dir + "/jobs: " + ec.message());
  return std::unique_ptr<ExecutionBackend>(std::make_unique<SlurmBackend>(options, scenario));
}

}  // namespace sovgrid::backends
