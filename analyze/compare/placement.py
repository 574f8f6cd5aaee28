"""Toy heads against pretrained heads: where pretrained heads land among a fleet's clusters (pattern space)
and how their probe scores sit in the fleet's distribution (function space).

Pattern space: the pretrained model runs on the fleet's analysis prompts; its heads are encoded with the
fleet's own autoencoder, so they live in the space the fleet was clustered in. A pretrained head lands in
the cluster that holds most of its k - 1 nearest toy heads (k as the fleet's kNN graph). Its p-value asks
whether it sits closer to that cluster's centroid than to the centroid of a random group of as many toy
heads (cluster labels permuted): small p means the cluster, not the fleet at large, is what it resembles.
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


def vote_cluster(neighbours: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Majority cluster among each row's neighbours; a tie goes to the cluster of the nearer neighbour."""
    out = []
    for row in neighbours:
        labels = clusters[row]
        counts = {c: (labels == c).sum() for c in labels}
        best = max(counts.values())
        out.append(next(c for c in labels if counts[c] == best))  # labels are in distance order
    return np.array(out)


def centroid_distances(query: np.ndarray, toy: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Distance of every query head to every cluster centroid.  → [Q, n_clusters]"""
    centroids = np.stack([toy[clusters == c].mean(axis=0) for c in range(clusters.max() + 1)])
    return cdist(query, centroids)


def permutation_p_value(x: np.ndarray, toy: np.ndarray, clusters: np.ndarray, cluster: int, n_perm: int,
                        rng: np.random.Generator) -> float:
    """P(random group of toy heads, as large as ``cluster``, has a centroid at least as close to ``x``)."""
    size = int((clusters == cluster).sum())
    observed = np.linalg.norm(x - toy[clusters == cluster].mean(axis=0))
    hits = sum(np.linalg.norm(x - toy[rng.choice(len(toy), size, replace=False)].mean(axis=0)) <= observed
               for _ in range(n_perm))
    return (1 + hits) / (1 + n_perm)


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


def describe_clusters(toy_scores, clusters: dict[str, int]) -> dict[int, str]:
    """Name each cluster by where its heads' attention mostly goes: the pattern score with the highest mean."""
    scores = [s for s in DESCRIPTIONS if s in toy_scores]
    frame = toy_scores.set_index("head_id")[scores]
    names = {}
    for c in sorted(set(clusters.values())):
        members = [h for h, k in clusters.items() if k == c and h in frame.index]
        names[c] = DESCRIPTIONS[frame.loc[members].mean().idxmax()] if members else "unscored heads"
    return names
