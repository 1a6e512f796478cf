#include "backends/slurm_backend.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "backends/process.h"

namespace sovgrid::backends {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using model::Time;

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

// What a client said when it failed: its non-empty lines of stderr (else
// stdout) joined with "; ", without banners ("*****", "** RESTORE SLURMCTLD
// DAEMON TO SERVICE **" after scontrol ping), e.g. sbatch's "sbatch: error: invalid partition
// specified: nope; sbatch: error: Batch job submission failed: Invalid
// partition name specified".
std::string Complaint(const ProgramResult& r) {
  if (r.timed_out) return "timed out";
  std::string joined;
  std::istringstream in(Trim(r.err).empty() ? r.out : r.err);
  for (std::string line; std::getline(in, line);) {
    line = Trim(line);
    if (!line.empty() && line[0] != '*') joined += (joined.empty() ? "" : "; ") + line;
  }
  return joined.empty() ? "exit " + std::to_string(r.exit_code) : joined;
}

// A failure that trying again later may cure: no answer from the controller,
// or the controller asking to come back later.
bool Unreachable(const ProgramResult& r) {
  static constexpr std::string_view kTransient[] = {"Unable to contact slurm controller",
                                                    "Socket timed out",
                                                    "Zero Bytes were transmitted",
                                                    "Connection refused",
                                                    "temporarily unable",
                                                    "Resource temporarily unavailable",
                                                    "Slurm backup controller in standby mode"};
  if (r.timed_out || r.exit_code < 0) return true;
  for (const auto& t : kTransient) {
    if (r.err.find(t) != std::string::npos || r.out.find(t) != std::string::npos) return true;
  }
  return false;
}

// Slurm node state (sinfo %t, short form) -> sovgrid health; "" when it says
// nothing either way ("unk": a node not yet registered, e.g. for a few seconds
// after the controller restarted).
std::string HealthOf(const std::string& t) {
  if (t.empty() || t == "unk") return "";
  if (t.back() == '*' || t.rfind("down", 0) == 0 || t.rfind("fail", 0) == 0 ||
      t.rfind("inval", 0) == 0 || t.rfind("boot", 0) == 0 || t.rfind("pow_dn", 0) == 0 ||
      t.rfind("npc", 0) == 0)
    return "down";
  if (t.rfind("drain", 0) == 0 || t.rfind("drng", 0) == 0 || t.rfind("maint", 0) == 0 ||
      t.rfind("resv", 0) == 0)
    return "draining";
  return "up";  // idle, mix, alloc, comp, plnd, with or without a power-saving suffix
}

// Slurm's job states after which nothing more happens to a job.
bool Terminal(const std::string& state) {
  static const std::set<std::string> kTerminal = {
      "COMPLETED",     "FAILED",    "CANCELLED", "TIMEOUT", "NODE_FAIL",   "PREEMPTED",
      "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",  "REVOKED", "SPECIAL_EXIT"};
  return kTerminal.count(state) != 0;
}

// A value for a POSIX shell script, single-quoted.
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

// sbatch expands %j, %N... in --output and --error: a '%' of the path itself
// (an encoded job id) is written %%.
std::string SbatchFilename(const std::string& path) {
  std::string out;
  for (char c : path) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
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
  int silent_passes = 0;  // reconcile passes in a row whose ping got no answer
  std::map<std::string, std::string> node_state;  // sovgrid node -> health last reported
  // Slurm id -> tag of jobs to cancel that a scancel has not reached yet. Only
  // cancelled while squeue shows that id with that tag: a controller that
  // crashed may give the id to another job.
  std::map<std::string, std::string> pending_cancels;
};

struct Tracked {
  std::size_t cluster = 0;
  std::string slurm_id;
  std::string tag;        // EncodeJobId(id)
  std::size_t ranks = 0;  // nodes of its placement: node.sh writes one exit file per rank
};

class SlurmBackend final : public ExecutionBackend {
 public:
  SlurmBackend(SlurmBackendOptions o, const model::Scenario& scenario)
      : o_(std::move(o)), scenario_(scenario), comment_prefix_("sovgrid:" + o_.instance + ":") {
    for (const auto& c : o_.clusters) {
      Cluster cl;
      cl.cfg = c;
      cl.env = {{"SLURM_CONF", c.slurm_conf}};
      clusters_.push_back(std::move(cl));
    }
    // clusters_ does not grow any more: pointers into it stay valid.
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
      return InvalidArgument("job.command: the slurm backend submits the job's command; none given")
          .WithField("command");
    return Status::Ok();
  }

