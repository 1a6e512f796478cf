#include "server/http_server.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace sovgrid::server {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// An error the transport makes itself, in the Api's format.
Response ErrorResponse(int status, const std::string& code, const std::string& message) {
  std::string escaped;
  for (char ch : message) {
    if (ch == '"' || ch == '\\') escaped += '\\';
    escaped += ch;
  }
  return {status,
          "application/json",
          R"({"error":{"code":")" + code + R"(","message":")" + escaped + R"("}})",
          {}};
}

// What the server knows of one TCP (or TLS) connection, from
// MHD_CONNECTION_NOTIFY_STARTED to MHD_CONNECTION_NOTIFY_CLOSED. `since` and
// `handling` are read by the reaper thread, the rest only by the connection's
// polling thread.
struct ConnState {
  int fd = -1;
  // Start of the current deadline: the opening, or the previous response.
  std::atomic<std::int64_t> since_ns{0};
  // A complete request is in its handler (or its response is being queued):
  // the request deadline does not run.
  std::atomic<bool> handling{false};
  bool refused = false;  // over the connection cap: closed at once
  bool linger = false;   // answered before its body was read: closed by the Lingerer
  bool reaped = false;   // shut down by the reaper (under the registry's mutex)
  int requests = 0;      // requests begun on this connection
};

// One request, from the access handler's first call to MHD's completion notice.
// Where a request is: its token being checked (only when it has a body), its
// body being read, in its handler.
enum class Stage { kPrecheck, kBody, kHandle };

struct RequestState {
  Request request;
  Stage stage = Stage::kBody;
  bool has_body = false;            // Content-Length above 0, or Transfer-Encoding
  bool too_large = false;           // the body is, or will be, above the limit
  std::optional<Response> refusal;  // Api::Precheck's
  // Set by the handler thread when its task is done, before it resumes the connection.
  std::atomic<bool> done{false};
  Response response;
};

