// TypeScript types of @tasksentinel/client (index.js). Messages follow the proto's field names
// (proto/tasksentinel/v1/sentinel.proto); 64-bit integers are strings, enums their names.
import type {ChannelCredentials} from '@grpc/grpc-js';

export interface Duration { seconds: string; nanos: number; }
export interface Timestamp { seconds: string; nanos: number; }

export interface Lock {
  name: string;
  fencing_token: string;
  holder: string;
  acquired_at: Timestamp | null;
  expires_at: Timestamp | null;
  ttl: Duration | null;
  metadata: Record<string, string>;
}

export type TaskState = 'TASK_STATE_UNSPECIFIED' | 'TASK_STATE_QUEUED' | 'TASK_STATE_IN_PROGRESS' |
  'TASK_STATE_DONE' | 'TASK_STATE_DEAD_LETTER';

export interface Task {
  id: string; title: string; body: string; type: string; priority: number; state: TaskState;
  attempts: number; max_attempts: number; created_at: Timestamp | null;
  updated_at: Timestamp | null; not_before: Timestamp | null; worker_id: string;
  last_error: string; result: string;
}

export interface MemoryEntry {
  namespace: string; key: string; value: Buffer; version: string; updated_at: Timestamp | null;
  updated_by: string; expires_at: Timestamp | null;
}

export interface Worker_ {
  worker_id: string; hostname: string; status: string; health: string; max_tasks: number;
  active_tasks: number; available_slots: number; supported_task_types: string[];
  lease_epoch: string; cpu_cores: number; memory_mb: string;
}

export interface HeartbeatResponse {
  lease_expires_at: Timestamp | null; lost_locks: Lock[]; lease_epoch: string;
  heartbeat_interval: Duration | null;
}

export type ReleaseStatus = 'STATUS_RELEASED' | 'STATUS_NOT_HELD' | 'STATUS_HELD_BY_OTHER';

export interface ClientOptions {
  /** Deadline of a non-blocking call, and the margin added to a blocking call's wait. */
  callTimeoutMs?: number;
  /** SENTINEL_API_TOKEN, sent as "authorization: Bearer <token>". */
  apiToken?: string;
  /** Channel credentials (default: insecure, for loopback and unix sockets). */
  credentials?: ChannelCredentials;
  /** Where sentinel.proto and google/rpc/*.proto are (default: bundled, or the repository's). */
  protoDir?: string;
  /** How often createTask retries UNAVAILABLE / DEADLINE_EXCEEDED / RATE_LIMITED. */
  createRetries?: number;
}

export class HeldLock {
  readonly name: string;
  readonly token: string;
  readonly lock: Lock;
  released: boolean;
  /** Releases exactly this instance. */
  release(): Promise<ReleaseStatus>;
}

export interface NewTask {
  title: string; body?: string; type?: string; priority?: number; maxAttempts?: number;
  /** Idempotency key; a fresh UUID when omitted. */
  requestId?: string;
}

export class Client {
  constructor(target?: string, options?: ClientOptions);
  close(): void;
  acquireLock(name: string, options?: {ttlMs?: number; waitMs?: number;
    metadata?: Record<string, string>}): Promise<HeldLock | null>;
  /** Runs fn holding the lock, released by token afterwards; rejects with LockHeld if taken. */
  withLock<T>(name: string, fn: (lock: HeldLock) => Promise<T> | T,
    options?: {waitMs?: number; ttlMs?: number}): Promise<T>;
  renewLock(name: string, token: string, options?: {ttlMs?: number}): Promise<Lock>;
  releaseLock(name: string, token: string): Promise<ReleaseStatus>;
  heartbeat(options?: {activeTasks?: string[]; maxTasks?: number; health?: string}):
    Promise<HeartbeatResponse>;
  getMemory(namespace: string, key: string): Promise<MemoryEntry>;
  setMemory(namespace: string, key: string, value: string | Uint8Array, options?: {
    expectedVersion?: string | number; ttlMs?: number; fencing?: {name: string; token: string};
  }): Promise<MemoryEntry>;
  deleteMemory(namespace: string, key: string,
    options?: {expectedVersion?: string | number}): Promise<boolean>;
  listMemory(namespace: string, prefix?: string): Promise<MemoryEntry[]>;
  createTask(task: NewTask): Promise<Task>;
  nextTask(waitMs?: number, taskTypes?: string[]): Promise<{task: Task; lock: Lock} | null>;
  completeTask(taskId: string, token: string, result?: string): Promise<Task>;
  failTask(taskId: string, token: string, error?: string,
    options?: {retryable?: boolean}): Promise<Task>;
  getTask(taskId: string): Promise<Task>;
  listLocks(): Promise<Lock[]>;
  listWorkers(options?: {includeGone?: boolean}): Promise<Worker_[]>;
  clusterHealth(): Promise<Record<string, unknown>>;
}

export class Job {
  readonly task: Task;
  readonly lock: Lock;
  readonly token: string;
  /** Aborted when the task's lock is lost: stop working, the result would be refused. */
  readonly signal: AbortSignal;
  readonly cancelled: boolean;
}

export interface WorkerOptions {
  concurrency?: number; pollWaitMs?: number; taskTypes?: string[]; maxTasks?: number;
  untilIdle?: boolean;
}

export class Worker {
  constructor(client: Client, options?: WorkerOptions);
  readonly finished: number;
  /** Resolves after stop(), maxTasks, or an empty queue with untilIdle. */
  run(handler: (job: Job) => Promise<string | void> | string | void): Promise<void>;
  stop(): void;
}

export class SentinelError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: string;
  readonly metadata: Record<string, string>;
  readonly retryDelayMs: number | null;
}
export class PermanentError extends Error {}
export class LockHeld extends SentinelError {}
export class FencingTokenStale extends SentinelError {}
export class TaskNotInProgress extends SentinelError {}
export class VersionMismatch extends SentinelError {}
export class RateLimited extends SentinelError {}
export class TooManyCalls extends SentinelError {}
export class ShuttingDown extends SentinelError {}
export class InvalidArgument extends SentinelError {}
export class NotFound extends SentinelError {}
export class Unauthenticated extends SentinelError {}
export class Unavailable extends SentinelError {}
export class DeadlineExceeded extends SentinelError {}
