#include "sched/queue_order.h"

#include <algorithm>
#include <array>
#include <functional>
#include <limits>

#include "model/policy_names.h"

namespace sovgrid::sched {
namespace {

constexpr double kLast = std::numeric_limits<double>::infinity();

// std::merge without a branch on the comparison: the runs a cycle merges
// interleave unpredictably (jobs of one tenant parked under several candidate
// sets), and std::merge's mispredicted branch was most of DRF's Begin (perf,
// a national run). Takes from `a` on ties, as std::merge does.
template <typename T, typename Less>
void MergeWithoutBranches(const T* a, const T* a_end, const T* b, const T* b_end, T* out,
                          Less less) {
  while (a != a_end && b != b_end) {
    const bool take_b = less(*b, *a);
    *out++ = *(take_b ? b : a);
    b += static_cast<std::ptrdiff_t>(take_b);
    a += static_cast<std::ptrdiff_t>(!take_b);
  }
  out = std::copy(a, a_end, out);
  std::copy(b, b_end, out);
}

// Sorts `v` by `less`. The pending jobs a cycle orders arrive as a few long
// sorted runs (each parked list fills in the previous cycle's queue order), so
// adjacent runs are merged pairwise: O(n log runs) with sequential access.
// Many short runs fall back to std::sort. The result is the same either way
// (callers' keys end in a unique sequence number). The merges go back and
// forth between `v` and `buf`, and `starts` holds the runs: both are the
// caller's, reused from cycle to cycle (std::inplace_merge allocated a buffer
// per merge, and a vector of runs per call: ~3 % of a national run).
template <typename T, typename Less>
void SortRuns(std::vector<T>& v, Less less, std::vector<T>& buf, std::vector<std::size_t>& starts) {
  starts.clear();
  starts.push_back(0);
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (less(v[i], v[i - 1])) starts.push_back(i);
  }
  if (starts.size() == 1) return;
  if (starts.size() > 64 && starts.size() > v.size() / 32) {
    std::sort(v.begin(), v.end(), less);
    return;
  }
  starts.push_back(v.size());
  buf.resize(v.size());
  while (starts.size() > 2) {
    std::size_t out = 0;
    std::size_t r = 0;
    for (; r + 2 < starts.size(); r += 2) {
      MergeWithoutBranches(v.data() + starts[r], v.data() + starts[r + 1], v.data() + starts[r + 1],
                           v.data() + starts[r + 2], buf.data() + starts[r], less);
      starts[out++] = starts[r];
    }
    if (r + 1 < starts.size()) {  // an odd run left: copied as it is
      std::copy(v.begin() + static_cast<std::ptrdiff_t>(starts[r]),
                v.begin() + static_cast<std::ptrdiff_t>(starts[r + 1]),
                buf.begin() + static_cast<std::ptrdiff_t>(starts[r]));
      starts[out++] = starts[r];
    }
    starts[out++] = starts.back();
    starts.resize(out);
    v.swap(buf);
  }
}

// How many entries ahead an order fetches the entry it will return (the
// entries are read in sorted order, scattered over memory).
constexpr std::size_t kAhead = 8;
void Prefetch(const QueueEntry& e) {
  const char* at = reinterpret_cast<const char*>(&e);
  __builtin_prefetch(at);
  __builtin_prefetch(at + sizeof(QueueEntry) - 1);
}

// Orders that sort once per cycle by a key; smaller keys go first.
class KeyedQueueOrder final : public QueueOrder {
 public:
  using Key = std::array<double, 3>;
  // With `preemptive`, a waiting job whose key's first element is smaller
  // than a running job's displaces it (SRTF: shorter remaining time; LAS: a
  // lower queue).
  KeyedQueueOrder(std::string name, std::function<Key(const QueueEntry&)> key,
                  bool preemptive = false)
      : name_(std::move(name)), key_(std::move(key)), preemptive_(preemptive) {}

  bool preemptive() const override { return preemptive_; }
  bool Preempts(const QueueEntry& waiting, const QueueEntry& running) const override {
    return preemptive_ && key_(waiting)[0] < key_(running)[0];
  }

  std::string_view name() const override { return name_; }

  // Sorts (key, seq, position) triples rather than the entries themselves:
  // a cycle may order hundreds of thousands of jobs.
  void Begin(std::vector<QueueEntry> entries, const TenantShares& /*shares*/) override {
    entries_ = std::move(entries);
    keyed_.clear();
    keyed_.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i)
      keyed_.push_back({key_(entries_[i]), entries_[i].seq, static_cast<std::uint32_t>(i)});
    SortRuns(
        keyed_,
        [](const Keyed& a, const Keyed& b) {
          for (std::size_t k = 0; k < a.key.size(); ++k) {
            if (a.key[k] != b.key[k]) return a.key[k] < b.key[k];
          }
          return a.seq < b.seq;
        },
        sort_buf_, sort_runs_);
    next_ = 0;
  }

