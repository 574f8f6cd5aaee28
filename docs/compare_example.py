"""Regenerate the README's ``analyze compare`` example: ``python -m docs.compare_example [--out runs/compare-example]``.

No GPT-2 weights are needed: the fleet is the constructed one of the tests (in every model head 0 attends to
itself, head 1 to the previous token) and the "pretrained" model is the planted GPT-2-architecture model of
the probe tests (head 0 self, head 1 previous token, head 2 duplicate token, head 3 decaying positional).
Copies the placement figure to ``docs/compare_placement.png``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from analyze.__main__ import main as analyze_main
from analyze.probes.words import load_pairs
from tests.analyze.constructed_fleet import build_constructed_fleet
from tests.analyze.planted import build_planted_gpt2
from train.tokenizer import load_gpt2_tokenizer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.compare_example", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/compare-example"))
    args = parser.parse_args(argv)
    root = args.out
    fleet = build_constructed_fleet(root / "fleet", n_models=9)
    pairs = load_pairs(None, load_gpt2_tokenizer())
    word_ids = list(pairs.token_ids[:20] + pairs.token_ids[pairs.n_pairs:pairs.n_pairs + 20])
    planted = build_planted_gpt2(root / "planted", word_ids, 20)
    code = analyze_main(["compare", "--fleet", str(fleet), "--pretrained", str(planted), "--out", str(root / "out"),
                         "--phrenology-dir", str(root / "phrenology"), "--probes-dir", str(root / "probes"),
                         "--prompts", "128", "bottlenecks=[4,8]", "n_gammas=200"])
    if code == 0:
        shutil.copy(root / "out" / "fig_placement.png", Path(__file__).parent / "compare_placement.png")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
