"""Ray for the precomputations: a local Ray started for the run, or a running cluster; workers fed
batches of work, with progress, and work that survives a worker's death.

A local Ray (no ``address``) is started with ``ray.init(num_cpus=...)`` in a temporary folder of its
own, without a dashboard, and shut down (its folder removed) when the run ends. With an ``address``
(``ray://`` or ``host:port`` of a head started with ``ray start --head``) the run joins that cluster and
leaves it running. Ray is imported only here and only when a run starts: it is an optional
dependency (``pip install .[scale]``).

Workers are Ray actors (:class:`~explanations.precompute.worker.PrecomputeWorker`), each holding what
it loads once (the catalogue, the recommenders, a separator's model). A killed or crashed worker is
restarted by Ray (``max_restarts=-1``) and the task it was running is run again
(``max_task_retries``); a batch whose task fails every time is split into single items, so only the
item that keeps killing its worker is reported and skipped (:func:`run_batches`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from lemons.config import get_settings
from lemons.errors import ConfigError

#: How to install Ray, for messages.
INSTALL_HINT = "pip install '.[scale]' in the LEMONS checkout (or: pip install ray==2.60.0)"


@dataclass(frozen=True)
class ClusterOptions:
    """Where the work runs and how it is spread.

    Args:
        address: a Ray cluster to join (``host:port`` of its head, or ``ray://host:port``);
            ``None`` starts a local Ray for the run.
        workers: Ray workers (actors); ``None``: the ``num_workers`` setting on a local Ray, as many
            as the cluster's CPUs allow (``cpus_per_worker`` each) on a cluster.
        cpus_per_worker: CPUs each worker reserves (and the PyTorch threads it runs).
        gpus_per_worker: GPUs (or a fraction of one) each worker reserves; ``None``: where the
            cluster has GPUs, an equal share of them up to one each, else none. Workers without a GPU
            run on CPU.
        retries: how often a task is run again after its worker died.
        queued: batches sent ahead to each worker, so it never waits for the next one.
        verbose: let Ray and the workers print their log lines.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    retries: int = 3
    queued: int = 2
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"cpus per worker must be above 0, got {self.cpus_per_worker:g}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ConfigError(f"gpus per worker must be at least 0, got {self.gpus_per_worker:g}")
        if self.retries < 0:
            raise ConfigError(f"retries must be at least 0, got {self.retries}")


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"precomputing runs on Ray, which is not installed; {INSTALL_HINT}") from None
    return ray


@dataclass
class Cluster:
    """A connected Ray: the workers to start on it and what each reserves."""

    ray: Any
    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    retries: int
    queued: int
    description: str
    actors: list[Any] = field(default_factory=list)

    def start_workers(self, worker_class: type, *args: Any) -> list[Any]:
        """Start :attr:`workers` actors of ``worker_class(*args, use_gpu)``; restarted whenever they die."""
        remote = self.ray.remote(worker_class).options(
            num_cpus=self.cpus_per_worker,
            num_gpus=self.gpus_per_worker,
            max_restarts=-1,
            max_task_retries=self.retries,
        )
        self.actors = [remote.remote(*args, self.gpus_per_worker > 0) for _ in range(self.workers)]
        return self.actors


def _local_workers(options: ClusterOptions) -> int:
    return options.workers or max(1, get_settings().num_workers)


def _gpus_per_worker(options: ClusterOptions, cluster_gpus: float, workers: int) -> float:
    if options.gpus_per_worker is None:
        return min(1.0, cluster_gpus / workers) if cluster_gpus else 0.0
    if options.gpus_per_worker > 0 and not cluster_gpus:
        warnings.warn("the Ray cluster has no GPU; the workers run on CPU", stacklevel=3)
        return 0.0
    return options.gpus_per_worker


