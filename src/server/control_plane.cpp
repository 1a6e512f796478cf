#include "server/control_plane.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/json_limits.h"
#include "sched/cycle_plan.h"
#include "server/job_json.h"

namespace sovgrid::server {
namespace {

using model::Time;

}  // namespace

ControlPlane::ControlPlane(const model::Scenario& scenario, store::Store* store,
                           std::unique_ptr<ExecutionBackend> backend,
                           std::unique_ptr<sched::Scheduler> s)
    : scenario_(scenario), store_(store), backend_(std::move(backend)), scheduler_(std::move(s)) {}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Open(const model::Scenario& scenario,
                                                         store::Store* store,
                                                         std::unique_ptr<ExecutionBackend> backend,
                                                         Time now) {
  auto scheduler =
      sched::Scheduler::Create(scenario, sched::SchedulerConfig::FromPolicies(scenario.policies));
  if (!scheduler.ok()) return scheduler.status();
  std::unique_ptr<ControlPlane> cp(
      new ControlPlane(scenario, store, std::move(backend), std::move(scheduler).value()));
  auto settings = store->ListSettings();
  if (!settings.ok()) return settings.status();
  {
    std::lock_guard lock(cp->mu_);
    for (const auto& [key, value] : *settings) {
      // A setting the scenario no longer admits (a node removed) is skipped.
      (void)cp->ApplySetting(key, value, now);
      cp->settings_[key] = value;
    }
  }
  {
    std::lock_guard lock(cp->mu_);
    if (Status s = cp->Restore(now); !s.ok()) return s;
  }
  return cp;
}

Status ControlPlane::Restore(Time now) {
  auto active = store_->ActiveJobs();
  if (!active.ok()) return active.status();
  std::vector<store::JobUpdate> updates;
  for (const auto& record : *active) {
    model::Job job;
    JobProblems problems = JobFromJsonText(record.spec_json, &job);
    if (problems.ok() && job.tenant != record.tenant)
      problems.messages.push_back("$.tenant: differs from the job's record");
    job.id = record.id;  // the spec keeps the tenant's name; the scheduler gets the key
    if (!problems.ok()) {
      updates.push_back({record.id, "failed", now,
                         "not restored after restart: stored spec: " + problems.ToString(), "",
                         ""});
      continue;
    }
    if (record.state == "running") {
      // Keep the allocation and the running work if both sides can.
      auto assignment = AssignmentFromJson(record.assignment_json);
      Status adopted = assignment.ok() ? scheduler_->Adopt(job, *assignment, record.updated_at, now)
                                       : assignment.status();
      if (adopted.ok()) {
        adopted =
            backend_->Adopt(job, Placement(*assignment), record.updated_at, record.backend_ref);
        if (adopted.ok()) continue;
        (void)scheduler_->Cancel(job.id, now);
      }
      if (Status s = scheduler_->Submit(job); !s.ok()) {
        updates.push_back(
            {record.id, "failed", now, "not restored after restart: " + s.message(), "", ""});
        continue;
      }
      updates.push_back({record.id, "pending", now,
                         "requeued after the daemon restarted: " + adopted.message(), "", ""});
      continue;
    }
    if (Status s = scheduler_->Submit(job); !s.ok()) {
      // The scenario changed under it (a tenant or model removed): it can never run.
      updates.push_back(
          {record.id, "failed", now, "not restored after restart: " + s.message(), "", ""});
    }
  }
  return store_->UpdateJobs(updates);
}

Result<std::vector<std::string>> ControlPlane::Submit(std::vector<model::Job> jobs, Time now,
                                                      std::optional<store::AuditEntry> audit) {
  // Validated against the scenario without mu_ (a cycle may hold it for a
  // while); the scheduler takes the jobs from the inbox once they are durable.
  Queued q;
  q.records.reserve(jobs.size());
  std::vector<std::string> ids;
  ids.reserve(jobs.size());
  std::unordered_set<std::string> in_batch;
  auto where = [&](std::size_t i) {
    return jobs.size() == 1 ? std::string("job") : "jobs[" + std::to_string(i) + "]";
  };
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    model::Job& job = jobs[i];
    job.submit_time = now;
    const std::string name = job.id;
    Status s = CheckJobName(name);
    if (s.ok()) s = sched::ValidateJob(scenario_, job);
    if (s.ok()) s = backend_->Accepts(job);  // reads the job only: safe without mu_
    if (s.ok() && !in_batch.insert(name).second)
      s = AlreadyExists("job '" + name + "' already exists");
    if (!s.ok()) return Status(s.code(), where(i) + " (id " + name + "): " + s.message());
    store::StoredJob r;
    r.id = JobKey(job.tenant, name);
    r.name = name;
    r.tenant = job.tenant;
    r.spec_json = JobToJson(job);  // with the tenant's name, as submitted
    r.state = "pending";
    r.submitted_at = now;
    r.reason = "submitted";
    job.id = r.id;
    ids.push_back(r.id);
    q.records.push_back(std::move(r));
  }
  // Ids are unique: claimed here against concurrent submissions (a claim is
  // released only after its commit, so one of two submissions of an id
  // always sees the other), and the store refuses an id it holds already.
  {
    std::lock_guard lock(commit_mu_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (in_flight_.count(ids[i]) == 0) continue;
      const std::string name(JobNameOfKey(ids[i]));
      return Status(StatusCode::kAlreadyExists,
                    where(i) + " (id " + name + "): job '" + name + "' already exists");
    }
    in_flight_.insert(ids.begin(), ids.end());
  }
  q.jobs = std::move(jobs);
  if (audit) q.audit.push_back(std::move(*audit));
  std::unique_lock lock(commit_mu_);
  q.ticket = ++enqueued_;
  const std::uint64_t ticket = q.ticket;
  commit_queue_.push_back(std::move(q));
  if (Status s = CommitUpTo(ticket, lock); !s.ok()) {
    // The store refused an id it holds already (not looked up before the
    // commit: a round trip per request on a database server; a group with a
    // duplicate is committed submission by submission, see CommitUpTo):
    // which one, in the submission's terms.
    lock.unlock();
    if (s.code() != StatusCode::kAlreadyExists) return s;
    auto existing = store_->ExistingJobIds(ids);
    if (!existing.ok() || existing->empty()) return s;
    const auto i = static_cast<std::size_t>(std::find(ids.begin(), ids.end(), existing->front()) -
                                            ids.begin());
    const std::string name(JobNameOfKey(ids[i]));
    return Status(StatusCode::kAlreadyExists,
                  where(i) + " (id " + name + "): job '" + name + "' already exists");
  }
  submitted_ += ids.size();
  return ids;
}

