"""Toy heads against pretrained heads, the helpers beside the calibrated test (analyze/compare/calibration.py):
a query head's nearest toy heads, the one-to-one matching of clusters to pretrained heads, probe scores as
z-values, and the names of the fleet's clusters by what their heads do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

DESCRIPTIONS = {"prev_token": "previous-token heads", "self": "self-attending heads",
                "first_token": "first-token heads", "duplicate_token": "duplicate-token heads",
                "induction": "induction heads"}


def nearest_toy_heads(query: np.ndarray, toy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of the ``k`` nearest toy heads of every query head.  → ([Q, k], [Q, k])"""
    dist = cdist(query, toy)
    idx = np.argsort(dist, axis=1)[:, :k]
    return idx, np.take_along_axis(dist, idx, axis=1)


def hungarian(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one matching of rows (clusters) to columns (pretrained heads)."""
    rows, cols = linear_sum_assignment(cost)
    return list(zip(rows.tolist(), cols.tolist()))


def standardised(frame, columns: list[str]) -> np.ndarray:
    """Scores as z-values over all heads (toy and pretrained), NaN → 0.  → [head, score]"""
    values = frame[columns].to_numpy(dtype=float)
    std = np.nanstd(values, axis=0)
    z = (values - np.nanmean(values, axis=0)) / np.where(std > 0, std, 1.0)
    return np.nan_to_num(z)


def describe_clusters(toy_scores, clusters: dict[str, int], chance: dict[str, float] | None = None,
                      diffuse_below: float = 1.5) -> dict[int, str]:
    """Name each cluster by where its heads' attention goes most *against chance*: the pattern score whose mean is
    the largest multiple of its chance value (a uniform head puts more on itself than on the previous token, so
    raw means would call every diffuse cluster self-attending); below ``diffuse_below``× chance, "diffuse heads".
    ``chance``: score → chance value (the registry's, for the fleet's prompts); without it, raw means."""
    scores = [s for s in DESCRIPTIONS if s in toy_scores]
    frame = toy_scores.set_index("head_id")[scores]
    names = {}
    for c in sorted(set(clusters.values())):
        members = [h for h, k in clusters.items() if k == c and h in frame.index]
        if not members:
            names[c] = "unscored heads"
            continue
        means = frame.loc[members].mean()
        ratio = means / pd.Series({s: (chance or {}).get(s) or 1.0 for s in scores}) if chance else means
        best = ratio.idxmax()
        names[c] = DESCRIPTIONS[best] if not chance or ratio[best] >= diffuse_below else "diffuse heads"
    return names
