// HTTP transport for the Api (api.h) or any RequestHandler (the cluster front, cluster.h), on GNU
// libmicrohttpd: every request becomes an Api Request and its Response is written back. Loopback by
// default.
//
// Built so that no client can starve the others (issue 14, docs/api.md "Limits"):
//  * Event-driven: a few polling threads (epoll) own every connection, so an
//    idle or slow connection costs a socket and a little memory, never a
//    thread. Complete requests go to a pool of handler threads (a handler may
//    block for a durable commit); the connection is suspended meanwhile.
//  * The token is checked from the headers alone (Api::Precheck), before any
//    of the body is read; Content-Length above the body limit gets 413 at
//    once; a chunked body stops being kept when it passes the limit (the rest
//    is read and dropped, within the request deadline) and gets 413.
//  * Caps: concurrent connections (more are closed as soon as they are
//    accepted, without a response), optionally per client address; header
//    bytes; requests per keep-alive connection.
//  * Deadlines: a connection silent for the idle timeout is closed; a request
//    must be complete (headers and body) within the request timeout of the
//    connection's opening or of its previous response, or the connection is
//    closed (slowloris). The time a request spends in its handler does not
//    count; an idle keep-alive connection is therefore closed after
//    min(idle timeout, request timeout).
//  * Every response the server makes itself (413, 500) has a JSON body
//    {"error": {"code", "message"}}, like the Api's own errors.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/api.h"

namespace sovgrid::server {

struct HttpServerOptions {
  // Largest request body; larger ones get 413 before (Content-Length) or
  // while (chunked) they are read. Any value is honoured.
  std::size_t max_body_bytes = std::size_t{64} << 20;
  // Concurrent connections served; a connection beyond it is closed right
  // after it is accepted. The process needs RLIMIT_NOFILE above it.
  int max_connections = 4096;
  // Concurrent connections from one client address; 0: no per-address cap.
  int max_connections_per_ip = 0;
  // Seconds to receive a complete request (headers and body), counted from
  // the connection's opening or from its previous response.
  double request_timeout_s = 30;
  // Seconds without any byte received or sent before a connection is closed.
  int idle_timeout_s = 15;
  // Requests per connection; the last one is answered with `Connection:
  // close`. 0: unlimited.
  int keepalive_max_requests = 1000;
  // Bytes of a connection's buffer for the request line and headers (and the
  // read buffer); a request whose headers do not fit gets MHD's 431/400.
  std::size_t max_header_bytes = std::size_t{64} << 10;
  // Threads running Api::Handle: requests handled at the same time.
  int handler_threads = 32;
  // Threads polling the sockets (epoll).
  int poll_threads = 2;
  // With both (PEM files) it serves HTTPS only.
  std::string tls_cert, tls_key;
};

class HttpServer {
 public:
  // With `tls_cert` and `tls_key` (PEM files) it serves HTTPS only; the other
  // options at their defaults.
  HttpServer(RequestHandler* api, std::size_t max_body_bytes, const std::string& tls_cert = {},
             const std::string& tls_key = {});
  HttpServer(RequestHandler* api, HttpServerOptions options);
  // False when the TLS certificate or key could not be loaded.
  bool valid() const;
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port) and listens (backlog SOMAXCONN).
  // Returns the bound port.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop() (from any thread; also before Run). False if serving
  // failed. On Stop, requests in their handlers finish and are answered.
  bool Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sovgrid::server
