#include "common/json_limits.h"

#include <string>

namespace sovgrid {

Status CheckJsonDepth(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (ch == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (ch == '"') {
        in_string = false;
      }
      continue;
    }
    switch (ch) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          return InvalidArgument("$: nesting deeper than " + std::to_string(max_depth) +
                                 " at byte " + std::to_string(i));
        }
        break;
      case ']':
      case '}':
        // An unbalanced closer is nlohmann's to report; never below zero here.
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return Status::Ok();
}

Result<nlohmann::json> ParseJsonBounded(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return InvalidArgument("$: document of " + std::to_string(text.size()) +
                           " bytes, more than the limit of " + std::to_string(limits.max_bytes));
  }
  if (Status depth = CheckJsonDepth(text, limits.max_depth); !depth.ok()) return depth;
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, ...".
    std::string what = e.what();
    if (const auto pos = what.find("] "); pos != std::string::npos) what.erase(0, pos + 2);
    return InvalidArgument("$: malformed JSON at byte " + std::to_string(e.byte) + " (" + what +
                           ")");
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("$: malformed JSON (") + e.what() + ")");
  }
}

}  // namespace sovgrid
