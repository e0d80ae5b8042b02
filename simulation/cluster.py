"""Where the pieces of a run or of a sweep go when they leave this machine's processes: a
dask.distributed cluster, by its scheduler's address, or a LocalCluster ("local")."""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def dask_client(address: str, workers: int):
    """A dask.distributed Client of the scheduler at `address`, or of a LocalCluster of
    `workers` one-thread processes when `address` is "local"; closed on exit."""
    from distributed import Client, LocalCluster     # a second's import: only when asked

    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
