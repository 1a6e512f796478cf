#include <array>

#include "sched/decision.h"

namespace sovgrid::sched {

namespace {
struct WaitCodeText {
  WaitCode code;
  std::string_view name;     // stable, snake case
  std::string_view summary;  // a clause for reports: "<n> jobs did not finish: <summary>"
};
// In WaitCode order (checked by WaitCodeName's lookup).
constexpr std::array<WaitCodeText, 13> kWaitCodeTexts{{
    {WaitCode::kNotTried, "not_tried", "it arrived too late to be tried"},
    {WaitCode::kNoCapacity, "no_capacity", "no pool it may use had room"},
    {WaitCode::kNoCandidatePool, "no_candidate_pool",
     "no pool of the grid may run it (model, stack, data residency, latency or shape)"},
    {WaitCode::kBorrowLimit, "borrow_limit", "its tenant had borrowed up to its limit"},
    {WaitCode::kLenderProtected, "lender_protected", "the lenders kept what they may not lend"},
    {WaitCode::kGrantSpent, "grant_spent", "its grant was spent"},
    {WaitCode::kGrantInactive, "grant_inactive", "no grant of its tenant was valid for it"},
    {WaitCode::kGrantSpentBeyondGuarantee, "grant_spent_beyond_guarantee",
     "its grant was spent and its guarantee was in use"},
    {WaitCode::kBlockedBehind, "blocked_behind", "it was held behind a reservation"},
    {WaitCode::kReservedFor, "reserved_for", "it was held behind a reservation"},
    {WaitCode::kPreempted, "preempted", "it was preempted and not yet restarted"},
    {WaitCode::kRequeued, "requeued", "it was requeued after a failure and not yet restarted"},
    {WaitCode::kNoQpu, "no_qpu", "no QPU was free next to GPUs with room"},
}};
static_assert(static_cast<std::size_t>(WaitCode::kNoQpu) + 1 == kWaitCodeTexts.size(),
              "every WaitCode has a name and a summary");
}  // namespace

std::string_view WaitCodeName(WaitCode code) {
  const auto i = static_cast<std::size_t>(code);
  return i < kWaitCodeTexts.size() ? kWaitCodeTexts[i].name : "unknown";
}

std::string_view WaitCodeSummary(WaitCode code) {
  const auto i = static_cast<std::size_t>(code);
  return i < kWaitCodeTexts.size() ? kWaitCodeTexts[i].summary : "";
}

std::optional<WaitCode> WaitCodeFromName(std::string_view name) {
  for (const WaitCodeText& t : kWaitCodeTexts) {
    if (t.name == name) return t.code;
  }
  return std::nullopt;
}

}  // namespace sovgrid::sched
