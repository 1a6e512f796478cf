// Jobs as the API and the CLI write them: a JSON object with the fields of the
// one job schema (model/job_schema.h; docs/scenario.md, "Jobs"), which the
// TOML job files share:
//   {"id": "train-1", "tenant": "kr.univ.snu", "kind": "train", "accelerators": 16,
//    "fraction": 0.5, "accelerators_per_node": 8, "models": ["H100"], "gang": true,
//    "datasets": ["kr-health"], "priority": "normal", "preemptible": true,
//    "checkpoint_s": 1800, "runtime_s": 7200, "deadline": "2027-01-04T09:00:00+09:00",
//    "replicas": 1,
//    "latency_ms": {"seoul": 20}, "command": "python train.py"}
// Only "id" and "tenant" are required. The reader is strict: an unknown field,
// a wrong type or a value out of range is an error naming its JSON path
// ("$.jobs[3].accelerators: expected an integer in 1..1000000, found "two"").
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/job_schema.h"
#include "model/scenario.h"

namespace sovgrid::server {

// Job names (the "id" a tenant gives a job): the schema's rule,
// model::CheckJobName. A name is unique within its tenant only (two tenants may
// use the same one); the daemon keys a job by JobKey(tenant, name).
using model::CheckJobName;
using model::kMaxJobNameBytes;
// "TENANT/NAME": unique in the store, the scheduler and the backends.
std::string JobKey(std::string_view tenant, std::string_view name);
// The name part of a JobKey (all of `key` when it has no '/').
std::string_view JobNameOfKey(std::string_view key);

// Every problem found, in document order; empty when the job is well formed.
struct JobProblems {
  std::vector<std::string> messages;
  // The JSON path each message is about ("$.jobs[3].accelerators"), in the same order.
  std::vector<std::string> fields;
  // Appends "FIELD: WHAT" about `field`.
  void Add(const std::string& field, const std::string& what);
  bool ok() const { return messages.empty(); }
  std::string ToString() const;  // one per line
};

// Reads one job object. `path` names it in messages ("$" or "$.jobs[3]").
// On problems `*job` is partly filled and must not be used.
JobProblems JobFromJson(const nlohmann::json& value, const std::string& path, model::Job* job);
// The same from text; malformed JSON is one problem with its byte offset.
JobProblems JobFromJsonText(std::string_view text, model::Job* job);

// The JSON text of a job, with every field (inverse of JobFromJson; deadline
// as Unix seconds).
std::string JobToJson(const model::Job& job);

// The OpenAPI schema of a job (components.schemas.JobSpec), from the schema
// table; src/server/openapi.json holds it verbatim (a test checks).
nlohmann::json JobSpecOpenApi();

}  // namespace sovgrid::server
