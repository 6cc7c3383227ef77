// Compiled (not run) by `npm run typecheck`: the typings describe how the package is used.
import {Client, FencingTokenStale, Job, Worker} from '../index';

async function example(): Promise<void> {
  const client = new Client('127.0.0.1:50051', {callTimeoutMs: 5000});
  const task = await client.createTask({title: 'build', requestId: 'build-42'});
  const result: string = await client.withLock(`deploy-${task.id}`, async (lock) => lock.token);
  try {
    await client.renewLock('deploy', result);
  } catch (e) {
    if (e instanceof FencingTokenStale) console.log(e.reason, e.metadata.name);
  }
  await new Worker(client, {untilIdle: true}).run(async (job: Job) => {
    if (job.signal.aborted) return;
    return `built ${job.task.title}`;
  });
}
void example;
