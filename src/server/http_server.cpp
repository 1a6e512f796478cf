#include "server/http_server.h"

#include <httplib.h>

namespace sovgrid::server {

struct HttpServer::Impl {
  httplib::Server server;
  Api* api = nullptr;
};

HttpServer::HttpServer(Api* api, std::size_t max_body_bytes) : impl_(std::make_unique<Impl>()) {
  impl_->api = api;
  impl_->server.set_payload_max_length(max_body_bytes);
  auto handler = [this](const httplib::Request& in, httplib::Response& out) {
    Request r;
    r.method = in.method;
    r.path = in.path;
    for (const auto& [k, v] : in.params) r.query.emplace(k, v);  // the first value of a key
    r.body = in.body;
    r.authorization = in.get_header_value("Authorization");
    const Response resp = impl_->api->Handle(r);
    out.status = resp.status;
    out.set_content(resp.body, resp.content_type);
  };
  impl_->server.Get(".*", handler);
  impl_->server.Post(".*", handler);
  impl_->server.Delete(".*", handler);
  impl_->server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& out, std::exception_ptr) {
        out.status = 500;
        out.set_content(R"({"error":{"code":"internal","message":"internal error"}})",
                        "application/json");
      });
}

HttpServer::~HttpServer() { Stop(); }

Result<int> HttpServer::Bind(const std::string& host, int port) {
  if (port == 0) {
    const int bound = impl_->server.bind_to_any_port(host);
    if (bound <= 0) return IoError("cannot listen on " + host + ": no free port");
    return bound;
  }
  if (!impl_->server.bind_to_port(host, port))
    return IoError("cannot listen on " + host + ":" + std::to_string(port) +
                   " (in use, or not an address of this machine)");
  return port;
}

bool HttpServer::Run() { return impl_->server.listen_after_bind(); }

void HttpServer::Stop() {
  if (impl_->server.is_running()) impl_->server.stop();
}

}  // namespace sovgrid::server
