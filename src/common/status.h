// Status and Result<T>: the one error type sovgrid uses for expected failures.
//
// Contract: a function that can fail for reasons outside the program's control
// (bad input, missing file, an unknown id, a full quota) returns Status or
// Result<T>. Bugs (broken invariants) are asserts, never a Status.
// Both types are cheap to move and carry a code and a human-readable message
// that says what went wrong and where (file:line, JSON path, field). A failure
// about one field of the caller's input also carries that field's path
// (field()), so that a caller reporting it (the API's error "field") never
// recovers it from the message.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sovgrid {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is malformed or out of range
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // a duplicate id
  kFailedPrecondition,  // the state does not allow this now
  kResourceExhausted,   // quota, grant or capacity exhausted
  kIoError,             // the file system or a peer failed
  kInternal,            // an unexpected failure of a dependency
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The input field the failure is about, as a path in the input the failing
  // call was given: "tenant", "jobs[3].accelerators", "$.grants[0].id" (a
  // reader of a whole JSON document starts it with "$"); "" when the failure
  // is not about one field. Whoever passes the input on names its place with
  // WithFieldPrefix.
  const std::string& field() const { return field_; }
  // This status with field() set to `path`.
  Status WithField(std::string path) && {
    field_ = std::move(path);
    return std::move(*this);
  }
  // This status with field() JoinFieldPath(prefix, field()). An OK status is
  // returned unchanged.
  Status WithFieldPrefix(std::string_view prefix) &&;
  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
};

// `prefix` and `field` joined as a path: "jobs[3]" + "tenant" -> "jobs[3].tenant",
// "$.jobs" + "[3]" -> "$.jobs[3]"; either alone when the other is "".
std::string JoinFieldPath(std::string_view prefix, std::string_view field);

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status ResourceExhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(data_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(data_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(data_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(data_));
  }
  // The value, or `fallback` on failure (for callers that treat every failure alike).
  T value_or(T fallback) && { return ok() ? std::get<T>(std::move(data_)) : std::move(fallback); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace sovgrid