  std::vector<QueueEntry> TakeEntries() override {
    entries_.clear();
    keyed_.clear();
    next_ = 0;
    return std::move(entries_);
  }

  bool Next(QueueEntry* out) override {
    if (next_ >= keyed_.size()) return false;
    if (next_ + kAhead < keyed_.size()) Prefetch(entries_[keyed_[next_ + kAhead].pos]);
    *out = entries_[keyed_[next_++].pos];
    return true;
  }

 private:
  std::string name_;
  std::function<Key(const QueueEntry&)> key_;
  bool preemptive_;
  struct Keyed {
    Key key;
    std::uint64_t seq;
    std::uint32_t pos;  // in entries_
  };
  std::vector<QueueEntry> entries_;
  std::vector<Keyed> keyed_;
  std::vector<Keyed> sort_buf_;         // SortRuns' scratch
  std::vector<std::size_t> sort_runs_;  // SortRuns' scratch
  std::size_t next_ = 0;
};

double Known(model::Duration d) { return d > 0 ? static_cast<double>(d) : kLast; }

// Hierarchical dominant-resource fair share. At each step it walks from the
// root to the subtree whose weighted dominant share is lowest among those with
// pending jobs, and takes that tenant's next job (priority, then submission).
// Jobs submitted to an inner tenant compete with its children as one more
// child of weight 1.
class DrfQueueOrder final : public QueueOrder {
 public:
  explicit DrfQueueOrder(const model::Scenario& scenario) : scenario_(scenario) {
    const std::size_t n = scenario.tenants.size();
    children_.resize(n);
    for (std::size_t t = 0; t < n; ++t) {
      const int p = scenario.tenants[t].parent_index;
      (p >= 0 ? children_[p] : top_).push_back(static_cast<int>(t));
    }
  }

  std::string_view name() const override { return "drf"; }

  void Begin(std::vector<QueueEntry> entries, const TenantShares& shares) override {
    shares_ = &shares;
    const std::size_t n = scenario_.tenants.size();
    share_.resize(n);
    own_share_.resize(n);
    for (std::size_t t = 0; t < n; ++t) Refresh(static_cast<int>(t));
    last_ = -1;
    changed_ = true;
    ClearQueues();
    entries_ = std::move(entries);
    // Per tenant, positions in entries_ ordered by priority (higher first),
    // then submission: sorting (priority, seq, position) keys, not entries.
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const QueueEntry& e = entries_[i];
      own_[e.tenant].push_back({e.seq, e.priority, static_cast<std::uint32_t>(i)});
    }
    for (std::size_t t = 0; t < n; ++t) {
      auto& q = own_[t];
      SortRuns(
          q,
          [](const Own& a, const Own& b) {
            // Bitwise, not short-circuit: no branch for MergeWithoutBranches.
            return (a.priority > b.priority) | ((a.priority == b.priority) & (a.seq < b.seq));
          },
          sort_buf_, sort_runs_);
      for (int at = static_cast<int>(t); at >= 0; at = scenario_.tenants[at].parent_index) {
        pending_[at] += static_cast<std::int64_t>(q.size());
      }
    }
  }

  bool Next(QueueEntry* out) override {
    // Shares change only when a job starts; until then the walk would pick
    // the same tenant again as long as it has jobs left (only its own path's
    // counts went down, and they stay above zero).
    if (!changed_ && last_ >= 0 && cursor_[last_] < own_[last_].size()) return Pop(last_, out);
    changed_ = false;
    const std::vector<int>* level = &top_;
    int chosen_parent = -1;
    for (;;) {
      int best = -1;
      double best_share = kLast;
      for (int c : *level) {
        if (pending_[c] == 0) continue;
        const double share = share_[c] / scenario_.tenants[c].weight;
        if (share < best_share) {
          best_share = share;
          best = c;
        }
      }
      // The parent's own jobs compete as one more child.
      const bool own_left =
          chosen_parent >= 0 && cursor_[chosen_parent] < own_[chosen_parent].size();
      if (own_left && (best < 0 || own_share_[chosen_parent] < best_share)) {
        return Pop(chosen_parent, out);
      }
      if (best < 0) return false;
      if (children_[best].empty() || std::none_of(children_[best].begin(), children_[best].end(),
                                                  [&](int c) { return pending_[c] > 0; })) {
        return Pop(best, out);
      }
      chosen_parent = best;
      level = &children_[best];
    }
  }

  std::vector<QueueEntry> TakeEntries() override {
    entries_.clear();
    ClearQueues();
    return std::move(entries_);
  }

  // Shares change only along the path of the tenant whose job started.
  // (Jobs preempted during the cycle are seen at the next Begin.)
  void Started(const QueueEntry& entry) override {
    for (int at = entry.tenant; at >= 0; at = scenario_.tenants[at].parent_index) Refresh(at);
    changed_ = true;
  }

 private:
  // No tenant has jobs left: what Begin fills and Next consumes.
  void ClearQueues() {
    const std::size_t n = scenario_.tenants.size();
    own_.resize(n);
    for (auto& q : own_) q.clear();
    cursor_.assign(n, 0);
    pending_.assign(n, 0);
  }

  void Refresh(int t) {
    share_[t] = shares_->DominantShare(t);
    own_share_[t] = shares_->OwnDominantShare(t);
  }

  bool Pop(int tenant, QueueEntry* out) {
    last_ = tenant;
    // The tenant's next entries sit anywhere in entries_: fetched a few pops
    // ahead, as most pops continue with the same tenant.
    const std::vector<Own>& own = own_[tenant];
    if (cursor_[tenant] + kAhead < own.size())
      Prefetch(entries_[own[cursor_[tenant] + kAhead].pos]);
    *out = entries_[own[cursor_[tenant]++].pos];
    for (int at = tenant; at >= 0; at = scenario_.tenants[at].parent_index) --pending_[at];
    return true;
  }

  const model::Scenario& scenario_;
  const TenantShares* shares_ = nullptr;
  std::vector<int> top_;
  std::vector<std::vector<int>> children_;
  // 16 bytes: the sort of a cycle's entries moves each several times.
  struct Own {
    std::uint64_t seq;
    std::int32_t priority;
    std::uint32_t pos;  // in entries_
  };
  std::vector<QueueEntry> entries_;
  std::vector<std::vector<Own>> own_;
  std::vector<Own> sort_buf_;           // SortRuns' scratch
  std::vector<std::size_t> sort_runs_;  // SortRuns' scratch
  std::vector<std::size_t> cursor_;
  std::vector<std::int64_t> pending_;      // pending jobs in each subtree
  std::vector<double> share_, own_share_;  // cached per cycle, refreshed on Started
  int last_ = -1;                          // the tenant the last job came from
  bool changed_ = true;                    // a job started since the last walk
};

}  // namespace