// Threads running queued tasks; after Drain, Submit refuses (the caller then
// runs the task itself).
class HandlerPool {
 public:
  void Start(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  bool Submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (draining_ || threads_.empty()) return false;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }
  // Runs every task already queued, then ends the threads.
  void Drain() {
    {
      std::lock_guard lock(mu_);
      draining_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return draining_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // draining, and nothing left
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  bool draining_ = false;
};

// Closes connections that were answered before their body was read. Closing
// a socket with unread input makes the kernel send a reset, and a client still
// writing its body would lose the response it has not read yet (HTTP clients
// often write the whole body before reading). So such a socket is kept (a
// duplicate of its descriptor, taken before MHD closes its own) with its
// sending side shut, and what arrives is read and dropped until the client
// closes, for at most kLingerSeconds and kLingerBytes; then it is closed.
class Lingerer {
 public:
  static constexpr double kLingerSeconds = 2;
  static constexpr std::size_t kLingerBytes = std::size_t{64} << 20;
  static constexpr std::size_t kMaxSockets = 256;  // more: closed at once

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  // Takes ownership of `fd`.
  void Add(int fd) {
    ::shutdown(fd, SHUT_WR);
    {
      std::lock_guard lock(mu_);
      if (stop_ || incoming_.size() + count_ >= kMaxSockets) {
        ::close(fd);
        return;
      }
      incoming_.push_back(fd);
    }
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Held {
    int fd;
    std::int64_t deadline_ns;
    std::size_t dropped = 0;
  };
  void Loop() {
    std::vector<Held> held;
    std::vector<pollfd> polled;
    std::vector<char> scratch(65536);
    for (;;) {
      {
        std::unique_lock lock(mu_);
        // Asleep while there is nothing to hold.
        cv_.wait(lock, [&] { return stop_ || !held.empty() || !incoming_.empty(); });
        for (int fd : incoming_)
          held.push_back({fd, NowNs() + static_cast<std::int64_t>(kLingerSeconds * 1e9)});
        incoming_.clear();
        count_ = held.size();
        if (stop_) break;
      }
      polled.clear();
      for (const Held& h : held) polled.push_back({h.fd, POLLIN, 0});
      ::poll(polled.data(), polled.size(), 50);  // 50 ms: the delay for sockets added meanwhile
      const std::int64_t now = NowNs();
      std::size_t kept = 0;
      for (std::size_t i = 0; i < held.size(); ++i) {
        Held& h = held[i];
        bool done = now > h.deadline_ns;
        if (!done && polled[i].revents != 0) {
          const ssize_t n = ::recv(h.fd, scratch.data(), scratch.size(), MSG_DONTWAIT);
          if (n > 0) h.dropped += static_cast<std::size_t>(n);
          done = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || h.dropped > kLingerBytes;
        }
        if (done) {
          ::close(h.fd);
        } else {
          held[kept++] = h;
        }
      }
      held.resize(kept);
    }
    for (const Held& h : held) ::close(h.fd);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> incoming_;
  std::size_t count_ = 0;  // sockets the thread holds
  bool stop_ = false;
  std::thread thread_;
};

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

struct HttpServer::Impl {
  RequestHandler* api = nullptr;
  HttpServerOptions o;
  std::string tls_key_pem, tls_cert_pem;  // kept for the daemon's lifetime
  bool tls = false;
  bool valid = true;
  int listen_fd = -1;

  std::mutex mu;  // guards stop_requested
  std::condition_variable stop_cv;
  bool stop_requested = false;

  // Open connections, for the cap and the reaper.
  std::mutex conns_mu;
  std::unordered_set<ConnState*> conns;

  HandlerPool pool;
  Lingerer lingerer;

  std::int64_t DeadlineNs() const { return static_cast<std::int64_t>(o.request_timeout_s * 1e9); }

  // Queues `r` on `c`; the last request of a connection says `Connection: close`.
  MHD_Result Queue(MHD_Connection* c, const ConnState* cs, const Response& r) {
    MHD_Response* resp = MHD_create_response_from_buffer(
        r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
    if (resp == nullptr) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    for (const auto& [name, value] : r.headers)
      MHD_add_response_header(resp, name.c_str(), value.c_str());
    if (cs != nullptr && o.keepalive_max_requests > 0 && cs->requests >= o.keepalive_max_requests)
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    const MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
    MHD_destroy_response(resp);
    return ok;
  }

  Response TooLarge() const {
    return ErrorResponse(413, "too_large",
                         "request body above the limit of " + std::to_string(o.max_body_bytes) +
                             " bytes (--max-body-mb)");
  }

  static ConnState* ConnOf(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == nullptr ? nullptr : static_cast<ConnState*>(info->socket_context);
  }

  MHD_Result OnAccess(MHD_Connection* c, const char* url, const char* method,
                      const char* upload_data, std::size_t* upload_data_size, void** con_cls) {
    ConnState* cs = ConnOf(c);
    if (cs != nullptr && cs->refused) return MHD_NO;  // over the cap: close
    auto* rs = static_cast<RequestState*>(*con_cls);
    if (rs == nullptr) {
      // First call: the request line and headers only.
      rs = new RequestState;
      *con_cls = rs;
      if (cs != nullptr) ++cs->requests;
      Request& r = rs->request;
      r.method = method;
      r.path = url;  // MHD gives the path without the query, percent-decoded
      MHD_get_connection_values(
          c, MHD_GET_ARGUMENT_KIND,
          [](void* cls, MHD_ValueKind, const char* key, const char* value) {
            // emplace keeps the first value of a repeated key
            static_cast<Request*>(cls)->query.emplace(key, value == nullptr ? "" : value);
            return MHD_YES;
          },
          &r);
      if (const char* a =
              MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))
        r.authorization = a;
      r.forwarded = MHD_lookup_connection_value(c, MHD_HEADER_KIND, kForwardedHeader) != nullptr;
      const char* cl =
          MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (cl != nullptr) {
        unsigned long long n = 0;
        const auto [p, ec] = std::from_chars(cl, cl + std::char_traits<char>::length(cl), n);
        (void)p;
        // A malformed length is MHD's to refuse; one that does not fit is too large.
        rs->too_large =
            (ec == std::errc() && n > o.max_body_bytes) || ec == std::errc::result_out_of_range;
        rs->has_body = ec != std::errc() || n > 0;
      }
      if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        rs->has_body = true;
      // Without a body, Api::Handle checks the token when the request is complete.
      if (!rs->has_body) {
        rs->stage = Stage::kBody;
        return MHD_YES;
      }
      // With one, the token is checked before any of it is read: on a handler
      // thread, as it reads the store. MHD calls again once resumed.
      rs->stage = Stage::kPrecheck;
      return Dispatch(c, cs, rs, [this](RequestState* x) {
        try {
          x->refusal = api->Precheck(x->request);
        } catch (...) {
          x->refusal = ErrorResponse(500, "internal", "internal error");
        }
      });
    }
    if (rs->stage == Stage::kPrecheck) {
      // The call after the precheck, still before the body: a response queued
      // now is sent without reading the body; MHD then closes the connection
      // (and the Lingerer lets the client read the response).
      if (!rs->done.load(std::memory_order_acquire)) return MHD_YES;  // not resumed by us
      rs->stage = Stage::kBody;
      if (rs->refusal || rs->too_large) {
        if (cs != nullptr) cs->linger = true;
        return Queue(c, cs, rs->refusal ? *rs->refusal : TooLarge());
      }
      return MHD_YES;
    }
    if (*upload_data_size > 0) {
      // A chunk of the body (chunked bodies have no length to check up front).
      const std::size_t n = *upload_data_size;
      *upload_data_size = 0;
      if (rs->too_large) return MHD_YES;  // dropped
      if (n > o.max_body_bytes - rs->request.body.size()) {
        // MHD takes no response in the middle of a body: the rest is read
        // and dropped (within the request deadline), then 413 is sent.
        rs->too_large = true;
        std::string().swap(rs->request.body);
        return MHD_YES;
      }
      rs->request.body.append(upload_data, n);
      return MHD_YES;
    }
    if (rs->stage == Stage::kBody) {
      // The request is complete.
      if (rs->too_large) return Queue(c, cs, TooLarge());
      rs->stage = Stage::kHandle;
      return Dispatch(c, cs, rs, [this, cs](RequestState* x) {
        Handle(x);
        // The next request's deadline runs from this response.
        if (cs != nullptr) cs->since_ns.store(NowNs());
      });
    }
    // The call after the handler resumed the connection.
    if (!rs->done.load(std::memory_order_acquire)) return MHD_YES;
    return Queue(c, cs, rs->response);
  }

  // Runs `task(rs)` on a handler thread with the connection suspended (on this
  // thread when the pool is shutting down), then resumes it: MHD calls the
  // access handler again, which finds rs->done.
  template <typename Task>
  MHD_Result Dispatch(MHD_Connection* c, ConnState* cs, RequestState* rs, Task task) {
    rs->done.store(false);
    if (cs != nullptr) cs->handling.store(true);  // the request deadline waits for us
    // Suspended before the task is queued, so that its resume comes after.
    MHD_suspend_connection(c);
    auto run = [c, cs, rs, task] {
      task(rs);
      if (cs != nullptr) cs->handling.store(false);
      rs->done.store(true, std::memory_order_release);
      MHD_resume_connection(c);  // neither rs nor c is touched after this
    };
    if (!pool.Submit(run)) run();
    return MHD_YES;
  }

  void Handle(RequestState* rs) {
    try {
      rs->response = api->Handle(rs->request);
    } catch (...) {
      rs->response = ErrorResponse(500, "internal", "internal error");
    }
    std::string().swap(rs->request.body);
  }

  void OnCompleted(MHD_Connection* c, void** con_cls) {
    delete static_cast<RequestState*>(*con_cls);
    *con_cls = nullptr;
    if (ConnState* cs = ConnOf(c)) {
      cs->since_ns.store(NowNs());
      cs->handling.store(false);
    }
  }

  void OnConnection(MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code) {
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* cs = new ConnState;
      const MHD_ConnectionInfo* info =
          MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
      cs->fd = info == nullptr ? -1 : info->connect_fd;
      cs->since_ns.store(NowNs());
      {
        std::lock_guard lock(conns_mu);
        if (conns.size() >= static_cast<std::size_t>(o.max_connections)) {
          // Closed at once: the client sees the connection end, not a hang.
          cs->refused = true;
          if (cs->fd >= 0) ::shutdown(cs->fd, SHUT_RDWR);
        } else {
          conns.insert(cs);
        }
      }
      *socket_context = cs;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      auto* cs = static_cast<ConnState*>(*socket_context);
      if (cs == nullptr) return;
      if (cs->linger && cs->fd >= 0) {
        const int dup = ::fcntl(cs->fd, F_DUPFD_CLOEXEC, 0);
        if (dup >= 0) lingerer.Add(dup);
      }
      {
        // MHD closes the socket after this notice: holding the mutex, the
        // reaper never shuts down a descriptor that was reused.
        std::lock_guard lock(conns_mu);
        conns.erase(cs);
      }
      delete cs;
      *socket_context = nullptr;
    }
  }

  // Closes the connections whose request is overdue, until Stop.
  void Reap() {
    const auto period =
        std::chrono::duration<double>(std::clamp(o.request_timeout_s / 10, 0.05, 0.5));
    for (;;) {
      {
        std::unique_lock lock(mu);
        if (stop_cv.wait_for(lock, period, [&] { return stop_requested; })) return;
      }
      const std::int64_t now = NowNs(), deadline = DeadlineNs();
      std::lock_guard conns_lock(conns_mu);
      for (ConnState* cs : conns) {
        if (cs->reaped || cs->handling.load() || now - cs->since_ns.load() <= deadline) continue;
        cs->reaped = true;
        // MHD sees the end of the stream and closes the connection itself.
        if (cs->fd >= 0) ::shutdown(cs->fd, SHUT_RDWR);
      }
    }
  }

  static MHD_Result AccessCb(void* cls, MHD_Connection* c, const char* url, const char* method,
                             const char*, const char* upload_data, std::size_t* upload_data_size,
                             void** con_cls) {
    return static_cast<Impl*>(cls)->OnAccess(c, url, method, upload_data, upload_data_size,
                                             con_cls);
  }
  static void CompletedCb(void* cls, MHD_Connection* c, void** con_cls,
                          MHD_RequestTerminationCode) {
    static_cast<Impl*>(cls)->OnCompleted(c, con_cls);
  }
  static void ConnectionCb(void* cls, MHD_Connection* c, void** socket_context,
                           MHD_ConnectionNotificationCode code) {
    static_cast<Impl*>(cls)->OnConnection(c, socket_context, code);
  }

  // Starts a daemon on `fd` (or, with -1, none listening: to check the TLS files).
  MHD_Daemon* StartDaemon(int fd) {
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (fd < 0) flags = MHD_USE_NO_LISTEN_SOCKET;
    if (tls) flags |= MHD_USE_TLS;
    std::vector<MHD_OptionItem> ops;
    auto add = [&](MHD_OPTION opt, intptr_t value, void* ptr = nullptr) {
      ops.push_back({opt, value, ptr});
    };
    if (fd >= 0) {
      add(MHD_OPTION_LISTEN_SOCKET, fd);
      if (o.poll_threads > 1)
        add(MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(o.poll_threads));
      // MHD's own cap is a backstop above ours: connections over our cap are
      // accepted and closed at once (OnConnection), whereas at MHD's cap they
      // would wait unanswered in the listen backlog.
      add(MHD_OPTION_CONNECTION_LIMIT,
          static_cast<intptr_t>(2 * static_cast<std::int64_t>(o.max_connections) + 64));
      add(MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(o.idle_timeout_s));
      if (o.max_connections_per_ip > 0)
        add(MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<intptr_t>(o.max_connections_per_ip));
      add(MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(o.max_header_bytes));
      add(MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&CompletedCb), this);
      add(MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&ConnectionCb), this);
    }
    if (tls) {
      add(MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_pem.data());
      add(MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert_pem.data());
    }
    add(MHD_OPTION_END, 0);
    return MHD_start_daemon(flags, 0, nullptr, nullptr, &AccessCb, this, MHD_OPTION_ARRAY,
                            ops.data(), MHD_OPTION_END);
  }
};

HttpServer::HttpServer(RequestHandler* api, std::size_t max_body_bytes, const std::string& tls_cert,
                       const std::string& tls_key)
    : HttpServer(api, [&] {
        HttpServerOptions o;
        o.max_body_bytes = max_body_bytes;
        o.tls_cert = tls_cert;
        o.tls_key = tls_key;
        return o;
      }()) {}

HttpServer::HttpServer(RequestHandler* api, HttpServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->api = api;
  impl_->o = std::move(options);
  HttpServerOptions& o = impl_->o;
  o.max_connections = std::max(o.max_connections, 1);
  o.handler_threads = std::max(o.handler_threads, 1);
  o.poll_threads = std::max(o.poll_threads, 1);
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    impl_->tls = true;
    auto cert = ReadFile(o.tls_cert), key = ReadFile(o.tls_key);
    impl_->valid = cert.ok() && key.ok() && MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
    if (impl_->valid) {
      impl_->tls_cert_pem = *std::move(cert);
      impl_->tls_key_pem = *std::move(key);
      // The files are parsed when a daemon starts: one that does not listen tells.
      MHD_Daemon* probe = impl_->StartDaemon(-1);
      impl_->valid = probe != nullptr;
      if (probe != nullptr) MHD_stop_daemon(probe);
    }
  }
}

