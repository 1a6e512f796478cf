// `sovgrid serve`'s connection handling as the real binary on loopback
// (docs/api.md "Limits"): idle and slowloris connections do not starve other
// clients, slow requests are cut off at their deadline, tokens are checked
// before bodies are read, bodies are bounded, the connection cap refuses at
// once. Timing bounds are loose (seconds): they tell a hang from an answer.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "testing/daemon.h"
#include "testing/raw_http.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ConnectLoopback;
using testing::RawResponse;
using testing::ReadResponse;
using testing::SendAll;
using testing::WaitClosed;
using Clock = std::chrono::steady_clock;

const std::string kBinary = SOVGRID_BINARY;
const std::string kScenario = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml";

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Connections that hold a slot and say little: `idle` send nothing, `slow`
// send a request line and then one header line every `interval_s` (slowloris),
// never finishing their request. Closed on destruction.
class Flood {
 public:
  Flood(int port, int idle, int slow, double interval_s) {
    for (int i = 0; i < idle; ++i) idle_.push_back(ConnectLoopback(port));
    for (int i = 0; i < slow; ++i) {
      const int fd = ConnectLoopback(port);
      SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      slow_.push_back(fd);
    }
    sender_ = std::thread([this, interval_s] {
      int line = 0;
      while (!stop_) {
        for (int fd : slow_) SendAll(fd, "X-Slow-" + std::to_string(line) + ": 1\r\n");
        ++line;
        for (int i = 0; i < 10 && !stop_; ++i)
          std::this_thread::sleep_for(std::chrono::duration<double>(interval_s / 10));
      }
    });
  }
  ~Flood() {
    stop_ = true;
    sender_.join();
    for (int fd : idle_) ::close(fd);
    for (int fd : slow_) ::close(fd);
  }
  const std::vector<int>& idle() const { return idle_; }
  const std::vector<int>& slow() const { return slow_; }

 private:
  std::vector<int> idle_, slow_;
  std::atomic<bool> stop_{false};
  std::thread sender_;
};

class ServeLimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);  // writes to connections the daemon closed
    testing::RaiseFileLimit();
  }
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sovgrid-limits-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    daemon_.reset();
    fs::remove_all(dir_);
  }
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "serve",    "--scenario", kScenario, "--data-dir", (dir_ / "data").string(),
        "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<testing::Daemon>(kBinary, args, (dir_ / "serve.log").string());
    port_ = daemon_->WaitForPort();
    ASSERT_GT(port_, 0) << daemon_->Log();
    std::ifstream in(dir_ / "data" / "admin.token");
    std::getline(in, admin_);
    ASSERT_FALSE(admin_.empty());
  }
  // One request on a new connection; its response (status 0: none in `timeout_s`).
  RawResponse Exchange(const std::string& raw, double timeout_s = 10) {
    const int fd = ConnectLoopback(port_);
    if (fd < 0) return {};
    RawResponse r;
    if (SendAll(fd, raw)) r = ReadResponse(fd, timeout_s);
    ::close(fd);
    return r;
  }
  std::string Post(const std::string& path, const std::string& body, bool auth = true) {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
           (auth ? "Authorization: Bearer " + admin_ + "\r\n" : "") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  static std::string Get(const std::string& path) {
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  }
  static json ErrorOf(const RawResponse& r) {
    const json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"] : json();
  }

  fs::path dir_;
  std::unique_ptr<testing::Daemon> daemon_;
  int port_ = -1;
  std::string admin_;
};

TEST_F(ServeLimitsTest, AnswersWhileIdleAndSlowlorisConnectionsAreOpen) {
  Start();
  Flood flood(port_, 300, 20, 0.5);
  for (int fd : flood.idle()) ASSERT_GE(fd, 0);
  for (int fd : flood.slow()) ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // every connection accepted
  for (int i = 0; i < 5; ++i) {
    auto t = Clock::now();
    const RawResponse health = Exchange(Get("/healthz"));
    EXPECT_EQ(health.status, 200) << health.headers;
    EXPECT_LT(SecondsSince(t), 2.0);
    t = Clock::now();
    const RawResponse submitted = Exchange(
        Post("/v1/jobs", json({{"id", "j" + std::to_string(i)}, {"tenant", "startup"}}).dump()));
    EXPECT_EQ(submitted.status, 201) << submitted.headers << submitted.body;
    EXPECT_LT(SecondsSince(t), 2.0);
  }
}

TEST_F(ServeLimitsTest, RequestsNotCompleteWithinTheDeadlineAreClosed) {
  Start({"--request-timeout-s", "2", "--idle-timeout-s", "60"});
  const auto start = Clock::now();
  Flood flood(port_, 1, 5, 0.3);  // the slow ones are never silent for long
  std::vector<int> fds = flood.slow();
  fds.push_back(flood.idle()[0]);
  for (int fd : fds) {
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(WaitClosed(fd, std::max(0.0, 10 - SecondsSince(start))))
        << "still open after " << SecondsSince(start) << " s";
  }
  // A keep-alive client that completes each request in time is served across
  // several deadlines: the deadline restarts after each response.
  const int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(SendAll(fd, Get("/healthz"))) << "request " << i;
    const RawResponse r = ReadResponse(fd, 10);
    ASSERT_EQ(r.status, 200) << "request " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ::close(fd);
}

