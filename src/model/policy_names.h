// The names of the scheduling policies a scenario or command line may choose.
// The scheduler's registries hold exactly these (a test checks it); they live
// here so that the scenario loader can check names without depending on sched.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace sovgrid::model {

inline constexpr std::array<std::string_view, 7> kQueueOrderNames = {
    "fifo", "priority", "drf", "las", "sjf", "srtf", "edf"};
inline constexpr std::array<std::string_view, 5> kScoreNames = {"binpack", "spread", "topology",
                                                                "fragmentation", "throughput"};

inline bool IsKnownQueueOrder(std::string_view n) {
  return std::find(kQueueOrderNames.begin(), kQueueOrderNames.end(), n) != kQueueOrderNames.end();
}
inline bool IsKnownScore(std::string_view n) {
  return std::find(kScoreNames.begin(), kScoreNames.end(), n) != kScoreNames.end();
}
template <std::size_t N>
std::string KnownPolicyList(const std::array<std::string_view, N>& names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

}  // namespace sovgrid::model
