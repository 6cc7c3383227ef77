// The example worker in Node.js: upper-cases each task's body, until the queue is empty.
// (In a project of your own: require('@tasksentinel/client').)
const {Client, Worker} = require('../../clients/node');

const client = new Client(process.env.SENTINEL_ADDR || '127.0.0.1:50051');
const worker = new Worker(client, {untilIdle: true});
worker.run(async (job) => job.task.body.toUpperCase()).then(() => {
  console.log(`${worker.finished} tasks`);
  client.close();
});
