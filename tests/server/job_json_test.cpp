// The API's job JSON: strict, every problem with its JSON path.
#include "server/job_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  EXPECT_EQ(JobFromJsonText("{\"id\": ", &job).messages[0], "$: malformed JSON");
  EXPECT_EQ(JobFromJsonText(std::string("\x00\x01garbage", 9), &job).messages[0],
            "$: malformed JSON");
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