Status ControlPlane::CommitUpTo(std::uint64_t ticket, std::unique_lock<std::mutex>& lock) {
  while (committed_ < ticket) {
    if (committing_) {
      committed_cv_.wait(lock);
      continue;
    }
    // Lead: commit everything queued so far in one transaction.
    committing_ = true;
    std::vector<Queued> group;
    group.swap(commit_queue_);
    const std::uint64_t upto = enqueued_;
    lock.unlock();
    std::vector<Status> results(group.size());
    {
      std::vector<store::StoredJob> records;
      std::vector<store::AuditEntry> audit;
      for (const auto& q : group) {
        records.insert(records.end(), q.records.begin(), q.records.end());
        audit.insert(audit.end(), q.audit.begin(), q.audit.end());
      }
      const Status s = store_->AddJobs(records, audit);
      if (s.code() == StatusCode::kAlreadyExists && group.size() > 1) {
        // An id committed between a submission's check and now (a race of
        // two submissions of one id): each submission on its own, so that
        // only that one fails.
        for (std::size_t i = 0; i < group.size(); ++i)
          results[i] = store_->AddJobs(group[i].records, group[i].audit);
      } else {
        std::fill(results.begin(), results.end(), s);
      }
      (void)NoteCommit(s.code() == StatusCode::kAlreadyExists ? Status::Ok() : s);
    }
    lock.lock();
    for (std::size_t i = 0; i < group.size(); ++i) {
      Queued& q = group[i];
      for (const auto& r : q.records) in_flight_.erase(r.id);
      if (results[i].ok()) {
        for (auto& job : q.jobs) inbox_.push_back(std::move(job));
      } else {
        failed_commits_.emplace(q.ticket, results[i]);
      }
    }
    committed_ = upto;
    committing_ = false;
    committed_cv_.notify_all();
  }
  if (auto it = failed_commits_.find(ticket); it != failed_commits_.end()) {
    Status error = it->second;
    failed_commits_.erase(it);
    return error;
  }
  return Status::Ok();
}

void ControlPlane::AdoptCommitted(Time now, std::vector<store::JobUpdate>* updates) {
  std::vector<model::Job> jobs;
  {
    std::lock_guard lock(commit_mu_);
    jobs.swap(inbox_);
  }
  for (auto& job : jobs) {
    const std::string id = job.id;
    // Validated before the commit and unique in the store: cannot fail unless
    // the scenario and the scheduler disagree. The job is then failed, visibly.
    if (Status s = scheduler_->Submit(std::move(job)); !s.ok()) {
      ++counters_.failed;
      updates->push_back(
          {id, "failed", now, "not accepted by the scheduler: " + s.message(), "", ""});
    }
  }
}

