"""Sweeps on Dask: tasks of scenarios sent to workers, rows recorded by the driver as they finish.

``workers=N`` starts a local cluster (dask-cuda's, one worker per GPU, when installed and a GPU
backend is in use); ``scheduler=ADDRESS`` joins an existing one. A task is retried on another
worker when one dies. Workers return rows; only the driver writes files.
"""

from __future__ import annotations

from .batch import solve_batch
from .errors import SweepError


def run_dask(spec, tasks, backend, keep, record, workers, scheduler, mip_rel_gap, prices, finished) -> None:
    """Solve ``tasks`` (``[(scenarios, anchor)]``) on Dask, calling ``record(rec)`` per finished scenario."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed  # noqa: PLC0415
    except ImportError:
        raise SweepError("distributed sweeps need Dask: pip install 'tokenfleet[dist]'") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = _local_cluster(workers, backend, LocalCluster)
        client = Client(cluster)
    try:
        futs = []
        for scs, anchor in tasks:
            skip = frozenset(sc["scenario"] for sc in scs if sc["scenario"] in finished)
            futs.append(client.submit(solve_batch, spec.base, spec.source, scs, backend, keep, None, mip_rel_gap,
                                      anchor, prices, skip, retries=3, pure=False))
        for fut in as_completed(futs):
            for rec in fut.result():
                record(rec)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _local_cluster(workers, backend, LocalCluster):
    if backend in ("cupy", "numba-cuda", "auto"):
        try:
            from dask_cuda import LocalCUDACluster  # noqa: PLC0415

            from kernels import resolve_backend  # noqa: PLC0415

            if resolve_backend(backend) in ("cupy", "numba-cuda"):
                return LocalCUDACluster()  # one worker per visible GPU
        except ImportError:
            pass
    return LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                        dashboard_address=None)
