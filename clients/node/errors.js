'use strict';
// Typed errors of the Task Sentinel client, mapped from the sidecar's google.rpc.ErrorInfo
// reason (proto/tasksentinel/v1/sentinel.proto, "Errors"). Catch LockHeld, FencingTokenStale,
// RateLimited ... instead of matching messages; err.reason is the reason, err.code the gRPC code,
// err.retryDelayMs the RetryInfo delay (RATE_LIMITED), err.metadata the ErrorInfo metadata.

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protobuf = require('protobufjs');

class SentinelError extends Error {
  constructor(code, reason, message, metadata = {}, retryDelayMs = null) {
    super(`${reason}: ${message}`);
    this.name = this.constructor.name;
    this.code = code;
    this.reason = reason;
    this.details = message;
    this.metadata = metadata;
    this.retryDelayMs = retryDelayMs;
  }
}

/** Throw from a Worker handler to fail the task for good (dead-lettered, not retried). */
class PermanentError extends Error {}

const REASONS = [
  'LOCK_HELD', 'FENCING_TOKEN_STALE', 'TASK_NOT_IN_PROGRESS', 'VERSION_MISMATCH', 'RATE_LIMITED',
  'TOO_MANY_CALLS', 'SHUTTING_DOWN', 'INVALID_ARGUMENT', 'NOT_FOUND', 'UNAUTHENTICATED',
  'UNAVAILABLE', 'DEADLINE_EXCEEDED',
];
const byReason = {};
const classes = {};
for (const reason of REASONS) {
  const name = reason.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
  const cls = {[name]: class extends SentinelError {}}[name];
  byReason[reason] = cls;
  classes[name] = cls;
}

let rpcTypes = null;
function richStatusTypes(protoDir) {
  if (rpcTypes === null) {
    const root = new protobuf.Root();
    root.resolvePath = (origin, target) => {
      const local = path.join(protoDir, target);
      return require('fs').existsSync(local) ? local : protobuf.util.path.resolve(origin, target);
    };
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
    rpcTypes = {
      Status: root.lookupType('google.rpc.Status'),
      ErrorInfo: root.lookupType('google.rpc.ErrorInfo'),
      RetryInfo: root.lookupType('google.rpc.RetryInfo'),
    };
  }
  return rpcTypes;
}

/** The SentinelError subclass for a @grpc/grpc-js ServiceError. */
function fromServiceError(err, protoDir) {
  const code = typeof err.code === 'number' ? err.code : grpc.status.UNKNOWN;
  let reason = grpc.status[code] || 'UNKNOWN';
  let metadata = {};
  let retryDelayMs = null;
  const raw = err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  if (raw.length > 0) {
    const t = richStatusTypes(protoDir);
    const status = t.Status.decode(raw[0]);
    for (const any of status.details) {
      const type = any.type_url.split('/').pop();
      if (type === 'google.rpc.ErrorInfo') {
        const info = t.ErrorInfo.decode(any.value);
        reason = info.reason || reason;
        metadata = {...info.metadata};
      } else if (type === 'google.rpc.RetryInfo') {
        const d = t.RetryInfo.decode(any.value).retry_delay || {};
        retryDelayMs = Number(d.seconds || 0) * 1000 + Math.floor((d.nanos || 0) / 1e6);
      }
    }
  }
  const Cls = byReason[reason] || SentinelError;
  return new Cls(code, reason, err.details || err.message || '', metadata, retryDelayMs);
}

module.exports = {SentinelError, PermanentError, fromServiceError, ...classes};