  Result<std::string> Start(const model::Job& job, const std::vector<PlacedPart>& where,
                            Time now) override {
    return std::move(StartAll({{&job, where}}, now).front());
  }

  // Jobs are prepared (checked, scripts written) one after another, their
  // sbatch calls run on up to submit_workers threads at once (each waits
  // mostly on the controller and on process start-up), and the outcomes are
  // recorded in order on this thread. Once a cluster's controller stops
  // answering during the batch, its remaining jobs are not tried (IoError).
  std::vector<Result<std::string>> StartAll(const std::vector<StartRequest>& starts,
                                            Time /*now*/) override {
    std::vector<std::optional<Result<std::string>>> outcome(starts.size());
    std::vector<Submission> subs;
    std::vector<std::size_t> request_of;  // subs[k] is starts[request_of[k]]
    for (std::size_t i = 0; i < starts.size(); ++i) {
      auto sub = Prepare(*starts[i].job, starts[i].where);
      if (!sub.ok()) {
        outcome[i] = sub.status();
        continue;
      }
      subs.push_back(std::move(*sub));
      request_of.push_back(i);
    }
    std::vector<ProgramResult> ran(subs.size());
    std::vector<char> skipped(subs.size(), 0);
    std::vector<std::atomic<bool>> silent(clusters_.size());  // stopped answering in this batch
    std::atomic<std::size_t> next{0};
    auto submit = [&] {
      for (std::size_t k; (k = next.fetch_add(1)) < subs.size();) {
        const std::size_t c = subs[k].cluster;
        if (silent[c].load()) {
          skipped[k] = 1;
          continue;
        }
        ran[k] = RunProgram(subs[k].argv, clusters_[c].env, o_.command_timeout_s);
        if (ran[k].exit_code != 0 && Unreachable(ran[k])) silent[c].store(true);
      }
    };
    {
      const std::size_t helpers =
          std::min<std::size_t>(static_cast<std::size_t>(o_.submit_workers), subs.size()) -
          (subs.empty() ? 0 : 1);
      std::vector<std::jthread> pool;
      pool.reserve(helpers);
      for (std::size_t h = 0; h < helpers; ++h) pool.emplace_back(submit);
      submit();
    }  // joined
    for (std::size_t k = 0; k < subs.size(); ++k) {
      outcome[request_of[k]] =
          skipped[k] != 0
              ? Result<std::string>(IoError("the Slurm controller of site " + subs[k].site +
                                            " stopped answering during this batch of submissions"))
              : Record(subs[k], ran[k]);
    }
    std::vector<Result<std::string>> out;
    out.reserve(outcome.size());
    for (auto& o : outcome) out.push_back(std::move(*o));
    return out;
  }

