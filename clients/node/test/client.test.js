'use strict';
// The Node client against real sidecar processes (SENTINEL_BIN): typed errors, withLock,
// idempotent createTask, and the async worker loop.
const assert = require('node:assert/strict');
const {spawn} = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const {test, after} = require('node:test');
const ts = require('..');

const SENTINEL_BIN = process.env.SENTINEL_BIN ||
    path.join(__dirname, '..', '..', '..', 'bazel-bin', 'service', 'sentinel');
const dir = fs.mkdtempSync(path.join(process.env.TEST_TMPDIR || os.tmpdir(), 'node-client-'));
const sidecars = [];
let lastProc = null;  // the latest sidecar started

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startSidecar(worker, dataDir, fixedAddr = null) {
  const addr = fixedAddr || `127.0.0.1:${await freePort()}`;
  const log = fs.openSync(path.join(dataDir, `${worker}.log`), 'w');
  const proc = spawn(SENTINEL_BIN, [], {
    stdio: ['ignore', log, log],
    env: {PATH: process.env.PATH, HOME: dataDir, WORKER_ID: worker, SENTINEL_GRPC_ADDR: addr,
      SENTINEL_DATA_DIR: dataDir, SENTINEL_HTTP_ADDR: '', SENTINEL_POLL_INTERVAL_MS: '10',
      HEARTBEAT_INTERVAL_MS: '200', STALE_WORKER_THRESHOLD_MS: '1500', LOCK_DELAY_MS: '0',
      TASK_RETRY_BACKOFF_MS: '50'},
  });
  sidecars.push(proc);
  lastProc = proc;
  const client = new ts.Client(addr, {callTimeoutMs: 5000});
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      await client.clusterHealth();
      return client;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function freshDir(name) {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  return d;
}

after(() => {
  for (const p of sidecars) p.kill('SIGTERM');
});

test('errors are typed by their ErrorInfo reason', async () => {
  const c = await startSidecar('worker-a', freshDir('errors'));
  await assert.rejects(c.getTask('no-such-task'), (e) => e instanceof ts.NotFound && e.reason === 'NOT_FOUND');
  await c.setMemory('global', 'k', 'v', {expectedVersion: 0});
  await assert.rejects(c.setMemory('global', 'k', 'v', {expectedVersion: 0}), ts.VersionMismatch);
  const held = await c.acquireLock('res');
  assert.equal(await held.release(), 'STATUS_RELEASED');
  await assert.rejects(c.renewLock('res', held.token),
      (e) => e instanceof ts.FencingTokenStale && e.metadata.name === 'res');
  c.close();
});

test('withLock releases by token and reports a held lock', async () => {
  const d = freshDir('locks');
  const a = await startSidecar('worker-a', d);
  const b = await startSidecar('worker-b', d);
  const token = await a.withLock('deploy', async (held) => {
    await assert.rejects(b.withLock('deploy', () => assert.fail('both hold it'), {waitMs: 200}), ts.LockHeld);
    await a.setMemory('global', 'deployed-by', 'a', {fencing: held});
    return held.token;
  });
  assert.deepEqual(await a.listLocks(), []);
  await b.withLock('deploy', async (theirs) => assert.ok(BigInt(theirs.token) > BigInt(token)));
  a.close();
  b.close();
});

test('createTask with a requestId creates once', async () => {
  const c = await startSidecar('worker-a', freshDir('idempotent'));
  const first = await c.createTask({title: 'build', requestId: 'node-req-1'});
  const again = await c.createTask({title: 'build', requestId: 'node-req-1'});
  assert.equal(again.id, first.id);
  const other = await c.createTask({title: 'build'});
  assert.notEqual(other.id, first.id);
  assert.equal((await c.clusterHealth()).tasks_queued, 2);
  c.close();
});

test('the worker loop completes, fails and heartbeats', async () => {
  const c = await startSidecar('worker-a', freshDir('worker'));
  const ok = await c.createTask({title: 'ok'});
  const bad = await c.createTask({title: 'permanent', maxAttempts: 5});
  const slow = await c.createTask({title: 'slow', priority: 10});
  let slowAborted = null;
  const worker = new ts.Worker(c, {untilIdle: true, pollWaitMs: 500});
  await worker.run(async (job) => {
    if (job.task.title === 'permanent') throw new ts.PermanentError('cannot do it');
    if (job.task.title === 'slow') {
      // Twice the lease: only the worker's heartbeats keep the lock.
      await new Promise((r) => setTimeout(r, 3000));
      slowAborted = job.cancelled;
    }
    return `done ${job.task.id}`;
  });
  assert.equal(worker.finished, 3);
  assert.equal(slowAborted, false);
  assert.equal((await c.getTask(slow.id)).state, 'TASK_STATE_DONE');
  assert.equal((await c.getTask(ok.id)).result, `done ${ok.id}`);
  const dead = await c.getTask(bad.id);
  assert.equal(dead.state, 'TASK_STATE_DEAD_LETTER');
  assert.equal(dead.last_error, 'cannot do it');
  c.close();
});

test('the worker carries on across a sidecar restart', async () => {
  const d = freshDir('restart');
  const c = await startSidecar('worker-a', d);
  const proc = lastProc;
  const addr = c.stub.getChannel().getTarget().replace(/^dns:/, '');
  await c.createTask({title: 'before'});
  let restarted = null;
  const worker = new ts.Worker(c, {maxTasks: 2, pollWaitMs: 500});
  await worker.run(async (job) => {
    if (job.task.title === 'before') {
      restarted = (async () => {
        await new Promise((r) => setTimeout(r, 300));
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
        const again = await startSidecar('worker-a', d, addr);
        await again.createTask({title: 'after'});
        again.close();
      })();
    }
    return 'ok';
  });
  await restarted;
  assert.equal(worker.finished, 2);
  c.close();
});
