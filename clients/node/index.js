'use strict';
// The Node.js client of the Task Sentinel sidecar: a thin promise layer over @grpc/grpc-js and
// the API's proto (loaded at run time with @grpc/proto-loader). Every call has a deadline (the
// call timeout, plus the wait for blocking calls), sends the bearer token when given, and
// rejects with a typed SentinelError (errors.js). Lists are read to their last page. createTask
// always sends a requestId (a new UUID unless given) and retries UNAVAILABLE and
// DEADLINE_EXCEEDED, so a lost answer never creates a second task. 64-bit numbers (fencing
// tokens, versions) are strings. The channel reconnects by itself after a sidecar restart.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const errors = require('./errors');
const {Worker, Job} = require('./worker');

/** The directory holding tasksentinel/v1/sentinel.proto and google/rpc/*.proto. */
function defaultProtoDir() {
  if (process.env.TASKSENTINEL_PROTO_DIR) return process.env.TASKSENTINEL_PROTO_DIR;
  const bundled = path.join(__dirname, 'proto');  // in a packed package
  if (fs.existsSync(path.join(bundled, 'tasksentinel'))) return bundled;
  return path.join(__dirname, '..', '..', 'proto');  // in the repository
}

function loadApi(protoDir) {
  const def = protoLoader.loadSync('tasksentinel/v1/sentinel.proto', {
    includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true,
  });
  return grpc.loadPackageDefinition(def).tasksentinel.v1;
}