  Status Adopt(const model::Job& job, const std::vector<PlacedPart>& where, Time /*started_at*/,
               const std::string& handle) override {
    if (handle.empty() && !where.empty()) {
      // Committed as running, but the daemon stopped before it recorded the
      // sbatch's answer. Without a job directory no sbatch was even prepared:
      // not found, so the caller queues it again. Otherwise the next reconcile
      // pass finds the job by its tag, or reports it lost (sbatch never
      // reached Slurm) so that it is queued again.
      Cluster* cl = ClusterOf(where.front().site);
      if (cl == nullptr)
        return NotFound("job '" + job.id + "': site " + where.front().site +
                        " has no Slurm cluster");
      std::error_code ec;
      if (!fs::exists(JobDir(EncodeJobId(job.id)), ec))
        return NotFound("job '" + job.id + "': never submitted to Slurm");
      jobs_[job.id] = {Index(*cl), "", EncodeJobId(job.id), where.size()};
      return Status::Ok();
    }
    // "slurm:SITE:ID"; a site id may itself hold ':'.
    const auto first = handle.find(':'), last = handle.rfind(':');
    const std::string id = last == std::string::npos ? "" : handle.substr(last + 1);
    if (handle.rfind("slurm:", 0) != 0 || first == last || id.empty() ||
        id.find_first_not_of("0123456789") != std::string::npos)
      return NotFound("job '" + job.id + "': no Slurm job recorded (handle '" + handle + "')");
    const std::string site = handle.substr(first + 1, last - first - 1);
    Cluster* cl = ClusterOf(site);
    if (cl == nullptr || (!where.empty() && where.front().site != site))
      return NotFound("job '" + job.id + "': site " + site + " has no Slurm cluster now");
    // Whether Slurm still runs it is seen by the next reconcile pass.
    jobs_[job.id] = {Index(*cl), id, EncodeJobId(job.id), where.size()};
    return Status::Ok();
  }

  void Stop(const std::string& job) override {
    auto it = jobs_.find(job);
    if (it == jobs_.end()) return;
    Cluster& cl = clusters_[it->second.cluster];
    const Tracked t = it->second;
    jobs_.erase(it);
    if (!cl.reachable || !Cancel(cl, t.slurm_id)) cl.pending_cancels[t.slurm_id] = t.tag;
  }

  std::vector<Ended> Poll(Time /*now*/) override {
    std::vector<Ended> out;
    const auto now = Clock::now();
    for (auto& cl : clusters_) {
      if (now < cl.next_poll) continue;
      Reconcile(cl, &out);
      cl.next_poll = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(NextPassIn(cl)));
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
    return ReadJobStream(JobDir(EncodeJobId(job)).string(), stream, offset, limit, job);
  }

 private:
  // A job ready for sbatch: its scripts are written.
  struct Submission {
    std::size_t cluster = 0;
    std::string job, tag, site;
    std::size_t ranks = 0;
    std::vector<std::string> argv;
  };