Status ControlPlane::Cancel(const std::string& id, Time now,
                            std::optional<store::AuditEntry> audit) {
  Status s = CancelInScheduler(id, now, std::move(audit));
  if (s.ok()) StopCancelled();
  return s;
}

Status ControlPlane::CancelInScheduler(const std::string& id, Time now,
                                       std::optional<store::AuditEntry> audit) {
  std::lock_guard lock(mu_);
  {
    // A job just committed may still be on its way to the inbox: let that
    // commit finish, then take the inbox into the scheduler.
    std::unique_lock commit_lock(commit_mu_);
    committed_cv_.wait(commit_lock, [&] { return !committing_; });
  }
  AdoptCommitted(now, &unflushed_);
  // What the scheduler holds is what the store must hold before a change.
  if (Status s = Flush(now); !s.ok()) return s;
  if (!scheduler_->Job(id).ok()) {
    auto record = store_->GetJob(id);
    if (!record.ok()) return record.status();
    return FailedPrecondition("job '" + std::string(JobNameOfKey(id)) + "' already " +
                              record->state);
  }
  // Committed first: a cancellation the store did not take changes nothing.
  std::vector<store::AuditEntry> entries;
  if (audit) entries.push_back(std::move(*audit));
  const Status committed = NoteCommit(
      store_->UpdateJobs({{id, "cancelled", now, "cancelled by request", "", ""}}, entries));
  if (!committed.ok()) return committed;
  if (Status s = scheduler_->Cancel(id, now); !s.ok()) return s;
  ++counters_.cancelled;
  pending_stops_.push_back(id);
  return Status::Ok();
}

void ControlPlane::StopCancelled() {
  // Never waits for a backend call in progress: a tick holding the backend
  // stops the job itself when its call returns (or at its next start).
  std::unique_lock backend(backend_mu_, std::try_to_lock);
  if (backend.owns_lock()) StopPendingLocked();
}

void ControlPlane::StopPendingLocked() {
  std::vector<std::string> stops;
  {
    std::lock_guard lock(mu_);
    stops.swap(pending_stops_);
  }
  for (const auto& id : stops) backend_->Stop(id);
}

Result<JobInfo> ControlPlane::Job(const std::string& id) {
  auto record = store_->GetJob(id);
  if (!record.ok()) return record.status();
  JobInfo info;
  info.record = std::move(record).value();
  auto history = store_->JobHistory(id);
  if (!history.ok()) return history.status();
  info.history = std::move(history).value();
  if (info.record.state == "pending") {
    std::lock_guard lock(mu_);
    auto why = scheduler_->Explain(id);
    info.pending_reason = why.ok() ? *why : "submitted; the next scheduling cycle considers it";
  }
  return info;
}

std::string ControlPlane::AssignmentJson(const std::vector<sched::NodeAssignment>& a) const {
  nlohmann::json out = nlohmann::json::array();
  const sched::GridState& grid = scheduler_->grid();
  for (const auto& part : a) {
    nlohmann::json accels = nlohmann::json::array();
    const auto first = grid.node(part.node).first_accel;
    for (auto x : part.accelerators) accels.push_back(x - first);
    out.push_back({{"node", grid.NodeName(part.node)},
                   {"accelerators", accels},
                   {"share", static_cast<double>(part.milli_per_accelerator) / 1000.0}});
  }
  return out.dump();
}