Result<std::unique_ptr<QueueOrder>> MakeQueueOrder(std::string_view name,
                                                   const model::Scenario& scenario,
                                                   const QueueOrderOptions& options) {
  using K = KeyedQueueOrder::Key;
  auto submit = [](const QueueEntry& e) { return static_cast<double>(e.submit); };
  if (name == "fifo") {
    return std::unique_ptr<QueueOrder>(new KeyedQueueOrder("fifo", [=](const QueueEntry& e) {
      return K{submit(e), 0, 0};
    }));
  }
  if (name == "priority") {
    return std::unique_ptr<QueueOrder>(new KeyedQueueOrder("priority", [=](const QueueEntry& e) {
      return K{-double(e.priority), submit(e), 0};
    }));
  }
  if (name == "sjf") {
    return std::unique_ptr<QueueOrder>(new KeyedQueueOrder("sjf", [=](const QueueEntry& e) {
      return K{Known(e.estimate_s), submit(e), 0};
    }));
  }
  if (name == "srtf") {
    return std::unique_ptr<QueueOrder>(new KeyedQueueOrder(
        "srtf",
        [=](const QueueEntry& e) {
          return K{Known(e.remaining_s), submit(e), 0};
        },
        true));
  }
  if (name == "edf") {
    return std::unique_ptr<QueueOrder>(new KeyedQueueOrder("edf", [=](const QueueEntry& e) {
      return K{e.deadline > 0 ? double(e.deadline) : kLast, -double(e.priority), submit(e)};
    }));
  }
  if (name == "las") {
    // Tiresias' discretised two-queue LAS: jobs below the threshold of attained
    // service first, FIFO inside each queue (starvation is bounded by the queue change).
    const double threshold = options.las_threshold_gpu_s;
    return std::unique_ptr<QueueOrder>(new KeyedQueueOrder(
        "las",
        [=](const QueueEntry& e) {
          return K{e.attained_gpu_s < threshold ? 0.0 : 1.0, submit(e), 0};
        },
        true));
  }
  if (name == "drf") return std::unique_ptr<QueueOrder>(new DrfQueueOrder(scenario));
  return NotFound("unknown queue order '" + std::string(name) + "' (expected one of " +
                  model::KnownPolicyList(model::kQueueOrderNames) + ")");
}

}  // namespace sovgrid::sched