  Result<Submission> Prepare(const model::Job& job, const std::vector<PlacedPart>& where) {
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
    std::string node_case;  // node.sh: Slurm node -> sovgrid node and rank
    std::string sovgrid_nodes;
    for (std::size_t rank = 0; rank < where.size(); ++rank) {
      const PlacedPart& p = where[rank];
      auto slurm = SlurmNode(*mapping->second, p.node);
      if (!slurm.ok()) return slurm.status();
      if (std::find(nodes.begin(), nodes.end(), *slurm) != nodes.end())
        return InvalidArgument("node " + p.node + " appears twice in the placement");
      nodes.push_back(*slurm);
      per_node = std::max(per_node, p.accelerators.size());
      whole = whole && p.share >= 1 && static_cast<int>(p.accelerators.size()) == accels_per_node;
      node_case += "  " + *slurm + ") SOVGRID_NODE=" + ShellQuote(p.node) +
                   " SOVGRID_NODE_RANK=" + std::to_string(rank) + " ;;\n";
      sovgrid_nodes += (sovgrid_nodes.empty() ? "" : ",") + p.node;
    }
    const std::string tag = EncodeJobId(job.id);
    const fs::path dir = JobDir(tag);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
    // The command in a file of its own: no quoting between sovgrid, sbatch and
    // the shell. batch.sh runs once on the first node and starts node.sh on
    // every node (srun, one task per node, for a multi-node job).
    std::ostringstream share;
    share.setf(std::ios::fixed);
    share.precision(6);
    share << where.front().share;
    const std::string batch =
        "#!/bin/sh\n"
        "export SOVGRID_JOB_ID=" +
        ShellQuote(job.id) + " SOVGRID_TENANT=" + ShellQuote(job.tenant) +
        " SOVGRID_SITE=" + ShellQuote(site) + " SOVGRID_NODES=" + ShellQuote(sovgrid_nodes) +
        " SOVGRID_NUM_NODES=" + std::to_string(where.size()) +
        " SOVGRID_ACCELERATOR_SHARE=" + share.str() +
        " SOVGRID_JOB_DIR=" + ShellQuote(dir.string()) + "\n" +
        (where.size() > 1 ? "exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 /bin/sh "
                          : "exec /bin/sh ") +
        ShellQuote((dir / "node.sh").string()) + "\n";
    const std::string node_sh = "case \"$SLURMD_NODENAME\" in\n" + node_case +
                                "esac\n"
                                "export SOVGRID_NODE SOVGRID_NODE_RANK\n"
                                "export SOVGRID_ACCELERATORS=\"$CUDA_VISIBLE_DEVICES\"\n"
                                "/bin/sh " +
                                ShellQuote((dir / "command.sh").string()) +
                                "\n"
                                "s=$?\n"
                                "f=\"$SOVGRID_JOB_DIR/exit-$SLURM_JOB_ID-$SOVGRID_NODE_RANK\"\n"
                                "echo \"$s $SOVGRID_NODE\" > \"$f.tmp\" && mv \"$f.tmp\" \"$f\"\n"
                                "exit $s\n";
    if (Status s = WriteFile(dir / "command.sh", job.command + "\n"); !s.ok()) return s;
    if (Status s = WriteFile(dir / "node.sh", node_sh); !s.ok()) return s;
    if (Status s = WriteFile(dir / "batch.sh", batch); !s.ok()) return s;
    // Logs answer (empty) from the start; Slurm appends to them.
    for (const char* stream : {"stdout", "stderr"}) {
      std::ofstream touch(dir / stream, std::ios::app);
    }
    std::string node_list;
    for (const auto& n : nodes) node_list += (node_list.empty() ? "" : ",") + n;
    std::vector<std::string> argv = {Bin("sbatch"),
                                     "--parsable",
                                     "--job-name=sovgrid-" + tag,
                                     "--comment=" + comment_prefix_ + tag,
                                     "--nodes=" + std::to_string(nodes.size()),
                                     "--nodelist=" + node_list,
                                     "--ntasks-per-node=1",
                                     "--no-requeue",
                                     "--open-mode=append",
                                     "--chdir=" + dir.string(),
                                     "--output=" + SbatchFilename((dir / "stdout").string()),
                                     "--error=" + SbatchFilename((dir / "stderr").string()),
                                     "--export=ALL"};
    if (!mapping->second->partition.empty())
      argv.push_back("--partition=" + mapping->second->partition);
    if (per_node > 0) argv.push_back("--gres=gpu:" + std::to_string(per_node));
    if (whole) argv.emplace_back("--exclusive");
    if (!cl->cfg.account.empty()) argv.push_back("--account=" + cl->cfg.account);
    argv.push_back((dir / "batch.sh").string());
    return Submission{Index(*cl), job.id, tag, site, where.size(), std::move(argv)};
  }

  // What sbatch's answer `r` means for the job: its handle, or why not.
  Result<std::string> Record(const Submission& sub, const ProgramResult& r) {
    Cluster& cl = clusters_[sub.cluster];
    if (r.exit_code != 0) {
      if (Unreachable(r)) {
        // It may have been submitted all the same (a timeout after the
        // controller took it): the reconcile pass cancels it as untracked.
        MarkUnreachable(cl, Complaint(r));
        return IoError("sbatch at site " + sub.site + ": " + Complaint(r));
      }
      return InvalidArgument("sbatch at site " + sub.site + " refused the job: " + Complaint(r));
    }
    std::string id = Trim(r.out);
    id = id.substr(0, id.find(';'));
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
      return IoError("sbatch at site " + sub.site + " printed no job id: '" + Trim(r.out) + "'");
    jobs_[sub.job] = {sub.cluster, id, sub.tag, sub.ranks};
    return "slurm:" + sub.site + ":" + id;
  }