Result<std::vector<sched::NodeAssignment>> ControlPlane::AssignmentFromJson(
    const std::string& text) const {
  const nlohmann::json j = ParseJsonBounded(text).value_or(nlohmann::json());
  if (!j.is_array() || j.empty())
    return InvalidArgument("stored assignment is not a list of parts");
  const sched::GridState& grid = scheduler_->grid();
  std::vector<sched::NodeAssignment> out;
  for (const auto& part : j) {
    if (!part.is_object() || !part.contains("node") || !part["node"].is_string() ||
        !part.contains("accelerators") || !part["accelerators"].is_array() ||
        !part.contains("share") || !part["share"].is_number())
      return InvalidArgument("stored assignment part is malformed: " + part.dump());
    auto node = grid.FindNode(part["node"].get<std::string>());
    if (!node.ok()) return node.status();
    sched::NodeAssignment a;
    a.node = *node;
    const auto& info = grid.node(*node);
    for (const auto& x : part["accelerators"]) {
      if (!x.is_number_integer() || x.get<int>() < 0 || x.get<int>() >= info.accel_count)
        return InvalidArgument("stored assignment names an accelerator outside " +
                               part["node"].get<std::string>());
      a.accelerators.push_back(info.first_accel + x.get<sched::AccelId>());
    }
    a.milli_per_accelerator =
        static_cast<model::Milli>(std::lround(part["share"].get<double>() * 1000.0));
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<backends::PlacedPart> ControlPlane::Placement(
    const std::vector<sched::NodeAssignment>& a) const {
  const sched::GridState& grid = scheduler_->grid();
  std::vector<backends::PlacedPart> out;
  for (const auto& part : a) {
    const auto& info = grid.node(part.node);
    backends::PlacedPart p;
    p.node = grid.NodeName(part.node);
    p.pool = scenario_.pools[info.pool].id;
    p.site = scenario_.pools[info.pool].site;
    for (auto x : part.accelerators)
      p.accelerators.push_back(static_cast<int>(x - info.first_accel));
    p.share = static_cast<double>(part.milli_per_accelerator) / 1000.0;
    out.push_back(std::move(p));
  }
  return out;
}

Status ControlPlane::Requeue(const model::Job& spec, Time now) {
  const model::Job job = spec;  // the scheduler's copy goes with Cancel
  if (Status s = scheduler_->Cancel(job.id, now); !s.ok()) return s;
  return scheduler_->Submit(job);
}

Result<std::string> ControlPlane::Logs(const std::string& id, std::string_view stream,
                                       std::size_t offset, std::size_t limit) {
  auto record = store_->GetJob(id);
  if (!record.ok()) return record.status();
  std::lock_guard backend(backend_mu_);
  return backend_->Logs(id, stream, offset, limit);
}

Status ControlPlane::NoteCommit(const Status& s) {
  std::lock_guard lock(health_mu_);
  if (s.ok()) {
    store_health_.ok = true;
    store_health_.error.clear();
  } else if (s.code() == StatusCode::kIoError) {
    store_health_.ok = false;
    // The store's message names its file; what callers see does not.
    const std::string& m = s.message();
    const auto cannot = m.find("cannot ");
    store_health_.error = cannot == std::string::npos ? "the store failed" : m.substr(cannot);
    ++store_health_.failed_commits;
  }
  return s;
}

StoreHealth ControlPlane::store_health() {
  std::lock_guard lock(health_mu_);
  return store_health_;
}

Status ControlPlane::Flush(Time now) {
  // Handles first: they concern jobs whose running state is committed.
  if (!unflushed_refs_.empty()) {
    const Status s = NoteCommit(store_->RecordBackendRefs(unflushed_refs_));
    if (!s.ok()) return s;
    unflushed_refs_.clear();
  }
  constexpr std::size_t kUpdatesPerTransaction = 256;
  std::size_t done = 0;
  Status status;
  while (done < unflushed_.size()) {
    if (done > 0) {
      // A submission's group commit in progress goes first: a cycle that
      // starts thousands of jobs does not hold the store's writer for a
      // submission's whole p99 budget.
      std::unique_lock commit_lock(commit_mu_);
      const std::uint64_t target = enqueued_;
      if (committing_) committed_cv_.wait(commit_lock, [&] { return committed_ >= target; });
    }
    const std::size_t to = std::min(unflushed_.size(), done + kUpdatesPerTransaction);
    status = NoteCommit(store_->UpdateJobs(
        std::vector<store::JobUpdate>(unflushed_.begin() + static_cast<std::ptrdiff_t>(done),
                                      unflushed_.begin() + static_cast<std::ptrdiff_t>(to))));
    if (!status.ok()) break;
    done = to;
  }
  unflushed_.erase(unflushed_.begin(), unflushed_.begin() + static_cast<std::ptrdiff_t>(done));
  if (!status.ok()) return status;
  // Nothing was waiting, but the last commit failed: has the store come back?
  if (done == 0 && !store_health().ok) return NoteCommit(store_->Probe(now));
  return Status::Ok();
}

Status ControlPlane::Tick(Time now) {
  // One tick at a time. The backend (which may wait on a site for seconds) is
  // called with backend_mu_ only, never under mu_: API calls that need the
  // scheduler wait for the scheduler's own work and the store, not for sites.
  std::lock_guard tick(tick_mu_);
  std::vector<backends::Ended> ended;
  std::vector<backends::HealthChange> health;
  {
    std::lock_guard backend(backend_mu_);
    StopPendingLocked();
    ended = backend_->Poll(now);
    health = backend_->Health(now);
  }

  // Under mu_: what the backend saw, the cycle, and the commit of its effects.
  const sched::CycleResult cycle = [&] {
    std::lock_guard lock(mu_);
    return ObserveAndSchedule(ended, health, now);
  }();
  TickStarts starts;
  {
    std::lock_guard lock(mu_);
    if (Status s = CommitCycle(cycle, now, &starts); !s.ok()) return s;
  }

  // The releases reach the backend before the starts that may need their
  // accelerators; the starts go to it together (StartAll may run them
  // concurrently).
  std::vector<Result<std::string>> handles;
  {
    std::lock_guard backend(backend_mu_);
    for (const auto& id : starts.stops) backend_->Stop(id);
    std::vector<backends::StartRequest> requests;
    requests.reserve(starts.jobs.size());
    for (std::size_t i = 0; i < starts.jobs.size(); ++i)
      requests.push_back({&starts.jobs[i], starts.placements[i]});
    handles = backend_->StartAll(requests, now);
    // Jobs cancelled while their start was on its way are stopped now.
    StopPendingLocked();
  }

  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < starts.decisions.size(); ++i) {
    const sched::Decision& d = *starts.decisions[i];
    auto& handle = handles[i];
    auto view = scheduler_->Job(d.job);
    if (!view.ok()) {
      // Cancelled meanwhile: its cancellation is committed and it was stopped above.
      continue;
    }
    if (!handle.ok() && handle.status().code() == StatusCode::kIoError) {
      // Worth another try (a site's scheduler did not answer): back in the queue.
      if (Status s = Requeue(*view->spec, now); !s.ok()) return s;
      unflushed_.push_back(
          {d.job, "pending", now,
           "requeued: " + std::string(backend_->name()) + ": " + handle.status().message(), "",
           ""});
      continue;
    }
    if (!handle.ok()) {
      (void)scheduler_->Fail(d.job, now);
      ++counters_.failed;
      unflushed_.push_back({d.job, "failed", now,
                            std::string(backend_->name()) + ": " + handle.status().message(), "",
                            ""});
      continue;
    }
    ++counters_.started;
    unflushed_refs_.emplace_back(d.job, *handle);
  }
  const Status after = Flush(now);
  return starts.flushed.ok() ? after : starts.flushed;
}

sched::CycleResult ControlPlane::ObserveAndSchedule(
    const std::vector<backends::Ended>& ended, const std::vector<backends::HealthChange>& health,
    Time now) {
  // Submissions committed so far join the scheduler (only committed ones are
  // in the inbox: no cycle starts a job that is not durable).
  AdoptCommitted(now, &unflushed_);
  for (const auto& e : ended) {
    // An ended job keeps where it ran, for the record.
    auto view = scheduler_->Job(e.job);
    if (!view.ok()) continue;  // cancelled meanwhile
    const std::string where = view->assignment != nullptr ? AssignmentJson(*view->assignment) : "";
    if (e.lost) {
      // Not the job's fault: it waits for another placement.
      if (Status s = Requeue(*view->spec, now); !s.ok()) continue;
      unflushed_.push_back({e.job, "pending", now, "requeued: " + e.message, "", ""});
      continue;
    }
    Status s = e.failed ? scheduler_->Fail(e.job, now) : scheduler_->Finish(e.job, now);
    if (!s.ok()) continue;  // cancelled meanwhile
    ++(e.failed ? counters_.failed : counters_.finished);
    unflushed_.push_back({e.job, e.failed ? "failed" : "finished", now, e.message, where, ""});
  }
  for (const auto& h : health) {
    const std::string key =
        (h.kind == backends::HealthChange::Kind::kNode ? "node:" : "site:") + h.name;
    // The daemon's log says what the backend saw and why.
    const Status s = ApplyHealth(key, &backend_health_, h.state, now);
    if (h.state == "up") {
      backend_health_reason_.erase(key);
    } else {
      backend_health_reason_[key] = h.reason;
    }
    std::fprintf(stderr, "sovgrid: %s backend: %s %s: %s\n", std::string(backend_->name()).c_str(),
                 key.c_str(), h.state.c_str(), s.ok() ? h.reason.c_str() : s.message().c_str());
  }
  // Nothing new starts until everything observed so far is on disk: with the
  // store failing, the cycle waits (the ends stay in unflushed_).
  if (Status s = Flush(now); !s.ok()) {
    flush_failed_ = s;
    return {};
  }
  flush_failed_ = Status::Ok();
  const auto started = std::chrono::steady_clock::now();
  sched::CycleResult cycle = scheduler_->RunCycle(now);
  counters_.last_cycle_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  ++counters_.cycles;
  return cycle;
}

Status ControlPlane::CommitCycle(const sched::CycleResult& cycle, Time now, TickStarts* out) {
  if (!flush_failed_.ok()) return flush_failed_;
  // The cycle's effects by the rule the twin applies too (sched::PlanCycle):
  // a start preempted within its own cycle is not started at all.
  const sched::CyclePlan plan = sched::PlanCycle(cycle);
  for (const sched::Decision* stop : plan.stops) {
    const sched::Decision& d = *stop;
    out->stops.push_back(d.job);
    if (d.kind == sched::Decision::Kind::kPreempt) ++counters_.preempted;
    std::string why = d.reason;
    if (auto view = scheduler_->Job(d.job); view.ok() && view->last_start >= 0) {
      const model::Duration ran = now - view->last_start;
      const model::Duration ckpt = view->spec->checkpoint_interval_s;
      why += "; " + std::to_string(ckpt > 0 ? ran % ckpt : ran) +
             " s of work since its last checkpoint lost";
    }
    unflushed_.push_back({d.job, "pending", now, why, "", ""});
  }
  std::vector<const sched::Decision*> starts;
  std::vector<model::Job> remaining;  // what is left to run of each start
  for (const sched::Decision* start : plan.starts) {
    auto view = scheduler_->Job(start->job);
    if (!view.ok()) continue;
    // A job requeued after checkpoints resumes from the last one.
    model::Job job = *view->spec;
    if (job.runtime_estimate_s > 0 && view->progress_s > 0)
      job.runtime_estimate_s =
          std::max<model::Duration>(1, job.runtime_estimate_s - view->progress_s);
    starts.push_back(start);
    remaining.push_back(std::move(job));
  }
  // The releases (ends, preemptions) are committed before the starts, and the
  // starts before anything runs: whatever prefix is on disk after a crash
  // never shows a started job on accelerators whose previous job is still
  // running, and never misses a job that runs.
  Status flushed = Flush(now);
  std::size_t committed_starts = 0;
  if (flushed.ok()) {
    for (const sched::Decision* d : starts) {
      unflushed_.push_back({d->job, "running", now, d->reason, AssignmentJson(d->assignment), ""});
    }
    flushed = Flush(now);
    committed_starts = starts.size() - std::min(starts.size(), unflushed_.size());
    // The starts the store did not take never happen: back in the queue, and
    // out of unflushed_ (the store still has them pending).
    unflushed_.clear();
  }
  for (std::size_t i = committed_starts; i < starts.size(); ++i) {
    auto view = scheduler_->Job(starts[i]->job);
    if (view.ok()) (void)Requeue(*view->spec, now);
  }
  starts.resize(committed_starts);
  remaining.resize(committed_starts);
  for (const sched::Decision* d : starts) out->placements.push_back(Placement(d->assignment));
  out->decisions = std::move(starts);
  out->jobs = std::move(remaining);
  out->flushed = flushed;
  return Status::Ok();
}

namespace {

Result<sched::NodeHealth> ParseNodeHealth(const std::string& s) {
  if (s == "up") return sched::NodeHealth::kUp;
  if (s == "draining") return sched::NodeHealth::kDraining;
  if (s == "down") return sched::NodeHealth::kDown;
  return InvalidArgument("state: expected up, draining or down, found '" + s + "'");
}

nlohmann::json AmountsJson(const model::ClassAmounts& a) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : a) out[k] = v;
  return out;
}

