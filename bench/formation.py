"""What recording heads while training costs: ``python -m bench.formation [--config configs/demo.yaml]
[--project configs/paper.yaml] [key=value]``.

1. Trains the first model of ``--config`` with recording on (the real Lightning loop) and prints the time the
   recorder spent (``heads.npz``'s ``seconds``) against the run's training time: the measured share.
2. For ``--project`` (default: the paper's config), times one record and one training step of a model of that
   size in the same process, and projects the share over its whole run (records × record time against steps ×
   step time). Not a test: it prints figures. The target is under 5%.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from train.config import load_config, parse_cli_overrides
from train.corpus import PROJECT_ROOT


def measured_share(cfg) -> tuple[float, float, int]:
    """``(recording seconds, training seconds, records)`` of the first model of ``cfg``, trained here."""
    from train.fleet import train_fleet
    from train.formation import RECORD_FILE, HeadRecord

    with tempfile.TemporaryDirectory() as tmp:
        record = train_fleet(load_config(None, {**cfg.to_dict(), "n": 1}), Path(tmp) / "fleet", progress=False)
        heads = HeadRecord.read(Path(tmp) / "fleet" / "model_00" / RECORD_FILE)
        return heads.seconds, record.models[0].train_seconds_last_run, len(heads.steps)


def projected_share(cfg, repeats: int = 3) -> dict:
    """One record and one optimiser step of a model of ``cfg``, timed in this process (median of ``repeats``)."""
    from train.formation import head_scores, record_prompts, record_steps
    from train.model import build_native_model
    from train.module import FleetGroup

    group = FleetGroup(cfg.to_dict(), [0])
    optimiser = group.configure_optimizers()
    prompts = record_prompts(cfg)
    scratch = build_native_model(cfg.tl_config(0), initialise=False)
    batch = torch.randint(0, 50_257, (1, cfg.batch_size, cfg.n_ctx + 1))

    def step():
        optimiser.zero_grad()
        group.member_losses(batch).sum().backward()
        optimiser.step()

    def record():
        with torch.no_grad():
            group.member_val_losses(torch.as_tensor(prompts.brown))
            scratch.load_state_dict(group.member_state_dict(0))
            head_scores(scratch, prompts, cfg.n_heads, "cpu")

    timings = {}
    for name, fn in (("step", step), ("record", record)):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        timings[name] = float(np.median(times))
    n_records, steps = len(record_steps(cfg)), cfg.total_steps()
    return {"record_s": timings["record"], "step_s": timings["step"], "records": n_records, "steps": steps,
            "share": n_records * timings["record"] / (steps * timings["step"])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.formation", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "configs" / "demo.yaml")
    parser.add_argument("--project", type=Path, default=PROJECT_ROOT / "configs" / "paper.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for --config")
    args = parser.parse_args(argv)
    from train.logs import setup_logging

    setup_logging()
    cfg = load_config(args.config, parse_cli_overrides(args.overrides))
    spent, trained, records = measured_share(cfg)
    print(f"{args.config.name}: one model trained in {trained:.1f} s with {records} records; the recorder spent "
          f"{spent:.2f} s of it: {spent / trained:.1%} of the training time")
    projected = projected_share(load_config(args.project))
    print(f"{args.project.name}: one record {projected['record_s'] * 1e3:.0f} ms, one step "
          f"{projected['step_s'] * 1e3:.0f} ms; {projected['records']} records over {projected['steps']} steps: "
          f"{projected['share']:.1%} of the training time (projected)")
    print(json.dumps({"measured": {"config": args.config.name, "record_s": spent, "train_s": trained,
                                   "records": records}, "projected": {"config": args.project.name, **projected}}))


if __name__ == "__main__":
    main()
