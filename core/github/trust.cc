// Which records count (see trust.h).
#include "core/github/trust.h"

#include <map>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"

namespace tasksentinel::github {
namespace {

// Overloaded lambdas for std::visit.
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Whether `t` is a finite time no later than `limit`.
bool NotAfter(absl::Time t, absl::Time limit) {
  return t == absl::InfinitePast() || (t != absl::InfiniteFuture() && t <= limit);
}

// Whether `d` lies in [0, max].
bool Within(absl::Duration d, absl::Duration max) {
  return d >= absl::ZeroDuration() && d <= max;
}

// Whether `parsed` holds a TASK record of a task never handed out.
bool Initial(const ParsedBody& parsed) {
  const TaskMeta* t = parsed.record.has_value() ? std::get_if<TaskMeta>(&*parsed.record) : nullptr;
  return t != nullptr && t->attempts == 0 && t->token == 0 && t->worker_id.empty() &&
         t->epoch == 0 && t->last_error.empty() && t->result_bytes < 0;
}

}  // namespace

absl::string_view ForeignReasonName(ForeignReason reason) {
  switch (reason) {
    case ForeignReason::kMalformed:
      return "malformed";
    case ForeignReason::kNewerSchema:
      return "newer_schema";
    case ForeignReason::kUntrustedAuthor:
      return "untrusted_author";
    case ForeignReason::kUnsigned:
      return "unsigned";
    case ForeignReason::kBadSignature:
      return "bad_signature";
    case ForeignReason::kReplay:
      return "replay";
    case ForeignReason::kOutOfRange:
      return "out_of_range";
    case ForeignReason::kCount:
      break;
  }
  return "unknown";
}

TrustedAuthors::TrustedAuthors(Account self, std::vector<Account> others) : self_(self) {
  accounts_.push_back(self);
  ids_.insert(self.id);
  for (Account& a : others) {
    if (ids_.insert(a.id).second) accounts_.push_back(std::move(a));
  }
}

absl::StatusOr<TrustedAuthors> TrustedAuthors::Resolve(GitHubApi& api,
                                                       const std::vector<std::string>& logins) {
  absl::StatusOr<Account> self = api.CurrentUser();
  if (!self.ok()) {
    return absl::Status(self.status().code(),
                        absl::StrCat("cannot read the token's own account: ",
                                     self.status().message()));
  }
  std::vector<Account> others;
  for (const std::string& login : logins) {
    absl::StatusOr<Account> account = api.GetUser(login);
    if (!account.ok()) {
      if (account.status().code() == absl::StatusCode::kNotFound) {
        return absl::InvalidArgumentError(absl::StrCat(
            "SENTINEL_TRUSTED_AUTHORS: GitHub has no account \"", login,
            "\" (GitHub App bots are written \"name[bot]\")"));
      }
      return absl::Status(account.status().code(),
                          absl::StrCat("SENTINEL_TRUSTED_AUTHORS: cannot look up \"", login,
                                       "\": ", account.status().message()));
    }
    others.push_back(*std::move(account));
  }
  return TrustedAuthors(*std::move(self), std::move(others));
}

RecordScreen::RecordScreen(const RecordSeal* seal, RecordBounds bounds)
    : seal_(seal), bounds_(bounds) {}

void RecordScreen::SetAuthors(TrustedAuthors authors) {
  absl::MutexLock lock(&mu_);
  authors_ = std::move(authors);
}

TrustedAuthors RecordScreen::authors() const {
  absl::MutexLock lock(&mu_);
  return authors_;
}

bool RecordScreen::Trusts(int64_t account_id) const {
  absl::MutexLock lock(&mu_);
  return authors_.Trusts(account_id);
}

bool RecordScreen::InRange(const Record& record, absl::Time server_time) const {
  const absl::Time ahead = server_time + bounds_.clock_slack;
  const RecordBounds& b = bounds_;
  return std::visit(
      Overloaded{
          [&](const RegistrationRecord& r) {
            return r.epoch >= 1 && r.epoch <= b.max_epoch && Within(r.lease, b.max_lease) &&
                   r.max_tasks <= b.max_tasks && NotAfter(r.registered_at, ahead) &&
                   NotAfter(r.next_renewal_at, ahead + b.max_lease) &&
                   NotAfter(r.lease_expires_at, ahead + b.max_lease) &&
                   NotAfter(r.renews_until, ahead + b.max_lease);
          },
          [&](const ClaimRecord& r) {
            return r.epoch >= 1 && r.epoch <= b.max_epoch && Within(r.ttl, b.max_ttl) &&
                   NotAfter(r.lapsed_at, ahead);
          },
          [&](const ReleasedRecord& r) {
            return r.epoch <= b.max_epoch && NotAfter(r.retry_at, ahead + b.max_retry_delay);
          },
          [&](const WorkerMemoryRecord& r) {
            if (r.part < 0 || r.part > 1000) return false;
            for (const auto& [key, item] : r.entries) {
              if (item.written_at == absl::InfinitePast() || !NotAfter(item.written_at, ahead)) {
                return false;
              }
            }
            return true;
          },
          [&](const TaskMeta& t) {
            return t.priority >= -b.max_priority && t.priority <= b.max_priority &&
                   t.max_attempts <= b.max_attempts && t.attempts <= b.max_attempts + 1 &&
                   t.epoch <= b.max_epoch && t.result_bytes >= -1 &&
                   NotAfter(t.not_before, ahead + b.max_retry_delay);
          },
      },
      record);
}

void RecordScreen::ScreenComments(int64_t issue, absl::Time server_time,
                                  const std::vector<const Comment*>& comments,
                                  std::vector<ParsedBody>& parsed,
                                  std::vector<std::optional<ForeignReason>>& reasons) const {
  const TrustedAuthors authors = this->authors();
  reasons.assign(comments.size(), std::nullopt);
  std::set<std::string> nonces;                   // of the records that counted so far
  std::map<std::string, uint64_t> latest_epoch;   // per worker, of registrations that counted
  for (size_t i = 0; i < comments.size(); ++i) {
    ParsedBody& p = parsed[i];
    const Comment& c = *comments[i];
    if (p.outcome == ParseOutcome::kNoRecord) continue;
    std::optional<ForeignReason> reason;
    if (!authors.Trusts(c.author_id)) {
      reason = ForeignReason::kUntrustedAuthor;
    } else if (p.outcome == ParseOutcome::kMalformed) {
      reason = ForeignReason::kMalformed;
    } else if (p.outcome == ParseOutcome::kNewer) {
      reason = ForeignReason::kNewerSchema;
    } else if (p.outcome != ParseOutcome::kRecord || !p.record.has_value()) {
      reason = ForeignReason::kMalformed;
    } else if (p.nonce.empty() || p.sealed_at == absl::InfinitePast()) {
      reason = ForeignReason::kUnsigned;  // not sealed: not written by a sidecar of this version
    } else if (!seal_->Verify(p, issue)) {
      reason = p.sig.empty() ? ForeignReason::kUnsigned : ForeignReason::kBadSignature;
    } else if (nonces.count(p.nonce) > 0 ||
               p.sealed_at < c.created_at - bounds_.max_write_delay) {
      // (created_at, not updated_at: whether anything but a body edit moves updated_at is not
      // documented, and a genuine record is never sealed long before its comment existed.)
      reason = ForeignReason::kReplay;
    } else if (p.sealed_at > c.updated_at + bounds_.clock_slack ||
               !InRange(*p.record, server_time)) {
      reason = ForeignReason::kOutOfRange;
    } else if (const auto* r = std::get_if<RegistrationRecord>(&*p.record)) {
      auto it = latest_epoch.find(r->worker_id);
      if (it != latest_epoch.end() && r->epoch < it->second) {
        reason = ForeignReason::kOutOfRange;  // an epoch going back for one worker
      } else {
        latest_epoch[r->worker_id] = r->epoch;
      }
    }
    if (reason.has_value()) {
      p.record.reset();
      p.outcome = ParseOutcome::kForeign;
      reasons[i] = reason;
    } else {
      nonces.insert(p.nonce);
    }
  }
}

std::optional<ForeignReason> RecordScreen::ScreenIssueBody(int64_t issue, absl::Time server_time,
                                                           ParsedBody& parsed) const {
  std::optional<ForeignReason> reason;
  if (parsed.outcome == ParseOutcome::kNoRecord) return std::nullopt;
  if (parsed.outcome == ParseOutcome::kMalformed) {
    reason = ForeignReason::kMalformed;
  } else if (parsed.outcome == ParseOutcome::kNewer) {
    reason = ForeignReason::kNewerSchema;
  } else if (!parsed.record.has_value() || !std::holds_alternative<TaskMeta>(*parsed.record)) {
    reason = ForeignReason::kMalformed;
  } else if (!seal_->Verify(parsed, issue) && !(Initial(parsed) && seal_->Verify(parsed, 0))) {
    // A task's first record is sealed before its issue has a number (issue 0); it carries only
    // the priority and the attempt limit.
    reason = parsed.sig.empty() ? ForeignReason::kUnsigned : ForeignReason::kBadSignature;
  } else if (!InRange(*parsed.record, server_time)) {
    reason = ForeignReason::kOutOfRange;
  }
  if (reason.has_value()) {
    parsed.record.reset();
    parsed.outcome = ParseOutcome::kForeign;
  }
  return reason;
}

}  // namespace tasksentinel::github
