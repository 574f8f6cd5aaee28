"""Work shared out over this machine's cores in forked processes: the phrenology steps whose libraries run on one
core (leidenalg's Leiden, small autoencoders) use both cores of a 2-core machine this way."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def worker_count(workers: int | None = None) -> int:
    """``workers``, or every core this process may run on."""
    if workers:
        return workers
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_map(function, items, workers: int | None = None, chunksize: int | None = None) -> list:
    """``[function(item) for item in items]``, the items shared out over forked worker processes.

    ``chunksize``: how many items a worker takes at a time. The default hands out about 8 chunks a worker, so a
    worker whose items run long does not leave the others idle at the end (the items' order is kept either way);
    1 for a few long items, listed longest first.

    Fork, not spawn: a worker starts in milliseconds with the parent's imports instead of importing igraph,
    scikit-learn and numpy again, and it inherits ``function`` and ``items`` from the parent's memory: only an
    index goes to it and only the result comes back. (Pickled, the null baseline's 19 shuffled code arrays were
    360 MB through the pipes of a paper-fleet run.) Where fork does not exist (Windows) or one worker is asked
    for, it is a loop.

    Not for work that runs scikit-learn's OpenMP code (t-SNE) in the workers: once the parent has run it, a forked
    child that enters it is terminated ("fork() called from a process already using GNU OpenMP")."""
    global _shared
    items = list(items)
    n = min(len(items), worker_count(workers))
    if n <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [function(item) for item in items]
    _shared = (function, items)  # the pool forks its workers at the first task, after this is set
    try:
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"), initializer=worker_setup) as pool:
            return list(pool.map(_call_shared, range(len(items)), chunksize=chunksize or -(-len(items) // (8 * n))))
    finally:
        _shared = None


_shared: tuple | None = None  # (function, items) of the running parallel_map, read by its forked workers


def _call_shared(index: int):
    function, items = _shared
    return function(items[index])


def worker_setup() -> None:
    """A worker computes with one thread, as PyTorch's DataLoader workers do: the workers already fill the cores,
    and a forked copy of the parent's thread pool is not one to rely on. That holds for numpy's BLAS too: with its
    two threads a null replicate's kNN distances took 0.06-0.18 s in a worker beside another, against 0.02 s
    with one. On Ctrl-C it exits at once and quietly: the parent stops the command and says so in one line,
    instead of every worker printing its traceback."""
    import signal
    import sys

    from threadpoolctl import threadpool_limits

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    threadpool_limits(1, user_api="blas")
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
