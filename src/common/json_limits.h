// Bounded JSON parsing: the one way sovgrid parses JSON it did not write.
//
// nlohmann::json recurses while it builds, dumps and destroys a value, so a
// body of 80,000 '[' ends the process with a stack overflow long before any
// size limit. ParseJsonBounded first scans the text once, linearly, for the
// nesting depth (strings and their escapes skipped, so "[[[" inside a string
// is not nesting) and refuses a deeper document before nlohmann sees it.
//
// Contract: never throws; never recurses deeper than `max_depth` levels
// inside nlohmann; on failure the message names what and where, with the
// byte offset: "$: nesting deeper than 64 at byte 1234",
// "$: malformed JSON at byte 17 (syntax error ...)", "$: document of 70000000
// bytes, more than the limit of 67108864".
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

namespace sovgrid {

struct JsonLimits {
  // Arrays and objects inside each other; 64 is far more than any sovgrid
  // document needs (a batch of jobs is 4 deep).
  int max_depth = 64;
  // Bytes of text. The HTTP transport bounds request bodies earlier
  // (serve --max-body-mb); this guards the other callers.
  std::size_t max_bytes = std::size_t{256} << 20;
};

// The depth check alone: OK, or where the text first nests deeper than
// `max_depth`. Linear in the text, constant memory.
Status CheckJsonDepth(std::string_view text, int max_depth);

// Parses `text` as one JSON document within `limits`.
Result<nlohmann::json> ParseJsonBounded(std::string_view text, const JsonLimits& limits = {});

}  // namespace sovgrid
