#include "server/states.h"

namespace sovgrid::server {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kPending:
      return "pending";
    case JobState::kRunning:
      return "running";
    case JobState::kFinished:
      return "finished";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "pending";  // unreachable: every enumerator is named above
}

std::optional<JobState> ParseJobState(std::string_view text) {
  for (const JobState s : kAllJobStates) {
    if (JobStateName(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view HealthName(Health health) {
  switch (health) {
    case Health::kUp:
      return "up";
    case Health::kDraining:
      return "draining";
    case Health::kDown:
      return "down";
  }
  return "up";  // unreachable
}

std::optional<Health> ParseHealth(std::string_view text) {
  for (const Health h : kAllHealths) {
    if (HealthName(h) == text) return h;
  }
  return std::nullopt;
}

sched::NodeHealth ToNodeHealth(Health health) {
  switch (health) {
    case Health::kUp:
      return sched::NodeHealth::kUp;
    case Health::kDraining:
      return sched::NodeHealth::kDraining;
    case Health::kDown:
      return sched::NodeHealth::kDown;
  }
  return sched::NodeHealth::kUp;  // unreachable
}

model::SiteState ToSiteState(Health health) {
  switch (health) {
    case Health::kUp:
      return model::SiteState::kUp;
    case Health::kDraining:
      return model::SiteState::kDraining;
    case Health::kDown:
      return model::SiteState::kDown;
  }
  return model::SiteState::kUp;  // unreachable
}

Health FromSiteState(model::SiteState state) {
  switch (state) {
    case model::SiteState::kUp:
      return Health::kUp;
    case model::SiteState::kDraining:
      return Health::kDraining;
    case model::SiteState::kDown:
      return Health::kDown;
  }
  return Health::kUp;  // unreachable
}

std::string HealthTargetKey(const HealthTarget& target) {
  return (target.kind == HealthTarget::Kind::kNode ? "node:" : "site:") + target.name;
}

std::optional<HealthTarget> ParseHealthTargetKey(std::string_view key) {
  HealthTarget t;
  if (key.rfind("node:", 0) == 0) {
    t.kind = HealthTarget::Kind::kNode;
  } else if (key.rfind("site:", 0) == 0) {
    t.kind = HealthTarget::Kind::kSite;
  } else {
    return std::nullopt;
  }
  t.name = std::string(key.substr(5));
  if (t.name.empty()) return std::nullopt;
  return t;
}

}  // namespace sovgrid::server