HttpServer::~HttpServer() {
  Stop();
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
}

bool HttpServer::valid() const { return impl_->valid; }

Result<int> HttpServer::Bind(const std::string& host, int port) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0)
    return IoError("cannot listen on " + where + ": unknown host");
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // A large backlog: a burst of new clients waits in the kernel, not for a SYN retry.
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    if (port == 0) return IoError("cannot listen on " + host + ": no free port");
    return IoError("cannot listen on " + where + " (in use, or not an address of this machine)");
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int bound = addr.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port)
                        : ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  impl_->listen_fd = fd;
  return bound;
}

bool HttpServer::Run() {
  Impl& m = *impl_;
  if (m.listen_fd < 0 || !m.valid) return false;
  {
    std::lock_guard lock(m.mu);
    if (m.stop_requested) return true;
  }
  m.pool.Start(m.o.handler_threads);
  MHD_Daemon* daemon = m.StartDaemon(m.listen_fd);
  if (daemon == nullptr) {
    m.pool.Drain();
    return false;
  }
  m.lingerer.Start();
  std::thread reaper([&m] { m.Reap(); });
  {
    std::unique_lock lock(m.mu);
    m.stop_cv.wait(lock, [&] { return m.stop_requested; });
  }
  // No new connections; the requests in the handlers finish (each resumes its
  // connection), later ones are handled on the polling threads; then every
  // connection is closed. MHD must not be stopped with a connection suspended.
  // After quiescing, the listening socket is ours to close (the destructor);
  // if it fails, MHD closes it.
  if (MHD_quiesce_daemon(daemon) == MHD_INVALID_SOCKET) m.listen_fd = -1;
  m.pool.Drain();
  MHD_stop_daemon(daemon);
  reaper.join();
  m.lingerer.Stop();
  return true;
}

void HttpServer::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop_requested = true;
  }
  impl_->stop_cv.notify_all();
}

}  // namespace sovgrid::server