nlohmann::json GrantsJson(const std::vector<model::Grant>& grants) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& g : grants) {
    out.push_back({{"id", g.id},
                   {"accelerator_hours", g.accelerator_hours},
                   {"valid_from", g.valid_from},
                   {"valid_until", g.valid_until},
                   {"quota_class", g.quota_class}});
  }
  return out;
}

}  // namespace

Result<model::ClassAmounts> ClassAmountsFromJson(const nlohmann::json& j,
                                                 const std::string& field) {
  model::ClassAmounts out;
  if (j.is_null()) return out;
  if (!j.is_object()) return InvalidArgument(field + ": expected an object of class: accelerators");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
        v.get<std::int64_t>() > 1'000'000'000)
      return InvalidArgument(std::string(field).append(".").append(k).append(
          ": expected an integer in 0..1000000000"));
    out[k] = v.get<std::int64_t>();
  }
  return out;
}

Result<std::vector<model::Grant>> GrantsFromJson(const nlohmann::json& j) {
  if (!j.is_array()) return InvalidArgument("$.grants: expected an array");
  std::vector<model::Grant> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& g = j[i];
    const std::string at = "$.grants[" + std::to_string(i) + "]";
    if (!g.is_object()) return InvalidArgument(at + ": expected an object");
    for (const auto& [k, v] : g.items()) {
      if (k != "id" && k != "accelerator_hours" && k != "valid_from" && k != "valid_until" &&
          k != "quota_class")
        return InvalidArgument(std::string(at).append(".").append(k).append(": unknown field"));
    }
    model::Grant grant;
    if (!g.contains("id") || !g["id"].is_string() || g["id"].get<std::string>().empty())
      return InvalidArgument(at + ".id: expected a non-empty string");
    grant.id = g["id"];
    if (!g.contains("accelerator_hours") || !g["accelerator_hours"].is_number() ||
        g["accelerator_hours"].get<double>() < 0 || g["accelerator_hours"].get<double>() > 1e12)
      return InvalidArgument(at + ".accelerator_hours: expected a number in 0..1e12");
    grant.accelerator_hours = g["accelerator_hours"];
    for (const char* f : {"valid_from", "valid_until"}) {
      if (!g.contains(f) || !g[f].is_number_integer() || g[f].get<std::int64_t>() < 0)
        return InvalidArgument(at + "." + f + ": expected seconds since the Unix epoch");
    }
    grant.valid_from = g["valid_from"];
    grant.valid_until = g["valid_until"];
    if (grant.valid_until <= grant.valid_from)
      return InvalidArgument(at + ".valid_until: expected a time after valid_from");
    if (g.contains("quota_class")) {
      if (!g["quota_class"].is_string())
        return InvalidArgument(at + ".quota_class: expected a string");
      grant.quota_class = g["quota_class"];
    }
    out.push_back(grant);
  }
  return out;
}

