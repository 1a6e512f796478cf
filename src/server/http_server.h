// HTTP transport for the Api (api.h), on cpp-httplib: every request becomes an
// Api Request and its Response is written back. Loopback by default; bodies
// above the limit get 413 before they are read.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "server/api.h"

namespace sovgrid::server {

class HttpServer {
 public:
  // With `tls_cert` and `tls_key` (PEM files) it serves HTTPS only.
  HttpServer(Api* api, std::size_t max_body_bytes, const std::string& tls_cert = {},
             const std::string& tls_key = {});
  // False when the TLS certificate or key could not be loaded.
  bool valid() const;
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port). Returns the bound port.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop() (from any thread). False if serving failed.
  bool Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sovgrid::server
