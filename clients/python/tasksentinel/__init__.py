"""tasksentinel: the Python client of the Task Sentinel coordination sidecar.

    from tasksentinel import Client, Worker

    client = Client("127.0.0.1:50051")
    with client.lock("deploy", wait=30) as held:
        ...                                   # held.token fences writes
    Worker(client).run(lambda job: f"built {job.task.title}")

See clients/python/README.md.
"""

from tasksentinel.client import Client, HeldLock
from tasksentinel.errors import *  # noqa: F401,F403 - the typed errors are part of the API
from tasksentinel.errors import __all__ as _errors
from tasksentinel.worker import Job, Worker

__all__ = ["Client", "HeldLock", "Job", "Worker"] + list(_errors)
