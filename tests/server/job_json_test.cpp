// The API's job JSON: strict, every problem with its JSON path.
#include "server/job_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/json_limits.h"

namespace sovgrid::server {
namespace {

TEST(JobJson, ReadsEveryField) {
  model::Job job;
  const auto p = JobFromJsonText(R"({"id": "j1", "tenant": "kr.univ", "kind": "train",
    "accelerators": 16, "accelerators_per_node": 8, "models": ["H100"], "gang": true,
    "datasets": ["kr-health"], "priority": "high", "preemptible": false, "checkpoint_s": 1800,
    "runtime_s": 7200, "deadline": 1900000000, "replicas": 1, "latency_ms": {"seoul": 20},
    "command": "python train.py"})",
                                 &job);
  ASSERT_TRUE(p.ok()) << p.ToString();
  EXPECT_EQ(job.id, "j1");
  EXPECT_EQ(job.kind, model::JobKind::kTrain);
  EXPECT_EQ(job.accelerators, 16);
  EXPECT_EQ(job.accelerators_per_node, 8);
  EXPECT_EQ(job.accepted_models, std::vector<std::string>{"H100"});
  EXPECT_FALSE(job.preemptible);
  EXPECT_EQ(job.runtime_estimate_s, 7200);
  EXPECT_EQ(job.deadline, 1900000000);
  EXPECT_DOUBLE_EQ(job.latency_slo_ms.at("seoul"), 20);
  // Round trip.
  model::Job again;
  ASSERT_TRUE(JobFromJsonText(JobToJson(job), &again).ok());
  EXPECT_EQ(JobToJson(again), JobToJson(job));
}

TEST(JobJson, FractionOfOneAccelerator) {
  model::Job job;
  ASSERT_TRUE(JobFromJsonText(R"({"id": "s", "tenant": "t", "fraction": 0.25})", &job).ok());
  EXPECT_EQ(job.accelerator_milli, 250);
  model::Job two;
  const auto p =
      JobFromJsonText(R"({"id": "s", "tenant": "t", "fraction": 0.5, "accelerators": 2})", &two);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.messages[0],
            "$.fraction: a fraction of an accelerator must be asked for one accelerator");
}

TEST(JobJson, EveryProblemWithItsPath) {
  const auto body = nlohmann::json::parse(R"({"jobs": [{"id": "ok", "tenant": "t"},
    {"tenant": 5, "accelerators": "two", "gpus": 3, "models": ["H100", 7],
     "latency_ms": {"seoul": -1}, "kind": "dance", "gang": "yes", "fraction": 2}]})");
  model::Job first, second;
  EXPECT_TRUE(JobFromJson(body["jobs"][0], "$.jobs[0]", &first).ok());
  const auto p = JobFromJson(body["jobs"][1], "$.jobs[1]", &second);
  const std::vector<std::string> expected = {
      "$.jobs[1].id: missing (required)",
      "$.jobs[1].tenant: expected a string, found 5",
      "$.jobs[1].kind: expected one of train, finetune, batch, service, found \"dance\"",
      "$.jobs[1].accelerators: expected an integer in 1..1000000, found \"two\"",
      "$.jobs[1].fraction: expected a number in 0.001..1.0, found 2",
      "$.jobs[1].models[1]: expected a non-empty string, found 7",
      "$.jobs[1].gang: expected true or false, found \"yes\"",
      "$.jobs[1].latency_ms.seoul: expected a positive number, found -1",
      "$.jobs[1].gpus: unknown field",
  };
  EXPECT_EQ(p.messages, expected);
}

TEST(JobJson, NotAnObjectAndMalformedText) {
  model::Job job;
  EXPECT_EQ(JobFromJson(nlohmann::json::array(), "$", &job).messages[0],
            "$: expected a job object, found []");
  // Malformed text: one problem with where it went wrong.
  EXPECT_EQ(
      JobFromJsonText("{\"id\": ", &job).messages[0].rfind("$: malformed JSON at byte 8 (", 0), 0u)
      << JobFromJsonText("{\"id\": ", &job).messages[0];
  EXPECT_EQ(JobFromJsonText(std::string("\x00\x01garbage", 9), &job)
                .messages[0]
                .rfind("$: malformed JSON at byte 1 (", 0),
            0u);
}

// ------------------------------------------------------------ bounded parsing (issue 14)

