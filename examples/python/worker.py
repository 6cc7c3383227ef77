"""The example worker in Python: upper-cases each task's body, until the queue is empty."""
import os

from tasksentinel import Client, Worker

client = Client(os.environ.get("SENTINEL_ADDR", "127.0.0.1:50051"))
worker = Worker(client, until_idle=True)
worker.run(lambda job: job.task.body.upper())
print(f"{worker.finished} tasks")