  static std::string NodeName(const std::string& pool, std::size_t i) {
    std::string n = std::to_string(i);
    return pool + "/n" + std::string(n.size() < 5 ? 5 - n.size() : 0, '0') + n;
  }
  // "pool/n00002" -> the mapping's third Slurm node.
  static Result<std::string> SlurmNode(const SlurmPoolMapping& m, const std::string& node) {
    const std::string prefix = m.pool + "/n";
    const std::string digits = node.rfind(prefix, 0) == 0 ? node.substr(prefix.size()) : "";
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      return InvalidArgument("node " + node + " is not a node of pool " + m.pool);
    const auto index = static_cast<std::size_t>(std::stoul(digits));
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

  // Seconds to the next reconcile pass: poll_interval_s while the
  // controller answers; after passes that found it silent, twice as long
  // after each (up to retry_max_interval_s), but never past the moment its
  // site is due to go down.
  double NextPassIn(const Cluster& cl) const {
    if (cl.reachable || cl.silent_passes <= 1) return o_.poll_interval_s;
    double wait = o_.poll_interval_s;
    for (int i = 1; i < cl.silent_passes && wait < o_.retry_max_interval_s; ++i) wait *= 2;
    wait = std::max(o_.poll_interval_s, std::min(wait, o_.retry_max_interval_s));
    if (cl.site_state != "down") {
      const double silent_for =
          std::chrono::duration<double>(Clock::now() - cl.unreachable_since).count();
      wait = std::min(wait, std::max(o_.poll_interval_s, o_.site_down_after_s - silent_for));
    }
    return wait;
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
      ++cl.silent_passes;
      const double down_for =
          std::chrono::duration<double>(Clock::now() - cl.unreachable_since).count();
      if (down_for >= o_.site_down_after_s) {
        SetSite(cl, "down",
                "the Slurm controller has not answered for " +
                    std::to_string(static_cast<long long>(down_for)) + " s: " + cl.last_error);
      }
      return;
    }

    // Jobs: "%i|%T|%k|%r" = id, state, comment, reason.
    const ProgramResult q = RunProgram({Bin("squeue"), "-h", "-t", "all", "-o", "%i|%T|%k|%r"},
                                       cl.env, o_.command_timeout_s);
    if (q.exit_code != 0) {
      if (Unreachable(q)) MarkUnreachable(cl, Complaint(q));
      return;  // nothing is concluded from a failed read
    }
    cl.silent_passes = 0;
    if (!cl.reachable) {
      cl.reachable = true;
      SetSite(cl, "up", "the Slurm controller answers again");
    }
    struct Seen {
      std::string state, tag, reason;
    };
    std::map<std::string, Seen> by_id;
    std::istringstream lines(q.out);
    std::string line;
    while (std::getline(lines, line)) {
      const auto f = Split(line, '|');
      // Only this instance's jobs: another daemon's on the same cluster are its own.
      if (f.size() < 4 || f[2].rfind(comment_prefix_, 0) != 0) continue;
      by_id[f[0]] = {f[1], f[2].substr(comment_prefix_.size()), f[3]};
    }
    std::set<std::string> tracked_ids;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      Tracked& t = it->second;
      if (t.cluster != Index(cl)) {
        ++it;
        continue;
      }
      if (t.slurm_id.empty()) {  // adopted without a handle: known by its tag alone
        for (const auto& [id, seen] : by_id) {
          if (seen.tag == t.tag) t.slurm_id = id;
        }
        if (t.slurm_id.empty()) {
          ended->push_back(
              {it->first, false, true, "Slurm at site " + cl.cfg.site + " never received the job"});
          it = jobs_.erase(it);
          continue;
        }
      }
      auto seen = by_id.find(t.slurm_id);
      // Slurm ids are not unique across controller crashes: the tag must match too.
      if (seen == by_id.end() || seen->second.tag != t.tag) {
        // Slurm forgets a job MinJobAge after it ended (a daemon down that
        // long): if every rank left its exit file, how it ended is known.
        auto from_files = seen == by_id.end() ? OutcomeFromExitFiles(cl, t) : std::nullopt;
        if (from_files) {
          from_files->job = it->first;
          ended->push_back(std::move(*from_files));
          it = jobs_.erase(it);
          continue;
        }
        ended->push_back({it->first, false, true,
                          "Slurm at site " + cl.cfg.site + " no longer knows job " + t.slurm_id});
        it = jobs_.erase(it);
        continue;
      }
      auto outcome = Outcome(cl, t, seen->second.state, seen->second.reason);
      if (!outcome) {
        tracked_ids.insert(t.slurm_id);
        ++it;
        continue;
      }
      outcome->job = it->first;
      ended->push_back(std::move(*outcome));
      it = jobs_.erase(it);
    }
    // Cancels that did not get through, then tagged jobs still active that
    // nobody tracks (left by a daemon that died before it recorded them, or
    // whose sbatch timed out after the controller took them).
    for (auto it = cl.pending_cancels.begin(); it != cl.pending_cancels.end();) {
      auto seen = by_id.find(it->first);
      const bool still = seen != by_id.end() && seen->second.tag == it->second &&
                         !Terminal(seen->second.state) && tracked_ids.count(it->first) == 0;
      if (still && !Cancel(cl, it->first)) return;  // the controller went away again
      it = cl.pending_cancels.erase(it);
    }
    for (const auto& [id, s] : by_id) {
      if (Terminal(s.state) || tracked_ids.count(id) != 0) continue;
      if (!Cancel(cl, id)) {
        cl.pending_cancels[id] = s.tag;
        return;
      }
    }

