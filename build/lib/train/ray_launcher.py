"""``python -m train fleet ... --launcher ray``: a fleet's members trained as Ray tasks across a cluster.

Fleet members are independent jobs, so each Ray task trains one group of them (one member, or
``members_per_step`` of them batched) with the same Lightning code as the in-process path
(``train.fleet.train_members``): the same seeds, data and order, so the same weights; each member resumes from
its own ``last.ckpt``. A task asks for one GPU where the cluster has GPUs, else for CPUs. The driver holds the
fleet's lock, writes ``fleet.json`` as tasks report back, and draws one fleet-wide progress bar fed by the
workers' step counts. A task that raises marks its members ``error`` (with the message) while the others finish.

Storage: the fleet dir and the tokenised-Brown cache (``--cache-dir``) must be on a filesystem every node sees.
Ray is imported only here, so the default install does not need it (``pip install -e ".[ray]"``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm.auto import tqdm

from train.config import FleetConfig
from train.errors import UserError
from train.record import FleetRecord, Status

log = logging.getLogger(__name__)


class RayUnavailable(UserError, ValueError):
    """``--launcher ray`` without Ray installed, or a cluster that cannot be reached (the CLI prints one line)."""


def import_ray():
    try:
        import ray
    except ImportError as err:
        raise RayUnavailable("--launcher ray needs Ray: pip install -e \".[ray]\" (or pip install ray)") from err
    return ray


def _progress_actor(ray):
    @ray.remote(num_cpus=0)
    class StepCounter:
        """Steps done per member, reported by the workers' ``RayProgress`` callbacks."""

        def __init__(self):
            self.steps: dict[int, int] = {}

        def report(self, indices, step):
            for i in indices:
                self.steps[i] = step

        def total(self) -> int:
            return sum(self.steps.values())

    return StepCounter


def _train_group_task(cfg_dict: dict, indices: list[int], out: str, device: str, precision: str, nltk_data,
                      cache_dir, counter, threads: int) -> list[dict]:
    """One Ray task: train these members with the in-process code, reporting steps to ``counter``."""
    import lightning as L
    import torch

    from train.fleet import train_members
    from train.logs import setup_logging

    setup_logging()  # quiet Lightning's banners in the worker as on the driver
    if device == "cpu":
        torch.set_num_threads(threads)

    class RayProgress(L.Callback):
        def on_train_start(self, trainer, pl_module):
            counter.report.remote(indices, trainer.global_step)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step % 5 == 0 or trainer.is_last_batch:
                counter.report.remote(indices, trainer.global_step)

    cfg = FleetConfig(**cfg_dict)
    return train_members(cfg, indices, Path(out), device, precision, None, nltk_data, cache_dir,
                          extra_callbacks=[RayProgress()])


def train_fleet_ray(cfg: FleetConfig, out: Path, nltk_data=None, cache_dir=None, progress: bool = True,
                    address: str | None = None, cpus_per_task: int | None = None) -> FleetRecord:
    """Train every unfinished member of the fleet at ``out`` as Ray tasks; return the fleet record."""
    from train.fleet import fleet_lock, next_group, prepare_fleet

    ray = import_ray()
    out = Path(out).resolve()
    with fleet_lock(out):
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except ConnectionError as err:
                raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {err}") from err
        try:
            return _run(ray, cfg, out, nltk_data, cache_dir, progress, cpus_per_task, prepare_fleet, next_group)
        finally:
            if started_here:
                ray.shutdown()


def _run(ray, cfg, out, nltk_data, cache_dir, progress, cpus_per_task, prepare_fleet, next_group) -> FleetRecord:
    record, device_on_driver, precision, per_step = prepare_fleet(cfg, out, nltk_data, cache_dir)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    device = "cuda" if gpus else "cpu"
    if device != device_on_driver and cfg.device == "auto":
        from train.hardware import resolve_device

        device, precision = resolve_device(device, cfg.precision) if device == "cuda" else ("cpu", precision)
    threads = cpus_per_task or 1
    options = {"num_gpus": 1} if gpus else {"num_cpus": threads}
    remote = ray.remote(max_retries=0, **options)(_train_group_task)
    counter = _progress_actor(ray).remote()

    finished = cfg.total_steps() * (record.n - len(record.unsettled))
    bar = tqdm(total=cfg.n * cfg.total_steps(), initial=finished, desc=f"fleet {out.name} (ray)", unit="step",
               disable=not progress, dynamic_ncols=True)
    # The first round submits every unsettled member (errors of an earlier run are retried, as in-process); members
    # that come back pending (their group stopped because another member's loss blew up) go to the next round, from
    # their own checkpoints. A member whose task raises in this run stays "error" until the next run.
    pending = record.unsettled
    while pending:
        _round(ray, remote, counter, cfg, record, pending, out, device, precision, nltk_data, cache_dir, threads,
               per_step, next_group, bar, finished)
        if not any(e.status.settled or e.status == Status.ERROR for e in pending):
            raise RuntimeError("a round of Ray tasks finished no member")
        pending = [e for e in pending if e.status == Status.PENDING]
    bar.close()
    return record


def _round(ray, remote, counter, cfg, record, pending, out, device, precision, nltk_data, cache_dir, threads,
           per_step, next_group, bar, finished) -> None:
    groups = []
    while pending:
        group = next_group(pending, per_step, out)
        groups.append(group)
        pending = [e for e in pending if e not in group]
    tasks = {}
    for group in groups:
        for entry in group:
            entry.update(status=Status.RUNNING, error=None)
        ref = remote.remote(cfg.to_dict(), [e.index for e in group], str(out), device, precision,
                            None if nltk_data is None else str(nltk_data), None if cache_dir is None else str(cache_dir),
                            counter, threads)
        tasks[ref] = group
    record.write(out)
    waiting = list(tasks)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1, timeout=1.0)
        bar.n = finished + ray.get(counter.total.remote())
        bar.refresh()
        for ref in ready:
            group = tasks[ref]
            try:
                results = ray.get(ref)
            except Exception as err:  # noqa: BLE001 - the task's own exception, reported per member
                cause = getattr(err, "cause", None) or err
                for entry in group:
                    entry.update(status=Status.ERROR, error=f"{type(cause).__name__}: {cause}")
                log.error("models %s: %s", [e.index for e in group], cause)
            else:
                for entry, result in zip(group, results):
                    entry.update(**result)
            record.write(out)
