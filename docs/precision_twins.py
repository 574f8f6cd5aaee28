"""Do the same seed's heads come out the same when only the arithmetic differs? ``python -m docs.precision_twins``.

Two fleets trained from the same seeds, windows and batch order (here the paper fleet in fp32 and model 0 again
in bf16) hold "twin" heads: same seed, same layer and head index. If training is stable to rounding, each head's
nearest neighbour among all the other fleet's heads is its twin, and twins sit much closer than two heads of the
same kind from different seeds. Distances are the phrenology distances (Attention Phrenology §2.1.4: Euclidean, between
flattened patterns on the same held-out prompts). Prints one row per head and writes it as CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from analyze.core.fleet import Fleet
from analyze.core.heads import head_id
from analyze.phrenology.config import PhrenologyConfig
from analyze.phrenology.extract import fleet_patterns
from analyze.phrenology.distances import flatten_heads, head_distances
from train.corpus import PROJECT_ROOT


def twin_table(patterns_a: np.ndarray, ids_a: list[str], patterns_b: np.ndarray, ids_b: list[str]) -> pd.DataFrame:
    """One row per head of B: its distance to its twin in A (same id), and to its nearest other head of A.

    patterns_*: [head, prompt, query, key] on the same prompts. ``twin_is_nearest`` is the known-answer reading:
    True when no head of A is closer to the B head than its twin.
    """
    orphans = sorted(set(ids_b) - set(ids_a))
    if orphans:
        more = " …" if len(orphans) > 3 else ""
        raise ValueError(f"no twin in the reference fleet for {', '.join(orphans[:3])}{more}; "
                         f"pass --rename m00=mNN for a fleet trained from a later seed")
    vectors = flatten_heads(np.concatenate([patterns_a, patterns_b]))
    dist = head_distances(vectors)[len(ids_a):, :len(ids_a)]  # [head of B, head of A]
    rows = []
    for i, head in enumerate(ids_b):
        twin = ids_a.index(head)
        nearest_other = int(np.argmin(np.where(np.arange(len(ids_a)) == twin, np.inf, dist[i])))
        rows.append({"head_id": head, "twin_distance": dist[i, twin], "nearest_other": ids_a[nearest_other],
                     "nearest_other_distance": dist[i, nearest_other],
                     "twin_is_nearest": bool(dist[i, twin] <= dist[i].min())})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.precision_twins", description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, default=PROJECT_ROOT / "checkpoints" / "paper", help="reference fleet")
    parser.add_argument("--b", type=Path, default=PROJECT_ROOT / "checkpoints" / "paper-m0-bf16",
                        help="fleet whose heads look for their twins in --a")
    parser.add_argument("--rename", default="", metavar="m00=m01",
                        help="B's model names as A calls them, when B was trained from a later seed (--seed 991)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "runs" / "precision_twins.csv")
    args = parser.parse_args(argv)
    renames = dict(pair.split("=") for pair in args.rename.split(",") if pair)
    cfg = PhrenologyConfig()
    patterns_a, heads_a, _ = fleet_patterns(Fleet(args.a), cfg)
    patterns_b, heads_b, _ = fleet_patterns(Fleet(args.b), cfg)
    ids_a = [h["head_id"] for h in heads_a]
    ids_b = [head_id(renames.get(h["model"], h["model"]), h["layer"], h["head"]) for h in heads_b]
    try:
        table = twin_table(patterns_a, ids_a, patterns_b, ids_b)
    except ValueError as err:
        parser.error(str(err))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"twin nearest for {table.twin_is_nearest.sum()} of {len(table)} heads; median distance to twin "
          f"{table.twin_distance.median():.2f}, to the nearest other head {table.nearest_other_distance.median():.2f}"
          f" → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