    // Nodes: one line per node and partition.
    const ProgramResult n =
        RunProgram({Bin("sinfo"), "-h", "-N", "-o", "%N|%t|%E"}, cl.env, o_.command_timeout_s);
    if (n.exit_code != 0) {
      if (Unreachable(n)) MarkUnreachable(cl, Complaint(n));
      return;
    }
    std::map<std::string, std::pair<std::string, std::string>> health;  // node -> state, why
    for (const auto& [slurm, node] : cl.sovgrid_node) {
      health[node] = {"down", "Slurm does not know node " + slurm};
    }
    std::istringstream nodes(n.out);
    while (std::getline(nodes, line)) {
      const auto f = Split(line, '|');
      if (f.size() < 3) continue;
      auto node = cl.sovgrid_node.find(f[0]);
      if (node == cl.sovgrid_node.end()) continue;
      const std::string state = HealthOf(f[1]);
      if (state.empty()) {
        health.erase(node->second);  // no news: keep what was reported
        continue;
      }
      health[node->second] = {
          state, "Slurm node " + f[0] + " is " + f[1] + (f[2] == "none" ? "" : ": " + f[2])};
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
  std::optional<Ended> Outcome(Cluster& cl, const Tracked& t, const std::string& state,
                               const std::string& reason) {
    const std::string& id = t.slurm_id;
    const std::string where = " (Slurm job " + id + " at site " + cl.cfg.site + ")";
    const std::string why = reason.empty() || reason == "None" ? "" : ", reason " + reason;
    if (state == "COMPLETED") return Ended{"", false, false, "exit 0" + where};
    // Ended by no fault of its own: requeue it.
    if (state == "NODE_FAIL" || state == "PREEMPTED" || state == "BOOT_FAIL" || state == "REVOKED")
      return Ended{"", false, true, state + where + why};
    if (!Terminal(state)) return std::nullopt;  // PENDING on its pinned nodes, RUNNING...
    // FAILED, TIMEOUT, CANCELLED (by someone in Slurm), OUT_OF_MEMORY,
    // DEADLINE, SPECIAL_EXIT: the exit status is in "ExitCode=STATUS:SIGNAL".
    std::string how = state;
    const ProgramResult r =
        RunProgram({Bin("scontrol"), "show", "job", "-o", id}, cl.env, o_.command_timeout_s);
    const std::string text = " " + r.out;
    const auto at = text.find(" ExitCode=");  // not DerivedExitCode=
    if (at != std::string::npos) {
      const std::size_t from = at + 10;
      const std::string code = text.substr(from, text.find_first_of(" \n", from) - from);
      const auto colon = code.find(':');
      const std::string status = code.substr(0, colon);
      const std::string signal = colon == std::string::npos ? "0" : code.substr(colon + 1);
      if (state == "FAILED") {
        if (status != "0") {
          how = "exit " + status;
        } else if (signal != "0") {
          how = "killed by signal " + signal;
        }
      } else if (signal != "0") {
        how += ", signal " + signal;
      }
    }
    if (state == "FAILED") {
      // A gang's status is srun's: 143 when a rank exits 3 and srun kills the
      // others. The first rank to end non-zero (node.sh's exit files) says why.
      if (auto first = FirstFailedRank(t); !first.empty()) how = first;
    }
    if (state == "CANCELLED") how = "cancelled in Slurm";
    return Ended{"", true, false, how + where + why};
  }

  // How Slurm job t.slurm_id ended according to the exit files of all its
  // ranks; nothing when one is missing (not ended, or a rank was killed
  // before node.sh could write it).
  std::optional<Ended> OutcomeFromExitFiles(const Cluster& cl, const Tracked& t) const {
    if (t.ranks == 0) return std::nullopt;
    for (std::size_t rank = 0; rank < t.ranks; ++rank) {
      std::error_code ec;
      const fs::path file = JobDir(t.tag) / ("exit-" + t.slurm_id + "-" + std::to_string(rank));
      if (!fs::exists(file, ec)) return std::nullopt;
    }
    const std::string where = " (Slurm job " + t.slurm_id + " at site " + cl.cfg.site +
                              ", read from its exit files: Slurm no longer knows it)";
    const std::string first_failure = FirstFailedRank(t);
    if (first_failure.empty()) return Ended{"", false, false, "exit 0" + where};
    return Ended{"", true, false, first_failure + where};
  }

  // "exit 3 on pool/n00001" for the rank of Slurm job t.slurm_id whose exit
  // file ("STATUS NODE", written by node.sh) is the oldest with a non-zero
  // status; "" when there is none (a rank killed leaves no file).
  std::string FirstFailedRank(const Tracked& t) const {
    const std::string prefix = "exit-" + t.slurm_id + "-";
    std::string best;
    fs::file_time_type best_time{};
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(JobDir(t.tag), ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) != 0 || name.find('.') != std::string::npos) continue;
      std::ifstream in(entry.path());
      int status = 0;
      std::string node;
      if (!(in >> status) || status == 0) continue;
      in >> node;
      const auto when = fs::last_write_time(entry.path(), ec);
      if (ec) continue;
      if (best.empty() || when < best_time) {
        best = "exit " + std::to_string(status) + (node.empty() ? "" : " on " + node);
        best_time = when;
      }
    }
    return best;
  }

