'use strict';
// Worker: the worker loop, done once. `await new Worker(client).run(handler)` heartbeats at the
// interval the sidecar announces, pulls tasks with NextTask (deadline: the wait plus the call
// timeout), awaits handler(job) for each, and completes the task with the handler's result
// (a string) or fails it with the error's message (retryable unless it is a PermanentError).
// When a heartbeat reports the task's lock lost, job.signal (an AbortSignal) aborts: the handler
// should stop, and the task is not finished by this worker. While the sidecar is unreachable
// (restarting), calls are retried with backoff.

const grpc = require('@grpc/grpc-js');
const {PermanentError} = require('./errors');

// Worth retrying: the sidecar is restarting (a stopping sidecar cancels the calls waiting in
// it), busy or rate limited.
const TRANSIENT = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED, grpc.status.ABORTED, grpc.status.CANCELLED]);

class Job {
  constructor(task, lock) {
    this.task = task;
    this.lock = lock;
    this.token = lock.fencing_token;
    this.controller = new AbortController();
    this.signal = this.controller.signal;
  }
  get cancelled() {
    return this.signal.aborted;
  }
}

class Worker {
  constructor(client, {concurrency = 1, pollWaitMs = 5000, taskTypes = [], maxTasks = 0,
    untilIdle = false} = {}) {
    this.client = client;
    this.concurrency = Math.max(1, concurrency);
    this.pollWaitMs = pollWaitMs;
    this.taskTypes = taskTypes;
    this.maxTasks = maxTasks;
    this.untilIdle = untilIdle;
    this.finished = 0;
    // Running jobs by "task id#token": a task whose lock lapsed may come back to this worker
    // while its first attempt still runs.
    this.active = new Map();
    this.taken = 0;
    this.stopping = false;
    this.wake = null;
  }

  /** Takes no new task; run() resolves once running handlers are done. */
  stop() {
    this.stopping = true;
    if (this.wake) this.wake();
  }

  async run(handler) {
    this.stopping = false;
    const beats = this.heartbeatLoop();
    const loops = [];
    for (let i = 0; i < this.concurrency; ++i) {
      loops.push(this.taskLoop(handler).finally(() => this.stop()));
    }
    const results = await Promise.allSettled(loops);
    this.stop();
    await beats;
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const previous = this.wake;
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        done();
        if (previous) previous();
      };
    });
  }

  /** Checks every running job's lock (renewLock); aborts those whose lock is gone. */
  async verifyLocks() {
    for (const job of [...this.active.values()]) {
      try {
        await this.client.renewLock(job.lock.name, job.token);
      } catch (e) {
        if (e.code === grpc.status.FAILED_PRECONDITION || e.code === grpc.status.NOT_FOUND) {
          job.controller.abort(new Error(`lock ${job.lock.name} lost`));
        }
      }
    }
  }

  async heartbeatLoop() {
    let interval = 1000;
    // A heartbeat whose answer never arrived may have carried the only report of a lost lock,
    // and a new lease epoch means the old lease lapsed: then every job's lock is checked.
    let epoch = null;
    let verify = false;
    for (;;) {
      if (this.stopping && this.active.size === 0) return;
      let wait = interval;
      try {
        const ids = [...new Set([...this.active.values()].map((job) => job.task.id))];
        const beat = await this.client.heartbeat({activeTasks: ids});
        const d = beat.heartbeat_interval;
        const announced = d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : 0;
        if (announced > 0) interval = wait = announced;
        if (epoch !== null && beat.lease_epoch !== epoch) verify = true;
        epoch = beat.lease_epoch;
        if (verify) {
          await this.verifyLocks();
          verify = false;
        }
        for (const lost of beat.lost_locks) {
          for (const job of this.active.values()) {
            if (job.task.id === lost.name &&
                (lost.fencing_token === '0' || lost.fencing_token === job.token)) {
              job.controller.abort(new Error(`lock ${lost.name} lost`));
            }
          }
        }
      } catch (e) {
        wait = Math.min(interval, 500);  // the lease is running out: try again sooner
        verify = true;
      }
      // Sleep, waking early to exit once stopping and idle.
      for (let slept = 0; slept < wait; slept += 50) {
        if (this.stopping && this.active.size === 0) return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, wait - slept)));
      }
    }
  }

  async taskLoop(handler) {
    let backoff = 100;
    while (!this.stopping) {
      if (this.maxTasks && this.taken >= this.maxTasks) return;
      this.taken++;
      let got;
      try {
        got = await this.client.nextTask(this.pollWaitMs, this.taskTypes);
      } catch (e) {
        this.taken--;
        if (!TRANSIENT.has(e.code)) throw e;
        await this.pause(e.retryDelayMs ?? backoff);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      backoff = 100;
      if (got === null) {
        this.taken--;
        if (this.untilIdle) return;
        continue;
      }
      const job = new Job(got.task, got.lock);
      const key = `${job.task.id}#${job.token}`;
      this.active.set(key, job);
      try {
        let outcome;
        try {
          outcome = {result: await handler(job)};
        } catch (e) {
          outcome = {error: e instanceof Error ? e.message : String(e),
            retryable: !(e instanceof PermanentError)};
        }
        await this.finish(job, outcome);
      } finally {
        this.active.delete(key);
      }
    }
  }

  async finish(job, outcome) {
    if (job.cancelled) return;  // the lock is gone: another attempt will run the task
    let backoff = 100;
    for (let attempt = 0; attempt < 10; ++attempt) {
      try {
        if ('error' in outcome) {
          await this.client.failTask(job.task.id, job.token, outcome.error,
              {retryable: outcome.retryable});
        } else {
          await this.client.completeTask(job.task.id, job.token,
              outcome.result === undefined ? '' : String(outcome.result));
        }
        this.finished++;
        return;
      } catch (e) {
        if (!TRANSIENT.has(e.code)) return;  // e.g. FencingTokenStale: the lock was lost meanwhile
        await new Promise((resolve) => setTimeout(resolve, e.retryDelayMs ?? backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }
}

module.exports = {Worker, Job};