Status ControlPlane::ApplySetting(const std::string& key, const std::string& value_json, Time now) {
  const auto colon = key.find(':');
  if (colon == std::string::npos) return InvalidArgument("setting '" + key + "': no kind");
  const std::string kind = key.substr(0, colon), name = key.substr(colon + 1);
  const nlohmann::json v = ParseJsonBounded(value_json).value_or(nlohmann::json());
  if (!v.is_object()) return InvalidArgument("setting '" + key + "': not an object");
  if (kind == "node" || kind == "site") {
    const std::string state = v.value("state", "");
    if (kind == "node") {
      if (auto h = ParseNodeHealth(state); !h.ok()) return h.status();
    } else if (!model::ParseSiteState(state)) {
      return InvalidArgument("state: expected up, draining or down, found '" + state + "'");
    }
    return ApplyHealth(key, &admin_health_, state, now);
  }
  if (kind == "quota") {
    auto g = ClassAmountsFromJson(v.value("guarantee", nlohmann::json()), "$.guarantee");
    auto b = ClassAmountsFromJson(v.value("borrow_limit", nlohmann::json()), "$.borrow_limit");
    auto l = ClassAmountsFromJson(v.value("lend_limit", nlohmann::json()), "$.lend_limit");
    for (const auto* r : {&g, &b, &l}) {
      if (!r->ok()) return r->status();
    }
    return scheduler_->SetQuota(name, *g, *b, *l);
  }
  if (kind == "grants") {
    auto grants = GrantsFromJson(v.value("grants", nlohmann::json()));
    if (!grants.ok()) return grants.status();
    return scheduler_->SetGrants(name, std::move(grants).value());
  }
  return InvalidArgument("setting '" + key + "': unknown kind");
}

