"""Ray launcher overhead: ``python -m bench.ray [--n 4] [--config configs/tiny.yaml]``.

Trains the same fleet twice, in-process (one member after another, torch on every core) and as Ray tasks on a
local Ray instance with 2 one-CPU workers (two members at a time), and prints both wall times and the
difference. On a 2-core machine the two paths have the same compute; the difference is what Ray costs here:
starting the instance and its workers, importing torch and Lightning once per worker, and the driver's
bookkeeping. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from train.config import load_config
from train.fleet import train_fleet


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ray", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="fleet members (default 4)")
    parser.add_argument("--config", type=Path, default=Path("configs/tiny.yaml"))
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    args = parser.parse_args(argv)
    from train.logs import setup_logging
    from train.ray_launcher import import_ray, train_fleet_ray

    setup_logging()
    ray = import_ray()
    cfg = load_config(args.config, {"n": args.n})
    with tempfile.TemporaryDirectory() as tmp:
        train_fleet(load_config(args.config, {"n": 1, "epochs": 1}), Path(tmp) / "warm", progress=False)  # Brown cache

        started = time.perf_counter()
        train_fleet(cfg, Path(tmp) / "local", progress=False)
        local = time.perf_counter() - started
        print(f"{args.n}-member fleet ({args.config}), in-process: {local:.1f} s")

        started = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        up = time.perf_counter() - started
        train_fleet_ray(cfg, Path(tmp) / "ray", progress=False)
        ray.shutdown()
        on_ray = time.perf_counter() - started
        print(f"{args.n}-member fleet, Ray with {args.workers} one-CPU workers: {on_ray:.1f} s "
              f"(of which starting Ray {up:.1f} s)")
        print(f"Ray overhead: {on_ray - local:+.1f} s ({on_ray / local - 1:+.0%}) on this machine")


if __name__ == "__main__":
    main()
