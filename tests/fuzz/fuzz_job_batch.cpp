// A batch as POST /v1/jobs:batch reads it: {"jobs": [job, ...]} parsed with
// ParseJsonBounded, then JobFromJson on each item (what api.cpp does).
#include <cstdint>
#include <string>

#include "common/json_limits.h"
#include "fuzz_util.h"
#include "server/job_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto body = sovgrid::ParseJsonBounded(sovgrid::fuzz::AsText(data, size));
  if (!body.ok() || !body->is_object() || !body->contains("jobs")) return 0;
  const nlohmann::json& jobs = (*body)["jobs"];
  if (!jobs.is_array()) return 0;
  std::size_t i = 0;
  for (const auto& item : jobs) {
    sovgrid::model::Job job;
    (void)sovgrid::server::JobFromJson(item, "$.jobs[" + std::to_string(i++) + "]", &job);
  }
  (void)body->dump();  // what the audit log stores
  return 0;
}
