#include "sched/decision.h"

namespace sovgrid::sched {

std::string_view WaitCodeName(WaitCode code) {
  switch (code) {
    case WaitCode::kNotTried:
      return "not_tried";
    case WaitCode::kNoCapacity:
      return "no_capacity";
    case WaitCode::kNoCandidatePool:
      return "no_candidate_pool";
    case WaitCode::kBorrowLimit:
      return "borrow_limit";
    case WaitCode::kLenderProtected:
      return "lender_protected";
    case WaitCode::kGrantSpent:
      return "grant_spent";
    case WaitCode::kGrantInactive:
      return "grant_inactive";
    case WaitCode::kGrantSpentBeyondGuarantee:
      return "grant_spent_beyond_guarantee";
    case WaitCode::kBlockedBehind:
      return "blocked_behind";
    case WaitCode::kReservedFor:
      return "reserved_for";
    case WaitCode::kPreempted:
      return "preempted";
    case WaitCode::kRequeued:
      return "requeued";
    case WaitCode::kNoQpu:
      return "no_qpu";
  }
  return "unknown";
}

}  // namespace sovgrid::sched
