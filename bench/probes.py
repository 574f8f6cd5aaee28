"""Probe timing: ``python -m bench.probes [--fleet checkpoints/NAME]``.

Times ``analyze probes`` (all probe families, default settings) on a random-weight GPT-2-small-sized model
(12 layers, 12 heads, d_model 768, 1024 positions: timing does not depend on the weights) and, when given,
on every model of a toy fleet. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from analyze.probes import PROBE_FAMILIES, ProbeConfig, run_probes


def gpt2_small_random(path: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(path)
    return path


def time_probes(model: str, out: Path) -> float:
    started = time.perf_counter()
    frame = run_probes(model, set(PROBE_FAMILIES), None, ProbeConfig(), out, progress=False)
    seconds = time.perf_counter() - started
    print(f"{model}: {frame.model.nunique()} model(s), {len(frame)} heads, all probes in {seconds:.1f} s")
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.probes", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, help="also time a toy fleet")
    parser.add_argument("--skip-gpt2", action="store_true")
    args = parser.parse_args(argv)
    from train.logs import setup_logging

    setup_logging()
    with tempfile.TemporaryDirectory() as tmp:
        if args.fleet:
            time_probes(str(args.fleet), Path(tmp) / "fleet")
        if not args.skip_gpt2:
            time_probes(str(gpt2_small_random(Path(tmp) / "gpt2-small-random")), Path(tmp) / "gpt2")


if __name__ == "__main__":
    main()
