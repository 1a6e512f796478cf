// Raw HTTP/1.1 over loopback TCP for the tests and the bench of the daemon's
// connection handling: exact control over what is sent and when (a request's
// headers without its body, a header line now and then, nothing at all), and
// what came back. Every wait is bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sovgrid::testing {

// A TCP connection to 127.0.0.1:`port` (TCP_NODELAY, blocking); -1 when it
// cannot be made within `timeout_s`.
int ConnectLoopback(int port, double timeout_s = 5);

// Writes all of `data`; false when the connection failed.
bool SendAll(int fd, std::string_view data);

struct RawResponse {
  int status = 0;       // 0: no complete response (closed, reset or timed out)
  std::string headers;  // the status line and headers, as received
  std::string body;
  // The value of header `name` (case-insensitive), or "".
  std::string Header(std::string_view name) const;
};

// Reads one response (its body by Content-Length), waiting at most `timeout_s`.
RawResponse ReadResponse(int fd, double timeout_s);

// True when the peer closed or reset the connection within `timeout_s`
// (whatever it sent before is read and dropped).
bool WaitClosed(int fd, double timeout_s);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now.
std::size_t RaiseFileLimit();

}  // namespace sovgrid::testing
