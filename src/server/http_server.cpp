#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

namespace sovgrid::server {

struct HttpServer::Impl {
  std::unique_ptr<httplib::Server> owned;
  httplib::Server& server;
  explicit Impl(std::unique_ptr<httplib::Server> s) : owned(std::move(s)), server(*owned) {}
  Api* api = nullptr;
  int listen_fd = -1;  // the listening socket, once bound
};

namespace {
std::unique_ptr<httplib::Server> MakeServer(const std::string& cert, const std::string& key) {
  if (cert.empty()) return std::make_unique<httplib::Server>();
  return std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
}
}  // namespace

HttpServer::HttpServer(Api* api, std::size_t max_body_bytes, const std::string& tls_cert,
                       const std::string& tls_key)
    : impl_(std::make_unique<Impl>(MakeServer(tls_cert, tls_key))) {
  impl_->api = api;
  impl_->server.set_payload_max_length(max_body_bytes);
  // Small JSON replies: without TCP_NODELAY, delayed ACKs add ~40 ms per request.
  impl_->server.set_tcp_nodelay(true);
  // Enough workers for many keep-alive clients (each holds a worker while connected).
  impl_->server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  // httplib closes a keep-alive connection after 5 requests by default; a client
  // writing its next request at that moment sees a read error.
  impl_->server.set_keep_alive_max_count(100000);
  // Remember the listening socket (the callback runs before bind) to raise its backlog.
  impl_->server.set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    impl_->listen_fd = sock;
  });
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
      [](const httplib::Request&, httplib::Response& out, const std::exception_ptr&) {
        out.status = 500;
        out.set_content(R"({"error":{"code":"internal","message":"internal error"}})",
                        "application/json");
      });
}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::valid() const { return impl_->server.is_valid(); }

Result<int> HttpServer::Bind(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = impl_->server.bind_to_any_port(host);
    if (bound <= 0) return IoError("cannot listen on " + host + ": no free port");
  } else if (!impl_->server.bind_to_port(host, port)) {
    return IoError("cannot listen on " + host + ":" + std::to_string(port) +
                   " (in use, or not an address of this machine)");
  }
  // cpp-httplib listens with a backlog of 5 (a compile-time constant of the
  // library): a burst of new clients then waits a second for a SYN retry.
  // listen() again on the bound socket raises it.
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  return bound;
}

bool HttpServer::Run() { return impl_->server.listen_after_bind(); }

void HttpServer::Stop() {
  if (impl_->server.is_running()) impl_->server.stop();
}

}  // namespace sovgrid::server