function duration(ms) {
  const total = Math.max(0, Math.round(ms || 0));
  return {seconds: String(Math.floor(total / 1000)), nanos: (total % 1000) * 1e6};
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A lock held by this worker; release() releases exactly this instance. */
class HeldLock {
  constructor(client, lock) {
    this.client = client;
    this.lock = lock;
    this.name = lock.name;
    this.token = lock.fencing_token;
    this.released = false;
  }
  async release() {
    if (this.released) return 'STATUS_NOT_HELD';
    this.released = true;
    return this.client.releaseLock(this.name, this.token);
  }
}

class Client {
  constructor(target = '127.0.0.1:50051', options = {}) {
    this.protoDir = options.protoDir || defaultProtoDir();
    const api = loadApi(this.protoDir);
    this.stub = new api.SentinelService(target, options.credentials || grpc.credentials.createInsecure());
    this.callTimeoutMs = options.callTimeoutMs ?? 10000;
    this.createRetries = options.createRetries ?? 5;
    this.apiToken = options.apiToken || '';
  }

  close() {
    this.stub.close();
  }

  call(method, request, waitMs = 0) {
    const metadata = new grpc.Metadata();
    if (this.apiToken) metadata.set('authorization', `Bearer ${this.apiToken}`);
    const deadline = new Date(Date.now() + this.callTimeoutMs + (waitMs || 0));
    return new Promise((resolve, reject) => {
      this.stub[method](request, metadata, {deadline}, (err, response) => {
        if (err) reject(errors.fromServiceError(err, this.protoDir));
        else resolve(response);
      });
    });
  }

  async allPages(method, request, field) {
    const out = [];
    for (;;) {
      const resp = await this.call(method, request);
      out.push(...resp[field]);
      if (!resp.next_page_token) return out;
      request = {...request, page_token: resp.next_page_token};
    }
  }

  // --- Locks.

  /** The lock as a HeldLock when acquired within waitMs, else null. */
  async acquireLock(name, {ttlMs = 0, waitMs = 0, metadata = {}} = {}) {
    const resp = await this.call('AcquireLock',
        {name, ttl: duration(ttlMs), wait_timeout: duration(waitMs), metadata}, waitMs);
    return resp.acquired ? new HeldLock(this, resp.lock) : null;
  }

  /** Runs fn(heldLock) holding lock `name`; releases it (by token) afterwards. LockHeld when
   * another holder still has it after waitMs. */
  async withLock(name, fn, {waitMs = 0, ttlMs = 0} = {}) {
    const held = await this.acquireLock(name, {waitMs, ttlMs});
    if (held === null) {
      throw new errors.LockHeld(grpc.status.FAILED_PRECONDITION, 'LOCK_HELD', `lock ${name} is held`, {name});
    }
    try {
      return await fn(held);
    } finally {
      if (!held.released) await held.release().catch(() => {});
    }
  }

  async renewLock(name, token, {ttlMs = 0} = {}) {
    return (await this.call('RenewLock', {name, fencing_token: token, ttl: duration(ttlMs)})).lock;
  }

  /** 'STATUS_RELEASED', 'STATUS_NOT_HELD' or 'STATUS_HELD_BY_OTHER'. */
  async releaseLock(name, token) {
    return (await this.call('ReleaseLock', {name, fencing_token: token})).status;
  }

  async heartbeat({activeTasks = [], maxTasks = 0, health = 'WORKER_HEALTH_HEALTHY'} = {}) {
    return this.call('Heartbeat', {active_tasks: activeTasks, max_tasks: maxTasks, health});
  }

  // --- Memory.

  async getMemory(namespace, key) {
    return (await this.call('GetMemory', {namespace, key})).entry;
  }

  async setMemory(namespace, key, value, {expectedVersion, ttlMs = 0, fencing} = {}) {
    const req = {namespace, key, value: Buffer.from(value), ttl: duration(ttlMs)};
    if (expectedVersion !== undefined) req.expected_version = String(expectedVersion);
    if (fencing) req.fencing = {name: fencing.name, token: fencing.token};
    return (await this.call('SetMemory', req)).entry;
  }

  async deleteMemory(namespace, key, {expectedVersion} = {}) {
    const req = {namespace, key};
    if (expectedVersion !== undefined) req.expected_version = String(expectedVersion);
    return (await this.call('DeleteMemory', req)).deleted;
  }

  async listMemory(namespace, prefix = '') {
    return this.allPages('ListMemory', {namespace, prefix}, 'entries');
  }

  // --- Tasks.

  /** Enqueues a task, safe to retry (see the file comment). */
  async createTask({title, body = '', type = '', priority = 0, maxAttempts = 0, requestId} = {}) {
    const req = {title, body, type, priority, max_attempts: maxAttempts,
      request_id: requestId || crypto.randomUUID()};
    let backoff = 100;
    for (let attempt = 0; ; ++attempt) {
      try {
        return (await this.call('CreateTask', req)).task;
      } catch (e) {
        const transient = e.code === grpc.status.UNAVAILABLE ||
            e.code === grpc.status.DEADLINE_EXCEEDED || e.reason === 'RATE_LIMITED';
        if (!transient || attempt >= this.createRetries) throw e;
        await sleep(e.retryDelayMs ?? backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** {task, lock} handed to this worker, or null when none came within waitMs. */
  async nextTask(waitMs = 0, taskTypes = []) {
    const resp = await this.call('NextTask',
        {task_types: taskTypes, wait_timeout: duration(waitMs)}, waitMs);
    return resp.task ? {task: resp.task, lock: resp.lock} : null;
  }

  async completeTask(taskId, token, result = '') {
    return (await this.call('CompleteTask', {task_id: taskId, fencing_token: token, result})).task;
  }

  async failTask(taskId, token, error = '', {retryable = true} = {}) {
    return (await this.call('FailTask',
        {task_id: taskId, fencing_token: token, error, retryable})).task;
  }

  async getTask(taskId) {
    return (await this.call('GetTask', {task_id: taskId})).task;
  }

  // --- Cluster.

  async listLocks() {
    return this.allPages('ListLocks', {}, 'locks');
  }

  async listWorkers({includeGone = false} = {}) {
    return this.allPages('ListWorkers', {include_gone: includeGone}, 'workers');
  }

  async clusterHealth() {
    return this.call('GetClusterHealth', {});
  }
}

module.exports = {Client, HeldLock, Worker, Job, ...errors};
