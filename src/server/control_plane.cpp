#include "server/control_plane.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>

#include "common/json_limits.h"
#include "sched/cycle_plan.h"
#include "server/job_json.h"

namespace sovgrid::server {
namespace {

using model::Time;

// A job state as the store's rows spell it.
std::string Stored(JobState state) { return std::string(JobStateName(state)); }

}  // namespace

ControlPlane::ControlPlane(const model::Scenario& scenario, store::Store* store,
                           std::unique_ptr<ExecutionBackend> backend,
                           std::unique_ptr<sched::Scheduler> s)
    : scenario_(scenario), store_(store), backend_(std::move(backend)), scheduler_(std::move(s)) {}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Open(const model::Scenario& scenario,
                                                         store::Store* store,
                                                         std::unique_ptr<ExecutionBackend> backend,
                                                         Time now, ControlPlaneOptions options) {
  auto scheduler =
      sched::Scheduler::Create(scenario, sched::SchedulerConfig::FromPolicies(scenario.policies));
  if (!scheduler.ok()) return scheduler.status();
  std::unique_ptr<ControlPlane> cp(
      new ControlPlane(scenario, store, std::move(backend), std::move(scheduler).value()));
  cp->options_ = options;
  auto settings = store->ListSettings();
  if (!settings.ok()) return settings.status();
  {
    std::lock_guard lock(cp->mu_);
    for (const auto& [key, value] : *settings) {
      // A setting the scenario no longer admits (a node removed) is skipped.
      auto setting = SettingFromStored(key, value);
      if (!setting.ok()) continue;
      (void)cp->ApplySetting(*setting, now);
      cp->settings_.insert_or_assign(key, std::move(setting).value());
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
      problems.Add("$.tenant", "differs from the job's record");
    job.id = record.id;  // the spec keeps the tenant's name; the scheduler gets the key
    if (!problems.ok()) {
      updates.push_back({record.id, Stored(JobState::kFailed), now,
                         "not restored after restart: stored spec: " + problems.ToString(), "",
                         ""});
      continue;
    }
    if (ParseJobState(record.state) == JobState::kRunning) {
      // Keep the allocation and the running work if both sides can.
      auto assignment = AssignmentFromJson(record.assignment_json);
      Status adopted = assignment.ok() ? scheduler_->Adopt(job, *assignment, record.updated_at, now)
                                       : assignment.status();
      if (adopted.ok()) {
        adopted =
            backend_->Adopt(job, Placement(*assignment), record.updated_at, record.backend_ref);
        if (adopted.ok()) {
          OpenSegment(record.id, record.updated_at, *assignment);
          start_order_[record.id] = next_start_order_++;
          scheduled_.insert(record.id);
          continue;
        }
        (void)scheduler_->Cancel(job.id, now);
      }
      if (Status s = scheduler_->Submit(job); !s.ok()) {
        updates.push_back({record.id, Stored(JobState::kFailed), now,
                           "not restored after restart: " + s.message(), "", ""});
        continue;
      }
      scheduled_.insert(record.id);
      // Its accelerators were held until now: the daemon cannot know when it
      // stopped, so its run is charged up to the restart.
      if (assignment.ok()) OpenSegment(record.id, record.updated_at, *assignment);
      updates.push_back({record.id, Stored(JobState::kPending), now,
                         "requeued after the daemon restarted: " + adopted.message(), "", "",
                         CloseSegment(record.id, now, "requeued", true, false)});
      continue;
    }
    if (Status s = scheduler_->Submit(job); !s.ok()) {
      // The scenario changed under it (a tenant or model removed): it can never run.
      updates.push_back({record.id, Stored(JobState::kFailed), now,
                         "not restored after restart: " + s.message(), "", ""});
    } else {
      scheduled_.insert(record.id);
    }
  }
  if (Status s = store_->UpdateJobs(updates); !s.ok()) return s;
  return RestoreGrantUsage(now);
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
    if (!s.ok()) {
      return Status(s.code(), where(i) + " (id " + name + "): " + s.message())
          .WithField(s.field())
          .WithFieldPrefix("jobs[" + std::to_string(i) + "]");
    }
    store::StoredJob r;
    r.id = JobKey(job.tenant, name);
    r.name = name;
    r.tenant = job.tenant;
    r.spec_json = JobToJson(job);  // with the tenant's name, as submitted
    r.state = Stored(JobState::kPending);
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
      updates->push_back({id, Stored(JobState::kFailed), now,
                          "not accepted by the scheduler: " + s.message(), "", ""});
    } else {
      scheduled_.insert(id);
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
                              record->state);  // an end state, as stored
  }
  // Committed first: a cancellation the store did not take changes nothing.
  std::vector<store::AuditEntry> entries;
  if (audit) entries.push_back(std::move(*audit));
  std::optional<Segment> open;
  if (auto it = segments_.find(id); it != segments_.end()) open = it->second;
  const Status committed =
      NoteCommit(store_->UpdateJobs({{id, Stored(JobState::kCancelled), now, "cancelled by request",
                                      "", "", CloseSegment(id, now, "cancelled", false, true)}},
                                    entries));
  if (!committed.ok()) {
    if (open) segments_[id] = std::move(*open);
    return committed;
  }
  if (Status s = scheduler_->Cancel(id, now); !s.ok()) return s;
  scheduled_.erase(id);
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
  if (ParseJobState(info.record.state) == JobState::kPending) {
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
  Status s = scheduler_->Submit(job);
  if (!s.ok()) scheduled_.erase(job.id);
  return s;
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
    // Moved out rather than copied (an update carries its usage records), and
    // moved back if the commit fails: they are retried at the next flush.
    const auto first = unflushed_.begin() + static_cast<std::ptrdiff_t>(done);
    const auto last = unflushed_.begin() + static_cast<std::ptrdiff_t>(to);
    std::vector<store::JobUpdate> chunk(std::make_move_iterator(first),
                                        std::make_move_iterator(last));
    status = NoteCommit(store_->UpdateJobs(chunk));
    if (!status.ok()) {
      std::move(chunk.begin(), chunk.end(), first);
      break;
    }
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
      segments_.erase(d.job);  // it never ran
      if (Status s = Requeue(*view->spec, now); !s.ok()) return s;
      unflushed_.push_back(
          {d.job, Stored(JobState::kPending), now,
           "requeued: " + std::string(backend_->name()) + ": " + handle.status().message(), "",
           ""});
      continue;
    }
    if (!handle.ok()) {
      segments_.erase(d.job);  // it never ran
      (void)scheduler_->Fail(d.job, now);
      scheduled_.erase(d.job);
      ++counters_.failed;
      unflushed_.push_back({d.job, Stored(JobState::kFailed), now,
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
    const std::vector<backends::Ended>& observed, const std::vector<backends::HealthChange>& health,
    Time now) {
  // Submissions committed so far join the scheduler (only committed ones are
  // in the inbox: no cycle starts a job that is not durable).
  AdoptCommitted(now, &unflushed_);
  // Released in the order the runs started, whatever order the backend saw
  // them end in (start_order_).
  std::vector<const backends::Ended*> ended;
  ended.reserve(observed.size());
  for (const auto& e : observed) ended.push_back(&e);
  auto order_of = [&](const backends::Ended* e) {
    auto it = start_order_.find(e->job);
    return it != start_order_.end() ? it->second : std::numeric_limits<std::uint64_t>::max();
  };
  std::stable_sort(ended.begin(), ended.end(),
                   [&](const auto* a, const auto* b) { return order_of(a) < order_of(b); });
  for (const backends::Ended* ep : ended) {
    const backends::Ended& e = *ep;
    // An ended job keeps where it ran, for the record.
    auto view = scheduler_->Job(e.job);
    if (!view.ok()) continue;  // cancelled meanwhile
    const std::string where = view->assignment != nullptr ? AssignmentJson(*view->assignment) : "";
    if (e.lost) {
      // Not the job's fault: it waits for another placement.
      auto usage = CloseSegment(e.job, now, "requeued", true, false);
      if (Status s = Requeue(*view->spec, now); !s.ok()) continue;
      unflushed_.push_back({e.job, Stored(JobState::kPending), now, "requeued: " + e.message, "",
                            "", std::move(usage)});
      continue;
    }
    auto usage = CloseSegment(e.job, now, e.failed ? "failed" : "finished", e.failed, true);
    Status s = e.failed ? scheduler_->Fail(e.job, now) : scheduler_->Finish(e.job, now);
    if (!s.ok()) continue;  // cancelled meanwhile
    scheduled_.erase(e.job);
    ++(e.failed ? counters_.failed : counters_.finished);
    unflushed_.push_back({e.job, Stored(e.failed ? JobState::kFailed : JobState::kFinished), now,
                          e.message, where, "", std::move(usage)});
  }
  for (const auto& h : health) {
    const HealthTarget target{h.kind == backends::HealthChange::Kind::kNode
                                  ? HealthTarget::Kind::kNode
                                  : HealthTarget::Kind::kSite,
                              h.name};
    // The daemon's log says what the backend saw and why.
    const std::optional<Health> state = ParseHealth(h.state);
    const Status s = state ? ApplyHealth(target, &backend_health_, *state, now)
                           : Internal("the backend reported an unknown state");
    if (state == Health::kUp) {
      backend_health_reason_.erase(target);
    } else if (state) {
      backend_health_reason_[target] = h.reason;
    }
    std::fprintf(stderr, "sovgrid: %s backend: %s %s: %s\n", std::string(backend_->name()).c_str(),
                 HealthTargetKey(target).c_str(), h.state.c_str(),
                 s.ok() ? h.reason.c_str() : s.message().c_str());
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
    const bool preempted = d.kind == sched::Decision::Kind::kPreempt;
    unflushed_.push_back(
        {d.job, Stored(JobState::kPending), now, why, "", "",
         CloseSegment(d.job, now, preempted ? "preempted" : "requeued", true, false)});
  }
  // Jobs moved off drained capacity by an administrator: pending again now
  // (after this cycle, so none restarts before the next one), stopped with
  // this cycle's stops, before any start.
  for (const auto& [id, why] : evictions_) {
    auto view = scheduler_->Job(id);
    if (!view.ok() || view->state != sched::JobState::kRunning) continue;  // ended meanwhile
    std::string detail = why;
    if (view->last_start >= 0) {
      const model::Duration ran = now - view->last_start;
      const model::Duration ckpt = view->spec->checkpoint_interval_s;
      detail += "; " + std::to_string(ckpt > 0 ? ran % ckpt : ran) +
                " s of work since its last checkpoint lost";
    }
    auto usage = CloseSegment(id, now, "requeued", true, false);
    if (!Requeue(*view->spec, now).ok()) continue;
    out->stops.push_back(id);
    unflushed_.push_back({id, Stored(JobState::kPending), now, detail, "", "", std::move(usage)});
  }
  evictions_.clear();
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
      unflushed_.push_back(
          {d->job, Stored(JobState::kRunning), now, d->reason, AssignmentJson(d->assignment), ""});
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
  for (const sched::Decision* d : starts) {
    OpenSegment(d->job, now, d->assignment);
    start_order_[d->job] = next_start_order_++;
  }
  for (const sched::Decision* d : starts) out->placements.push_back(Placement(d->assignment));
  out->decisions = std::move(starts);
  out->jobs = std::move(remaining);
  out->flushed = flushed;
  return Status::Ok();
}

Status ControlPlane::ApplySetting(const AdminSetting& setting, Time now) {
  if (const auto* h = std::get_if<HealthSetting>(&setting))
    return ApplyHealth(h->target, &admin_health_, h->state, now);
  if (const auto* q = std::get_if<QuotaSetting>(&setting))
    return scheduler_->SetQuota(q->tenant, q->guarantee, q->borrow_limit, q->lend_limit);
  const auto& g = std::get<GrantsSetting>(setting);
  return scheduler_->SetGrants(g.tenant, g.grants);
}

Status ControlPlane::ApplyHealth(const HealthTarget& target, std::map<HealthTarget, Health>* from,
                                 Health state, Time now) {
  const bool node = target.kind == HealthTarget::Kind::kNode;
  // Validate the name before anything is recorded.
  if (node && !scheduler_->grid().FindNode(target.name).ok())
    return NotFound("node '" + target.name + "' not found");
  if (!node && scenario_.FindSite(target.name) < 0)
    return NotFound("site '" + target.name + "' not found");
  (*from)[target] = state;
  // What the scheduler gets is the worse of the administrators' and the backend's view.
  auto view = [&](const std::map<HealthTarget, Health>& m) {
    const auto it = m.find(target);
    return it == m.end() ? Health::kUp : it->second;
  };
  const Health effective = std::max(view(admin_health_), view(backend_health_));
  if (node) return scheduler_->SetNodeHealth(target.name, ToNodeHealth(effective), now);
  return scheduler_->SetSiteState(target.name, ToSiteState(effective), now);
}

AdminSetting ControlPlane::DefaultSetting(const AdminSetting& like) const {
  if (const auto* h = std::get_if<HealthSetting>(&like))
    return HealthSetting{h->target, Health::kUp};
  const std::string& name = std::holds_alternative<QuotaSetting>(like)
                                ? std::get<QuotaSetting>(like).tenant
                                : std::get<GrantsSetting>(like).tenant;
  const int t = scenario_.FindTenant(name);
  const model::Tenant empty;
  const model::Tenant& tenant = t < 0 ? empty : scenario_.tenants[static_cast<std::size_t>(t)];
  if (std::holds_alternative<QuotaSetting>(like))
    return QuotaSetting{name, tenant.guarantee, tenant.borrow_limit, tenant.lend_limit};
  return GrantsSetting{name, tenant.grants};
}

Status ControlPlane::ChangeSetting(AdminSetting setting, Time now, Audit audit) {
  if (Status s = ApplySetting(setting, now); !s.ok()) return s;
  std::vector<store::AuditEntry> entries;
  if (audit) entries.push_back(std::move(*audit));
  const std::string key = SettingKey(setting);
  const Status committed = NoteCommit(store_->PutSetting(key, SettingValueJson(setting), entries));
  if (!committed.ok()) {
    // Undone: the scheduler keeps what the store has.
    const auto it = settings_.find(key);
    (void)ApplySetting(it != settings_.end() ? it->second : DefaultSetting(setting), now);
    return committed;
  }
  settings_.insert_or_assign(key, std::move(setting));
  return Status::Ok();
}

void ControlPlane::EvictFrom(const std::vector<sched::NodeId>& nodes, const std::string& why) {
  for (const sched::NodeId n : nodes) {
    for (auto& id : scheduler_->JobsOnNode(n)) {
      const bool noted = std::any_of(evictions_.begin(), evictions_.end(),
                                     [&](const auto& e) { return e.first == id; });
      if (!noted) evictions_.emplace_back(std::move(id), why);
    }
  }
}

Status ControlPlane::SetNodeState(const std::string& node, Health state, Time now, Audit audit,
                                  bool requeue) {
  if (requeue && state != Health::kDraining)
    return InvalidArgument("requeue: only with draining (down requeues anyway)");
  std::lock_guard lock(mu_);
  if (Status s = ChangeSetting(HealthSetting{{HealthTarget::Kind::kNode, node}, state}, now,
                               std::move(audit));
      !s.ok() || !requeue)
    return s;
  auto n = scheduler_->grid().FindNode(node);
  if (!n.ok()) return n.status();
  EvictFrom({*n}, "requeued: node " + node + " drained by an administrator, with requeue");
  return Status::Ok();
}

Status ControlPlane::SetSiteState(const std::string& site, Health state, Time now, Audit audit,
                                  bool requeue) {
  if (requeue && state != Health::kDraining)
    return InvalidArgument("requeue: only with draining (down requeues anyway)");
  std::lock_guard lock(mu_);
  if (Status s = ChangeSetting(HealthSetting{{HealthTarget::Kind::kSite, site}, state}, now,
                               std::move(audit));
      !s.ok() || !requeue)
    return s;
  const sched::GridState& grid = scheduler_->grid();
  std::vector<sched::NodeId> nodes;
  for (std::size_t p = 0; p < scenario_.pools.size(); ++p) {
    if (scenario_.pools[p].site != site) continue;
    const sched::PoolIndex& pool = grid.pool(p);
    for (std::uint32_t i = 0; i < pool.node_count; ++i) nodes.push_back(pool.first_node + i);
  }
  EvictFrom(nodes, "requeued: site " + site + " drained by an administrator, with requeue");
  return Status::Ok();
}

Status ControlPlane::SetQuota(const std::string& tenant, const model::ClassAmounts& guarantee,
                              const model::ClassAmounts& borrow_limit,
                              const model::ClassAmounts& lend_limit, Audit audit) {
  std::lock_guard lock(mu_);
  return ChangeSetting(QuotaSetting{tenant, guarantee, borrow_limit, lend_limit}, 0,
                       std::move(audit));
}

Status ControlPlane::SetGrants(const std::string& tenant, const std::vector<model::Grant>& grants,
                               Audit audit) {
  std::lock_guard lock(mu_);
  return ChangeSetting(GrantsSetting{tenant, grants}, 0, std::move(audit));
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
    u.grants.push_back({grants[g], q.GrantUsedUnits(t, g)});
  return u;
}

GridSummary ControlPlane::Grid() {
  std::lock_guard lock(mu_);
  GridSummary g;
  const sched::GridState& grid = scheduler_->grid();
  for (std::size_t p = 0; p < scenario_.pools.size(); ++p) {
    const auto& pool = scenario_.pools[p];
    const int site = scenario_.FindSite(pool.site);
    g.pools.push_back({pool.id, pool.site, pool.accelerator,
                       FromSiteState(grid.site_state(static_cast<std::size_t>(site))), pool.nodes,
                       pool.accelerators(), static_cast<double>(grid.pool(p).used_milli) / 1000.0});
  }
  for (std::size_t i = 0; i < scenario_.sites.size(); ++i) {
    const std::string& id = scenario_.sites[i].id;
    GridSummary::Site site{id, FromSiteState(grid.site_state(i)), ""};
    if (site.state != Health::kUp) {
      const HealthTarget key{HealthTarget::Kind::kSite, id};
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

Result<PoolNodes> ControlPlane::NodesOfPool(const std::string& pool_id, std::size_t offset,
                                            std::size_t limit) {
  const auto it = std::find_if(scenario_.pools.begin(), scenario_.pools.end(),
                               [&](const model::Pool& p) { return p.id == pool_id; });
  if (it == scenario_.pools.end()) return NotFound("pool '" + pool_id + "' not found");
  const auto p = static_cast<std::size_t>(it - scenario_.pools.begin());
  std::lock_guard lock(mu_);
  const sched::GridState& grid = scheduler_->grid();
  const sched::PoolIndex& index = grid.pool(p);
  PoolNodes out;
  out.pool = pool_id;
  out.site = it->site;
  out.site_state =
      FromSiteState(grid.site_state(static_cast<std::size_t>(scenario_.FindSite(it->site))));
  out.node_count = index.node_count;
  for (std::size_t i = offset; i < index.node_count && i < offset + limit; ++i) {
    const auto n = static_cast<sched::NodeId>(index.first_node + i);
    const sched::NodeInfo& info = grid.node(n);
    PoolNodes::Node node;
    node.name = grid.NodeName(n);
    node.state = info.health == sched::NodeHealth::kUp         ? Health::kUp
                 : info.health == sched::NodeHealth::kDraining ? Health::kDraining
                                                               : Health::kDown;
    node.accelerators = info.accel_count;
    node.used = static_cast<double>(static_cast<model::Milli>(info.accel_count) *
                                        model::kMilliPerAccelerator -
                                    grid.NodeFreeMilli(n)) /
                1000.0;
    for (auto& id : scheduler_->JobsOnNode(n)) {
      PoolNodes::Job job;
      if (auto view = scheduler_->Job(id); view.ok() && view->assignment != nullptr) {
        for (const auto& part : *view->assignment) {
          if (part.node != n) continue;
          for (auto a : part.accelerators) job.accelerators.push_back(a - info.first_accel);
          job.share = static_cast<double>(part.milli_per_accelerator) / 1000.0;
        }
      }
      job.key = std::move(id);
      node.jobs.push_back(std::move(job));
    }
    out.nodes.push_back(std::move(node));
  }
  return out;
}

QueueSummary ControlPlane::PendingSummary(Time now) {
  {
    std::lock_guard lock(mu_);
    summary_asked_ = now;
    if (queue_summary_.at > 0 && now - queue_summary_.at <= 2) return queue_summary_;
  }
  RefreshPendingSummary(now, true);
  std::lock_guard lock(mu_);
  return queue_summary_;
}

void ControlPlane::RefreshPendingSummary(Time now, bool asked) {
  std::lock_guard counting(summary_mu_);
  {
    std::lock_guard lock(mu_);
    if (queue_summary_.at > 0 && now - queue_summary_.at < 1) return;
    if (!asked && (summary_asked_ == 0 || now - summary_asked_ > 60)) return;
  }
  // (tenant, code) -> group; few of them.
  std::map<std::pair<int, sched::WaitCode>, QueueSummary::Group> groups;
  std::size_t pending = 0;
  constexpr std::size_t kSlice = 4096;
  for (std::size_t bucket = 0;;) {
    std::lock_guard lock(mu_);
    // Bucket by bucket: valid across the slices (a rehash in between, as
    // jobs arrive, shifts what is left to count: see the contract).
    const std::size_t buckets = scheduled_.bucket_count();
    if (bucket >= buckets) break;
    for (std::size_t seen = 0; bucket < buckets && seen < kSlice; ++bucket) {
      for (auto it = scheduled_.begin(bucket); it != scheduled_.end(bucket); ++it, ++seen) {
        auto view = scheduler_->Job(*it);
        if (!view.ok() || view->state != sched::JobState::kPending) continue;
        ++pending;
        auto& g = groups[{view->tenant, view->reason.code}];
        // The example: the group's longest waiting job (earliest submission, then id).
        const model::Time submitted = view->spec->submit_time;
        if (g.jobs++ == 0 || submitted < g.example_submitted ||
            (submitted == g.example_submitted && *it < g.example)) {
          g.tenant = view->tenant;
          g.code = view->reason.code;
          g.example = *it;
          g.example_submitted = submitted;
        }
      }
    }
  }
  std::lock_guard lock(mu_);
  // Jobs committed but not yet in the scheduler (the inbox) wait for the next cycle.
  {
    std::lock_guard commit(commit_mu_);
    for (const auto& job : inbox_) {
      const int t = scenario_.FindTenant(job.tenant);
      if (t < 0) continue;
      ++pending;
      auto& g = groups[{t, sched::WaitCode::kNotTried}];
      if (g.jobs++ == 0 || job.submit_time < g.example_submitted) {
        g.tenant = t;
        g.code = sched::WaitCode::kNotTried;
        g.example = job.id;
        g.example_submitted = job.submit_time;
      }
    }
  }
  QueueSummary out;
  out.at = now;
  out.pending = pending;
  for (auto& [key, g] : groups) {
    auto why = scheduler_->Explain(g.example);
    g.example_reason =
        why.ok() && !why->empty() ? *why : "submitted; the next scheduling cycle considers it";
    out.groups.push_back(std::move(g));
  }
  queue_summary_ = std::move(out);
}

ControlPlaneCounters ControlPlane::counters() {
  std::lock_guard lock(mu_);
  ControlPlaneCounters c = counters_;
  c.submitted = submitted_;
  return c;
}

}  // namespace sovgrid::server
