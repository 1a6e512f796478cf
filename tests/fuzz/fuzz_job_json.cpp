// One job as POST /v1/jobs reads it: text -> JobFromJsonText (bounded parse,
// then the strict reader). Contract under test: never crashes, never throws;
// a job read without problems converts back to JSON and reads the same.
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.h"
#include "server/job_json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sovgrid::model::Job job;
  const auto problems = sovgrid::server::JobFromJsonText(sovgrid::fuzz::AsText(data, size), &job);
  if (problems.ok()) {
    sovgrid::model::Job again;
    if (!sovgrid::server::JobFromJsonText(sovgrid::server::JobToJson(job), &again).ok())
      std::abort();  // JobToJson must write what JobFromJson reads
  }
  return 0;
}