// 80,000 '[' once ended the daemon (recursion in nlohmann::json); the depth
// is checked before nlohmann sees the text.
TEST(JsonLimits, DeepNestingIsRefusedWithWhere) {
  const std::string deep = std::string(80'000, '[') + std::string(80'000, ']');
  auto r = ParseJsonBounded(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "$: nesting deeper than 64 at byte 64");
  model::Job job;
  EXPECT_EQ(JobFromJsonText(deep, &job).messages,
            std::vector<std::string>{"$: nesting deeper than 64 at byte 64"});
  const std::string objects = R"({"jobs": )" + std::string(100, '{');
  EXPECT_EQ(ParseJsonBounded(objects).status().message(), "$: nesting deeper than 64 at byte 72");
}

TEST(JsonLimits, DepthAtTheLimitParses) {
  EXPECT_TRUE(ParseJsonBounded(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_FALSE(ParseJsonBounded(std::string(65, '[') + std::string(65, ']')).ok());
  JsonLimits two;
  two.max_depth = 2;
  EXPECT_TRUE(ParseJsonBounded(R"({"a": [1, 2]})", two).ok());
  EXPECT_FALSE(ParseJsonBounded(R"({"a": [[1]]})", two).ok());
}

// Brackets inside strings, escaped quotes included, are not nesting.
TEST(JsonLimits, BracketsInStringsAreNotNesting) {
  const std::string text = R"({"a": ")" + std::string(1000, '[') + R"(\"[[[\\", "b": [")" +
                           std::string(1000, '{') + R"("]})";
  auto r = ParseJsonBounded(text);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["a"].get<std::string>().size(), 1000u + 5u);
  // Unbalanced closers are nlohmann's to report, not a negative depth.
  EXPECT_FALSE(ParseJsonBounded("]]]]" + std::string(70, '[')).ok());
  EXPECT_EQ(ParseJsonBounded("]]]]" + std::string(70, '[')).status().message(),
            "$: nesting deeper than 64 at byte 68");
}

// Durations at most 10 years, deadlines by 2100 (issue 14).
TEST(JobJson, FarDeadlinesAndLongRuntimesAreOutOfRange) {
  model::Job job;
  const auto p = JobFromJsonText(
      R"({"id": "x", "tenant": "t", "runtime_s": 400000000, "deadline": 253402214400})", &job);
  ASSERT_EQ(p.messages.size(), 2u) << p.ToString();
  EXPECT_EQ(p.messages[0].rfind("$.runtime_s: expected an integer in 0..315576000", 0), 0u)
      << p.messages[0];
  // A deadline is a time (model/job_schema.h): the message is the TOML reader's.
  EXPECT_EQ(p.messages[1],
            "$.deadline: expected a time from 1970-01-01 to 2100-12-31 (Unix seconds "
            "0..4133980799), found 253402214400 s");
}

TEST(JsonLimits, SizeLimit) {
  JsonLimits small;
  small.max_bytes = 10;
  auto r = ParseJsonBounded(R"({"id": "0123456789"})", small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "$: document of 20 bytes, more than the limit of 10");
  EXPECT_TRUE(ParseJsonBounded("[1, 2]", small).ok());
}

TEST(JobJson, IdsAreNamesFromASafeAlphabet) {
  for (const char* good : {"a", "Train-1.v2_final", "0x"})
    EXPECT_TRUE(CheckJobName(good).ok()) << good;
  for (const std::string& bad :
       {std::string(), std::string("a/b"), std::string("a b"), std::string("a\nb"),
        std::string("."), std::string(".."), std::string("-x"), std::string("\x1b[2J"),
        std::string("caf\xc3\xa9"), std::string(kMaxJobNameBytes + 1, 'x')})
    EXPECT_FALSE(CheckJobName(bad).ok()) << bad;
  EXPECT_TRUE(CheckJobName(std::string(kMaxJobNameBytes, 'x')).ok());
  model::Job job;
  const auto p = JobFromJsonText(R"({"id": "a/b", "tenant": "t"})", &job);
  ASSERT_EQ(p.messages.size(), 1U) << p.ToString();
  EXPECT_EQ(p.messages[0].rfind("$.id: ", 0), 0U) << p.messages[0];
  EXPECT_EQ(JobKey("kr.univ", "j1"), "kr.univ/j1");
  EXPECT_EQ(JobNameOfKey("kr.univ/j1"), "j1");
}

}  // namespace
}  // namespace sovgrid::server