TEST_F(ServeLimitsTest, TheTokenIsCheckedBeforeTheBodyIsRead) {
  Start();
  const int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  // Announces 100 MB and sends a few bytes: the refusal comes without the rest.
  ASSERT_TRUE(SendAll(fd,
                      "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nContent-Length: 100000000\r\n\r\n{\"id\": "));
  const RawResponse r = ReadResponse(fd, 5);
  EXPECT_EQ(r.status, 401) << r.headers;
  EXPECT_EQ(ErrorOf(r)["code"], "unauthenticated") << r.body;
  EXPECT_TRUE(WaitClosed(fd, 5)) << "the unread body must not be waited for";
  ::close(fd);
  EXPECT_EQ(Exchange(Get("/healthz")).status, 200);
}

TEST_F(ServeLimitsTest, BodiesAboveTheLimitGet413WithAJsonError) {
  Start({"--max-body-mb", "1"});
  // Content-Length above the limit: refused from the headers.
  int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              admin_ + "\r\nContent-Length: 2000000\r\n\r\n"));
  RawResponse r = ReadResponse(fd, 5);
  EXPECT_EQ(r.status, 413) << r.headers;
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(ErrorOf(r)["code"], "too_large") << r.body;
  ::close(fd);
  // A chunked body passing the limit.
  fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              admin_ + "\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk(64 << 10, ' ');
  for (int i = 0; i < 24; ++i) ASSERT_TRUE(SendAll(fd, "10000\r\n" + chunk + "\r\n"));
  ASSERT_TRUE(SendAll(fd, "0\r\n\r\n"));
  r = ReadResponse(fd, 5);
  EXPECT_EQ(r.status, 413) << r.headers;
  EXPECT_EQ(ErrorOf(r)["code"], "too_large") << r.body;
  ::close(fd);
  // Within the limit, the body reaches the API.
  r = Exchange(Post("/v1/jobs", std::string(900 << 10, ' ')));
  EXPECT_EQ(r.status, 400) << r.headers;
  EXPECT_EQ(ErrorOf(r)["code"], "invalid_argument") << r.body;
  EXPECT_NE(ErrorOf(r)["message"].get<std::string>().find("malformed JSON"), std::string::npos)
      << r.body;
}

TEST_F(ServeLimitsTest, BodyLimitsAbove64MiBAreHonoured) {
  Start({"--max-body-mb", "80"});
  RawResponse r = Exchange(Post("/v1/jobs", std::string(70 << 20, ' ')), 30);
  EXPECT_EQ(r.status, 400) << r.headers;
  EXPECT_EQ(ErrorOf(r)["code"], "invalid_argument") << r.body;
  EXPECT_NE(ErrorOf(r)["message"].get<std::string>().find("malformed JSON"), std::string::npos)
      << r.body;
  const int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              admin_ + "\r\nContent-Length: " + std::to_string(81 << 20) +
                              "\r\n\r\n"));
  r = ReadResponse(fd, 5);
  EXPECT_EQ(r.status, 413) << r.headers;
  ::close(fd);
}

TEST_F(ServeLimitsTest, ConnectionsBeyondTheCapAreClosedAtOnce) {
  Start({"--max-connections", "50"});
  std::vector<int> held, excess;
  for (int i = 0; i < 50; ++i) held.push_back(ConnectLoopback(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // all 50 accepted
  for (int i = 0; i < 20; ++i) excess.push_back(ConnectLoopback(port_));
  for (int fd : held) ASSERT_GE(fd, 0);
  const auto start = Clock::now();
  for (int fd : excess) {
    // Accepted by the kernel, then closed by the daemon without a request.
    if (fd >= 0) {
      EXPECT_TRUE(WaitClosed(fd, std::max(0.0, 5 - SecondsSince(start))));
    }
  }
  for (int fd : held) {
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "a connection within the cap was closed";
  }
  for (int fd : excess) ::close(fd);
  // Serving goes on as soon as slots are free.
  for (int i = 0; i < 10; ++i) ::close(held[static_cast<std::size_t>(i)]);
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    status = Exchange(Get("/healthz"), 2).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200);
  for (std::size_t i = 10; i < held.size(); ++i) ::close(held[i]);
}

TEST_F(ServeLimitsTest, KeepAliveConnectionsEndAfterTheirLastRequest) {
  Start({"--keepalive-max-requests", "3"});
  const int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(SendAll(fd, Get("/healthz")));
    const RawResponse r = ReadResponse(fd, 5);
    ASSERT_EQ(r.status, 200) << "request " << i;
    EXPECT_EQ(r.Header("Connection") == "close", i == 3) << r.headers;
  }
  EXPECT_TRUE(WaitClosed(fd, 5));
  ::close(fd);
}

TEST_F(ServeLimitsTest, LimitsAreReadFromTheConfigFile) {
  const fs::path config = dir_ / "serve.toml";
  std::ofstream(config) << "max_connections = 5\nrequest_timeout_s = 1.5\nidle_timeout_s = 60\n"
                           "keepalive_max_requests = 2\n";
  Start({"--config", config.string()});
  const int fd = ConnectLoopback(port_);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(WaitClosed(fd, 10));  // silent past request_timeout_s, not idle_timeout_s
  ::close(fd);
}

}  // namespace
}  // namespace sovgrid
