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


def permutation_p_values(query: np.ndarray, toy: np.ndarray, clusters: np.ndarray, landed: np.ndarray, n_perm: int,
                         rng: np.random.Generator) -> np.ndarray:
    """For each query head: P(a random group of toy heads, as large as its cluster, has a centroid at least as
    close to it as its cluster's centroid), with the +1 correction: (1 + hits) / (1 + n_perm).  → [Q]

    Squared centroid distances come from dot products, ‖x − mean(S)‖² = ‖x‖² − 2/s Σ_i x·t_i + 1/s² Σ_ij t_i·t_j,
    so a draw costs O(s²) instead of O(s · dim), and the same ``n_perm`` draws per group size serve every head.
    """
    xt = query @ toy.T  # [Q, N]
    gram = toy @ toy.T  # [N, N]
    xx = np.einsum("qd,qd->q", query, query)

    def sq_dist(groups: np.ndarray) -> np.ndarray:  # groups [P, s] → [Q, P]
        s = groups.shape[1]
        cross = xt[:, groups].sum(axis=2)
        within = gram[groups[:, :, None], groups[:, None, :]].sum(axis=(1, 2))
        return xx[:, None] - 2 * cross / s + within[None] / s ** 2

    out = np.empty(len(query))
    draws: dict[int, np.ndarray] = {}
    for c in np.unique(landed):
        members = np.flatnonzero(clusters == c)
        size = len(members)
        if size not in draws:
            draws[size] = np.stack([rng.choice(len(toy), size, replace=False) for _ in range(n_perm)])
        heads = np.flatnonzero(landed == c)
        observed = sq_dist(members[None])[heads, 0]  # [h]
        null = sq_dist(draws[size])[heads]  # [h, P]
        hits = (null <= observed[:, None] + 1e-9 * np.abs(observed[:, None])).sum(axis=1)
        out[heads] = (1 + hits) / (1 + n_perm)
    return out


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


def cluster_spread(toy: np.ndarray, clusters: np.ndarray, quantile: float = 0.95) -> np.ndarray:
    """Each cluster's own spread: the ``quantile`` of its members' distances to its centroid.  → [n_clusters]
    A head farther than this from a centroid lies outside that cluster, whatever its p-value says."""
    out = []
    for c in range(clusters.max() + 1):
        members = toy[clusters == c]
        out.append(np.quantile(np.linalg.norm(members - members.mean(axis=0), axis=1), quantile))
    return np.array(out)
