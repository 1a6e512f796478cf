// A scenario file: text -> ParseScenario (bounded TOML, the strict reader,
// whole-scenario validation). A scenario that loads must resolve.
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.h"
#include "scenario/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto s = sovgrid::scenario::ParseScenario(sovgrid::fuzz::AsText(data, size), "fuzz.toml");
  if (s.ok()) {
    if (!s->Resolve().ok()) std::abort();  // the loader's contract
    (void)s->TotalAccelerators();
    for (std::size_t t = 0; t < s->tenants.size(); ++t) (void)s->TenantPath(static_cast<int>(t));
  }
  return 0;
}
