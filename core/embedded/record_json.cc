// Record JSON with RapidJSON (see record_json.h).
#include "core/embedded/record_json.h"

#include <limits>

#include <rapidjson/error/en.h>

#include "absl/strings/str_cat.h"

namespace tasksentinel {

RecordWriter::RecordWriter() : writer_(buffer_) { writer_.StartObject(); }

void RecordWriter::String(absl::string_view s) {
  writer_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

RecordWriter& RecordWriter::Field(const char* key, absl::string_view value) {
  writer_.Key(key);
  String(value);
  return *this;
}

RecordWriter& RecordWriter::Field(const char* key, bool value) {
  writer_.Key(key);
  writer_.Bool(value);
  return *this;
}

RecordWriter& RecordWriter::Field(const char* key, int64_t value) {
  writer_.Key(key);
  writer_.Int64(value);
  return *this;
}

RecordWriter& RecordWriter::Field(const char* key, uint64_t value) {
  writer_.Key(key);
  writer_.Uint64(value);
  return *this;
}

RecordWriter& RecordWriter::Field(const char* key, const std::optional<int64_t>& value) {
  writer_.Key(key);
  if (value.has_value()) {
    writer_.Int64(*value);
  } else {
    writer_.Null();
  }
  return *this;
}

RecordWriter& RecordWriter::Field(const char* key, const std::vector<std::string>& values) {
  writer_.Key(key);
  writer_.StartArray();
  for (const std::string& v : values) String(v);
  writer_.EndArray();
  return *this;
}

RecordWriter& RecordWriter::Field(const char* key,
                                  const std::map<std::string, std::string>& values) {
  writer_.Key(key);
  writer_.StartObject();
  for (const auto& [k, v] : values) {
    String(k);
    String(v);
  }
  writer_.EndObject();
  return *this;
}

RecordWriter& RecordWriter::Field(const char* key, const std::map<std::string, uint32_t>& values) {
  writer_.Key(key);
  writer_.StartObject();
  for (const auto& [k, v] : values) {
    String(k);
    writer_.Uint(v);
  }
  writer_.EndObject();
  return *this;
}

std::string RecordWriter::Finish() {
  writer_.EndObject();
  return std::string(buffer_.GetString(), buffer_.GetSize());
}

RecordReader::RecordReader(absl::string_view what, absl::string_view data) : what_(what) {
  // Iterative: a deeply nested (damaged) record cannot overflow the stack. Strings must be
  // valid UTF-8, as every string written was.
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag;
  doc_.Parse<kFlags>(data.data(), data.size());
  if (doc_.HasParseError()) {
    problem_ = absl::StrCat("not JSON (", rapidjson::GetParseError_En(doc_.GetParseError()),
                            " at byte ", doc_.GetErrorOffset(), ")");
  } else if (!doc_.IsObject()) {
    problem_ = "not a JSON object";
  }
}

const rapidjson::Value* RecordReader::Find(const char* key) {
  if (!problem_.empty()) return nullptr;
  auto it = doc_.FindMember(key);
  if (it == doc_.MemberEnd()) {
    problem_ = absl::StrCat("field \"", key, "\" is missing");
    return nullptr;
  }
  return &it->value;
}

bool RecordReader::WrongType(const char* key, const char* want) {
  problem_ = absl::StrCat("field \"", key, "\" is not ", want);
  return false;
}

void RecordReader::Fail(absl::string_view problem) {
  if (problem_.empty()) problem_ = std::string(problem);
}

std::string RecordReader::String(const char* key) {
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return {};
  if (!v->IsString()) return WrongType(key, "a string"), std::string();
  return std::string(v->GetString(), v->GetStringLength());
}

bool RecordReader::Bool(const char* key) {
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return false;
  if (!v->IsBool()) return WrongType(key, "a boolean");
  return v->GetBool();
}

int64_t RecordReader::Int64(const char* key) {
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return 0;
  if (!v->IsInt64()) return WrongType(key, "a 64-bit integer"), 0;
  return v->GetInt64();
}

uint64_t RecordReader::Uint64(const char* key) {
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return 0;
  if (!v->IsUint64()) return WrongType(key, "an unsigned 64-bit integer"), 0;
  return v->GetUint64();
}

int32_t RecordReader::Int32(const char* key) {
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return 0;
  if (!v->IsInt()) return WrongType(key, "a 32-bit integer"), 0;
  return v->GetInt();
}

uint32_t RecordReader::Uint32(const char* key) {
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return 0;
  if (!v->IsUint()) return WrongType(key, "an unsigned 32-bit integer"), 0;
  return v->GetUint();
}

std::optional<int64_t> RecordReader::NullableInt64(const char* key) {
  const rapidjson::Value* v = Find(key);
  if (v == nullptr || v->IsNull()) return std::nullopt;
  if (!v->IsInt64()) return WrongType(key, "a 64-bit integer or null"), std::nullopt;
  return v->GetInt64();
}

std::vector<std::string> RecordReader::StringList(const char* key) {
  std::vector<std::string> out;
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return out;
  if (!v->IsArray()) return WrongType(key, "an array"), out;
  out.reserve(v->Size());
  for (const rapidjson::Value& item : v->GetArray()) {
    if (!item.IsString()) return WrongType(key, "an array of strings"), std::vector<std::string>();
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

std::map<std::string, std::string> RecordReader::StringMap(const char* key) {
  std::map<std::string, std::string> out;
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return out;
  if (!v->IsObject()) return WrongType(key, "an object"), out;
  for (const auto& m : v->GetObject()) {
    if (!m.value.IsString()) {
      return WrongType(key, "an object of strings"), std::map<std::string, std::string>();
    }
    out[std::string(m.name.GetString(), m.name.GetStringLength())] =
        std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return out;
}

std::map<std::string, uint32_t> RecordReader::Uint32Map(const char* key) {
  std::map<std::string, uint32_t> out;
  const rapidjson::Value* v = Find(key);
  if (v == nullptr) return out;
  if (!v->IsObject()) return WrongType(key, "an object"), out;
  for (const auto& m : v->GetObject()) {
    if (!m.value.IsUint()) {
      return WrongType(key, "an object of unsigned 32-bit integers"),
             std::map<std::string, uint32_t>();
    }
    out[std::string(m.name.GetString(), m.name.GetStringLength())] = m.value.GetUint();
  }
  return out;
}

absl::Status RecordReader::status() const {
  if (problem_.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("damaged ", what_, " record: ", problem_));
}

}  // namespace tasksentinel