@contextlib.contextmanager
def ray_session(options: ClusterOptions) -> Iterator[Cluster]:
    """Connect to Ray for a run (see the module doc), and disconnect when the block ends.

    A Ray this process is already connected to (``ray.init()`` called by the caller) is used as it is
    and left connected.
    """
    ray = import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing reported anywhere
    quiet = {"logging_level": logging.INFO if options.verbose else logging.ERROR}
    started_here = not ray.is_initialized()
    temp_dir = None
    if not started_here:
        where = "the Ray this process is connected to"
    elif options.address:
        try:
            ray.init(address=options.address, log_to_driver=options.verbose, **quiet)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
            raise ConfigError(
                f"cannot join the Ray cluster at {options.address} ({_first_line(exc)}); is its head "
                "running (ray start --head)? A cluster with token authentication also needs "
                "RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            ) from exc
        where = f"the Ray cluster at {options.address}"
    else:
        # a short path: Ray's socket names must fit in 107 bytes
        temp_dir = tempfile.mkdtemp(prefix="lemons-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
        cpus = _local_workers(options) * options.cpus_per_worker
        try:
            ray.init(
                num_cpus=max(1, round(cpus)),
                include_dashboard=False,
                log_to_driver=options.verbose,
                _temp_dir=temp_dir,
                **quiet,
            )
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        where = "a local Ray"
    try:
        resources = ray.cluster_resources()
        cpus = float(resources.get("CPU", 0))
        if options.workers is not None:
            workers = options.workers
        elif temp_dir is not None:
            workers = _local_workers(options)
        else:
            workers = max(1, int(cpus // options.cpus_per_worker))
        gpus = _gpus_per_worker(options, float(resources.get("GPU", 0)), workers)
        if cpus and workers * options.cpus_per_worker > cpus:
            warnings.warn(
                f"{workers} workers of {options.cpus_per_worker:g} CPUs need more than the "
                f"{cpus:g} CPUs of {where}; some wait until others finish",
                stacklevel=3,
            )
        devices = f"{gpus:g} GPU each" if gpus else "CPU"
        yield Cluster(
            ray,
            workers,
            options.cpus_per_worker,
            gpus,
            options.retries,
            options.queued,
            f"{workers} workers ({options.cpus_per_worker:g} CPU, {devices}) on {where}",
        )
    finally:
        if started_here:
            ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


@dataclass(frozen=True)
class Batch:
    """Work for one task: ``items`` (the list the worker method takes) and how many units of progress
    they are (tracks, explanations)."""

    items: tuple[Any, ...]
    units: int


def one_by_one(batch: Batch) -> list[Batch]:
    """A batch's items as batches of one (none for a batch of one item), each of an equal share of
    the units."""
    if len(batch.items) < 2:
        return []
    share, extra = divmod(batch.units, len(batch.items))
    return [Batch((item,), share + (i < extra)) for i, item in enumerate(batch.items)]


def run_batches(
    cluster: Cluster,
    method: str,
    batches: Sequence[Batch],
    on_result: Callable[[Batch, Any], None],
    on_failure: Callable[[Batch, str], None],
    *,
    args: tuple[Any, ...] = (),
    split: Callable[[Batch], list[Batch]] = one_by_one,
    desc: str = "",
    unit: str = "item",
    progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Run ``worker.method(batch.items, *args)`` for every batch on the cluster's workers.

    Results are handed to ``on_result(batch, result)`` in the order they complete. A task that fails
    after its retries (its worker died every time, or Ray lost it) is split into its items and they
    are run one by one (``split``: smaller batches of the same work, none where it cannot be split);
    a batch that cannot be split goes to ``on_failure(batch, reason)``, and the run goes on.
    Progress: a bar of ``unit`` with throughput and time left, and ``on_progress(done, total)``
    before the first and after every completed batch.
    """
    ray = cluster.ray
    actors = cluster.actors
    if not actors:
        raise ValueError("start the workers first (Cluster.start_workers)")
    pending = deque(batches)
    running: dict[Any, tuple[int, Batch]] = {}
    total = sum(batch.units for batch in batches)
    done = 0

    def submit(worker: int) -> None:
        if pending:
            batch = pending.popleft()
            ref = getattr(actors[worker], method).remote(list(batch.items), *args)
            running[ref] = (worker, batch)

    for _ in range(max(1, cluster.queued)):
        for worker in range(len(actors)):
            submit(worker)
    if on_progress is not None and total:
        on_progress(0, total)
    with tqdm(total=total, desc=desc, unit=unit, disable=not progress or not total, smoothing=0.1) as bar:
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            worker, batch = running.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                parts = split(batch)
                if parts:
                    pending.extendleft(reversed(parts))
                    submit(worker)
                    continue
                on_failure(batch, f"its worker failed: {_first_line(exc)}")
            else:
                on_result(batch, result)
            bar.update(batch.units)
            done += batch.units
            submit(worker)
            if on_progress is not None and total:
                on_progress(done, total)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