  SlurmBackendOptions o_;  // instance is set
  const model::Scenario& scenario_;
  const std::string comment_prefix_;  // "sovgrid:INSTANCE:", then the job's tag
  std::vector<Cluster> clusters_;
  std::map<std::string, Tracked> jobs_;  // sovgrid id -> its Slurm job
  std::vector<HealthChange> health_;     // not yet taken by Health()
};

// The instance name kept in `path`, made (12 random hex digits) and written
// there on first use, so that a restarted daemon knows its own jobs again.
Result<std::string> KeptInstance(const fs::path& path) {
  std::string name;
  if (std::ifstream in(path); in && std::getline(in, name)) {
    name = Trim(name);
    if (!IsValidSlurmInstance(name))
      return InvalidArgument(path.string() + ": not an instance name");
    return name;
  }
  std::ifstream random("/dev/urandom", std::ios::binary);
  unsigned char bytes[6] = {};
  if (!random.read(reinterpret_cast<char*>(bytes), sizeof bytes))
    return IoError("cannot read /dev/urandom");
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : bytes) {
    name += kHex[b >> 4];
    name += kHex[b & 15];
  }
  if (Status s = WriteFileAtomically(path.string(), name + "\n"); !s.ok()) return s;
  return name;
}

}  // namespace

bool IsValidSlurmInstance(const std::string& name) {
  return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

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
          return InvalidArgument(std::string("malformed range '")
                                     .append(range)
                                     .append("' in host list '" + list + "'"));
        const long a = std::stol(lo), b = std::stol(hi);
        if (b < a || b - a > 100000)
          return InvalidArgument(
              std::string("bad range '").append(range).append("' in host list '" + list + "'"));
        for (long v = a; v <= b; ++v) {
          std::string digits = std::to_string(v);
          if (digits.size() < lo.size()) digits.insert(0, lo.size() - digits.size(), '0');
          std::string host = prefix;
          host.append(digits).append(suffix);
          out.push_back(std::move(host));
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
  if (!(options.poll_interval_s >= 0) || !(options.site_down_after_s >= 0) ||
      !(options.command_timeout_s > 0) || options.submit_workers < 1 ||
      !(options.retry_max_interval_s >= options.poll_interval_s))
    return InvalidArgument(
        "slurm backend: poll_interval_s and site_down_after_s must be >= 0, command_timeout_s > 0, "
        "submit_workers >= 1, retry_max_interval_s >= poll_interval_s");
  std::set<std::string> sites;
  for (const auto& c : options.clusters) {
    const std::string what = "slurm backend: cluster of site '" + c.site + "'";
    if (!sites.insert(c.site).second) return InvalidArgument(what + " is configured twice");
    const bool known = std::any_of(scenario.sites.begin(), scenario.sites.end(),
                                   [&](const model::Site& s) { return s.id == c.site; });
    if (!known) return InvalidArgument(what + ": no such site in the scenario");
    if (c.slurm_conf.empty()) return InvalidArgument(what + ": slurm_conf is empty");
    std::set<std::string> pools;
    for (const auto& m : c.pools) {
      const int index = scenario.FindPool(m.pool);
      if (index < 0) return InvalidArgument(what + ": no pool '" + m.pool + "' in the scenario");
      const model::Pool& pool = scenario.pools[static_cast<std::size_t>(index)];
      if (pool.site != c.site)
        return InvalidArgument(what + ": pool '" + m.pool + "' is at site '" + pool.site + "'");
      if (!pools.insert(m.pool).second)
        return InvalidArgument(what + ": pool '" + m.pool + "' is mapped twice");
      if (static_cast<int>(m.nodes.size()) != pool.nodes)
        return InvalidArgument(what + ": pool '" + m.pool + "' has " + std::to_string(pool.nodes) +
                               " nodes, its mapping names " + std::to_string(m.nodes.size()) +
                               " Slurm nodes");
      if (std::set<std::string>(m.nodes.begin(), m.nodes.end()).size() != m.nodes.size())
        return InvalidArgument(what + ": pool '" + m.pool + "' names a Slurm node twice");
    }
  }
  std::error_code ec;
  fs::create_directories(fs::path(options.dir) / "jobs", ec);
  if (ec) return IoError("cannot create " + options.dir + "/jobs: " + ec.message());
  SlurmBackendOptions o = options;
  if (o.instance.empty()) {
    auto kept = KeptInstance(fs::path(o.dir) / "instance");
    if (!kept.ok()) return kept.status();
    o.instance = std::move(kept).value();
  }
  if (!IsValidSlurmInstance(o.instance))
    return InvalidArgument("slurm backend: instance '" + o.instance +
                           "': expected 1-32 of A-Z a-z 0-9 . _ -");
  return std::unique_ptr<ExecutionBackend>(std::make_unique<SlurmBackend>(std::move(o), scenario));
}

}  // namespace sovgrid::backends
