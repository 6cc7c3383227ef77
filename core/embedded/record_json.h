// RecordWriter and RecordReader: the flat JSON objects the embedded store's records are kept as
// (records.h), written and read with RapidJSON (rapidjson-dev).
//
// Why RapidJSON here: the records are read and written several times per lock or task call, and
// building a JSON document tree for each (as nlohmann/json does, used elsewhere) was the largest
// cost of those calls after gRPC itself (issue #14's profiles). RecordWriter streams the object
// straight into a string; RecordReader parses into RapidJSON's pooled document.
//
// Reading is strict: the text must be one JSON object, valid UTF-8 (parsed iteratively, so deep
// nesting cannot exhaust the stack), and every field asked for must be present with the asked
// type and in range; the first problem is kept and reported as DATA_LOSS naming the record.
//
// Thread safety: each object is used by one thread.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_RECORD_JSON_H_
#define TASK_SENTINEL_CORE_EMBEDDED_RECORD_JSON_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tasksentinel {

// Writes one JSON object, field by field; Finish() returns the text.
class RecordWriter {
 public:
  RecordWriter();

  RecordWriter& Field(const char* key, absl::string_view value);
  RecordWriter& Field(const char* key, const std::string& value) {
    return Field(key, absl::string_view(value));
  }
  RecordWriter& Field(const char* key, const char* value) {
    return Field(key, absl::string_view(value));
  }
  RecordWriter& Field(const char* key, bool value);
  RecordWriter& Field(const char* key, int64_t value);
  RecordWriter& Field(const char* key, uint64_t value);
  RecordWriter& Field(const char* key, int32_t value) { return Field(key, int64_t{value}); }
  RecordWriter& Field(const char* key, uint32_t value) { return Field(key, uint64_t{value}); }
  // `value`, or null when absent.
  RecordWriter& Field(const char* key, const std::optional<int64_t>& value);
  RecordWriter& Field(const char* key, const std::vector<std::string>& values);
  RecordWriter& Field(const char* key, const std::map<std::string, std::string>& values);
  RecordWriter& Field(const char* key, const std::map<std::string, uint32_t>& values);

  // The object's text. Call once, last.
  std::string Finish();

 private:
  void String(absl::string_view s);

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

// Reads fields of one JSON object. Each getter returns the field's value, or a zero value after
// recording the first problem; status() tells whether every read so far succeeded.
class RecordReader {
 public:
  // Parses `data`; `what` names the record kind in errors ("lock", "task", ...).
  RecordReader(absl::string_view what, absl::string_view data);

  std::string String(const char* key);
  bool Bool(const char* key);
  int64_t Int64(const char* key);
  uint64_t Uint64(const char* key);
  int32_t Int32(const char* key);
  uint32_t Uint32(const char* key);
  // nullopt when the field is null.
  std::optional<int64_t> NullableInt64(const char* key);
  std::vector<std::string> StringList(const char* key);
  std::map<std::string, std::string> StringMap(const char* key);
  std::map<std::string, uint32_t> Uint32Map(const char* key);

  // OK, or DATA_LOSS "damaged <what> record: <first problem>".
  absl::Status status() const;
  // Records a problem found by the caller (a field that is present but meaningless).
  void Fail(absl::string_view problem);

 private:
  // The field `key`, or nullptr after recording that it is missing (or the text is no object).
  const rapidjson::Value* Find(const char* key);
  // Records that `key` has the wrong type; returns false.
  bool WrongType(const char* key, const char* want);

  const std::string what_;
  rapidjson::Document doc_;
  std::string problem_;  // empty while every read succeeded
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_RECORD_JSON_H_