namespace {
int Severity(const std::string& state) { return state == "down" ? 2 : state == "draining" ? 1 : 0; }
}  // namespace

Status ControlPlane::ApplyHealth(const std::string& key, std::map<std::string, std::string>* from,
                                 const std::string& state, Time now) {
  const auto colon = key.find(':');
  const std::string kind = key.substr(0, colon), name = key.substr(colon + 1);
  // Validate the name before anything is recorded.
  if (kind == "node" && !scheduler_->grid().FindNode(name).ok())
    return NotFound("node '" + name + "' not found");
  if (kind == "site" && scenario_.FindSite(name) < 0)
    return NotFound("site '" + name + "' not found");
  (*from)[key] = state;
  // What the scheduler gets is the worse of the administrators' and the backend's view.
  const std::string& a = admin_health_.count(key) != 0 ? admin_health_[key] : "up";
  const std::string& b = backend_health_.count(key) != 0 ? backend_health_[key] : "up";
  const std::string& effective = Severity(a) >= Severity(b) ? a : b;
  if (kind == "node") return scheduler_->SetNodeHealth(name, *ParseNodeHealth(effective), now);
  return scheduler_->SetSiteState(name, *model::ParseSiteState(effective), now);
}

std::string ControlPlane::DefaultSetting(const std::string& key) const {
  const auto colon = key.find(':');
  const std::string kind = key.substr(0, colon), name = key.substr(colon + 1);
  if (kind == "node" || kind == "site") return nlohmann::json({{"state", "up"}}).dump();
  const int t = scenario_.FindTenant(name);
  if (t < 0) return "{}";
  const model::Tenant& tenant = scenario_.tenants[static_cast<std::size_t>(t)];
  if (kind == "quota") {
    return nlohmann::json({{"guarantee", AmountsJson(tenant.guarantee)},
                           {"borrow_limit", AmountsJson(tenant.borrow_limit)},
                           {"lend_limit", AmountsJson(tenant.lend_limit)}})
        .dump();
  }
  return nlohmann::json({{"grants", GrantsJson(tenant.grants)}}).dump();
}

