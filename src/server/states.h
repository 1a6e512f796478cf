// Job states and node/site health as the control plane and the API hold them,
// and their one spelling in text at the boundaries: the API's JSON, the
// store's rows ("state") and settings keys ("node:NAME", "site:ID").
//
// Contract: each Name function and its Parse are inverses over every value
// (tests/server/server_boundary_test.cpp checks the round trips); Parse gives
// nullopt for any other text. Nothing else in src/server spells these values.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/scenario.h"
#include "sched/grid_state.h"

namespace sovgrid::server {

// A job's state in the store and the API. pending and running are active;
// the other three are ends (a job never leaves them).
enum class JobState : std::uint8_t { kPending, kRunning, kFinished, kFailed, kCancelled };
inline constexpr JobState kAllJobStates[] = {JobState::kPending, JobState::kRunning,
                                             JobState::kFinished, JobState::kFailed,
                                             JobState::kCancelled};
// "pending", "running", "finished", "failed", "cancelled".
std::string_view JobStateName(JobState state);
std::optional<JobState> ParseJobState(std::string_view text);

// The health of a node or a site, as an administrator sets it and as the
// backend observes it; ordered from best to worst (the scheduler gets the
// worse of the two views).
enum class Health : std::uint8_t { kUp, kDraining, kDown };
inline constexpr Health kAllHealths[] = {Health::kUp, Health::kDraining, Health::kDown};
// "up", "draining", "down".
std::string_view HealthName(Health health);
std::optional<Health> ParseHealth(std::string_view text);
sched::NodeHealth ToNodeHealth(Health health);
model::SiteState ToSiteState(Health health);
Health FromSiteState(model::SiteState state);

// What a health is about: a node (by name) or a site (by id).
struct HealthTarget {
  enum class Kind : std::uint8_t { kNode, kSite };
  Kind kind = Kind::kNode;
  std::string name;
  auto operator<=>(const HealthTarget&) const = default;
};
// The target's key among the store's settings: "node:NAME" or "site:ID".
std::string HealthTargetKey(const HealthTarget& target);
// The inverse; nullopt for a key of another kind or without a name.
std::optional<HealthTarget> ParseHealthTargetKey(std::string_view key);

}  // namespace sovgrid::server
