"""Toy heads against pretrained heads, the helpers beside the calibrated test (analyze/compare/calibration.py):
a query head's nearest toy heads, the one-to-one matching of clusters to pretrained heads, probe scores as
z-values, and the names of the fleet's clusters by what their heads do.
"""

from __future__ import annotations

import numpy as np
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


def describe_clusters(patterns: np.ndarray, clusters: np.ndarray, diffuse_below: float = 1.5) -> dict[int, str]:
    """Name each cluster by where its heads' mean pattern puts attention against a uniform head (the phrenology
    finding's rule, analyze/phrenology/findings.py): self, previous token or first token, whichever is the largest
    multiple of a uniform head's mass; below ``diffuse_below``×, "diffuse heads". On the prompts the comparison
    reads, so the name says what the heads do there.  patterns [head, prompt, q, k], clusters [head] → {cluster: name}"""
    from analyze.phrenology.findings import KINDS, dominant_kind

    names = {}
    for c in np.unique(clusters):
        kind, _, ratio = dominant_kind(patterns[clusters == c].mean(axis=(0, 1)))
        names[int(c)] = f"{KINDS[kind]} heads" if ratio >= diffuse_below else "diffuse heads"
    return names