Status ControlPlane::ChangeSetting(const std::string& key, const std::string& value, Time now,
                                   Audit audit) {
  if (Status s = ApplySetting(key, value, now); !s.ok()) return s;
  std::vector<store::AuditEntry> entries;
  if (audit) entries.push_back(std::move(*audit));
  const Status committed = NoteCommit(store_->PutSetting(key, value, entries));
  if (!committed.ok()) {
    // Undone: the scheduler keeps what the store has.
    const auto it = settings_.find(key);
    (void)ApplySetting(key, it != settings_.end() ? it->second : DefaultSetting(key), now);
    return committed;
  }
  settings_[key] = value;
  return Status::Ok();
}

Status ControlPlane::SetNodeState(const std::string& node, const std::string& state, Time now,
                                  Audit audit) {
  std::lock_guard lock(mu_);
  return ChangeSetting("node:" + node, nlohmann::json({{"state", state}}).dump(), now,
                       std::move(audit));
}

Status ControlPlane::SetSiteState(const std::string& site, const std::string& state, Time now,
                                  Audit audit) {
  std::lock_guard lock(mu_);
  return ChangeSetting("site:" + site, nlohmann::json({{"state", state}}).dump(), now,
                       std::move(audit));
}

Status ControlPlane::SetQuota(const std::string& tenant, const model::ClassAmounts& guarantee,
                              const model::ClassAmounts& borrow_limit,
                              const model::ClassAmounts& lend_limit, Audit audit) {
  const std::string value = nlohmann::json({{"guarantee", AmountsJson(guarantee)},
                                            {"borrow_limit", AmountsJson(borrow_limit)},
                                            {"lend_limit", AmountsJson(lend_limit)}})
                                .dump();
  std::lock_guard lock(mu_);
  return ChangeSetting("quota:" + tenant, value, 0, std::move(audit));
}

Status ControlPlane::SetGrants(const std::string& tenant, const std::vector<model::Grant>& grants,
                               Audit audit) {
  const std::string value = nlohmann::json({{"grants", GrantsJson(grants)}}).dump();
  std::lock_guard lock(mu_);
  return ChangeSetting("grants:" + tenant, value, 0, std::move(audit));
}

Result<TenantUsage> ControlPlane::Usage(const std::string& tenant) {
  const int t = scenario_.FindTenant(tenant);
  if (t < 0) return NotFound("tenant '" + tenant + "' not found");
  std::lock_guard lock(mu_);
  const sched::QuotaLedger& q = scheduler_->quota();
  TenantUsage u;
  for (int c = 0; c < q.class_count(); ++c) {
    u.classes.push_back({q.class_name(c), static_cast<double>(q.Usage(t, c)) / 1000.0,
                         static_cast<double>(q.Guarantee(t, c)) / 1000.0,
                         static_cast<double>(q.Maximum(t, c)) / 1000.0});
  }
  const auto& grants = q.Grants(t);
  for (std::size_t g = 0; g < grants.size(); ++g)
    u.grants.push_back({grants[g], q.GrantUsedHours(t, g)});
  return u;
}

GridSummary ControlPlane::Grid() {
  std::lock_guard lock(mu_);
  GridSummary g;
  const sched::GridState& grid = scheduler_->grid();
  for (std::size_t p = 0; p < scenario_.pools.size(); ++p) {
    const auto& pool = scenario_.pools[p];
    const int site = scenario_.FindSite(pool.site);
    g.pools.push_back(
        {pool.id, pool.site, pool.accelerator,
         std::string(model::SiteStateName(grid.site_state(static_cast<std::size_t>(site)))),
         pool.nodes, pool.accelerators(), static_cast<double>(grid.pool(p).used_milli) / 1000.0});
  }
  for (std::size_t i = 0; i < scenario_.sites.size(); ++i) {
    const std::string& id = scenario_.sites[i].id;
    GridSummary::Site site{id, std::string(model::SiteStateName(grid.site_state(i))), ""};
    if (site.state != "up") {
      const std::string key = "site:" + id;
      const auto backend = backend_health_reason_.find(key);
      if (backend != backend_health_reason_.end()) {
        site.reason = backend_->name();
        site.reason += ": " + backend->second;
      } else if (admin_health_.count(key) != 0) {
        site.reason = "set by an administrator";
      }
    }
    g.sites.push_back(std::move(site));
  }
  g.pending = scheduler_->pending_count();
  g.running = scheduler_->running_count();
  return g;
}

ControlPlaneCounters ControlPlane::counters() {
  std::lock_guard lock(mu_);
  ControlPlaneCounters c = counters_;
  c.submitted = submitted_;
  return c;
}

}  // namespace sovgrid::server
