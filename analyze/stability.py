"""Do the clusters mean anything? Stability and a null baseline, beyond the paper.

- Leiden seeds: the best-γ clustering recomputed with other seeds, compared by adjusted Rand index (ARI).
- Bootstrap over prompts: heads re-embedded from prompts drawn with replacement, re-clustered at the best γ.
- Null: each prompt's patterns shuffled across all heads, so a "head" is a mix of random heads; the whole
  sweep is rerun. If real heads' best F-score is no better than the null's, the clusters say little.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from analyze.cluster import cluster_heads, f_score, knn_graph, leiden


def leiden_seed_stability(graph, gamma: float, reference: np.ndarray, models: np.ndarray, seeds) -> list[dict]:
    rows = []
    for seed in seeds:
        clusters = leiden(graph, gamma, int(seed))
        rows.append({"test": "leiden_seed", "replicate": int(seed), "gamma": gamma,
                     "ari": adjusted_rand_score(reference, clusters), "n_clusters": int(clusters.max() + 1),
                     "f_score": f_score(clusters, models)["f_score"]})
    return rows


def bootstrap_prompt_stability(codes: np.ndarray, models: np.ndarray, k: int, gamma: float, reference: np.ndarray,
                               n_boot: int, seed: int) -> list[dict]:
    """codes: [head, prompt, code] (a head's embedding is its prompts' codes concatenated)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_boot):
        pick = rng.integers(0, codes.shape[1], codes.shape[1])
        clusters = leiden(knn_graph(codes[:, pick].reshape(len(codes), -1), k), gamma, seed)
        rows.append({"test": "bootstrap_prompts", "replicate": b, "gamma": gamma,
                     "ari": adjusted_rand_score(reference, clusters), "n_clusters": int(clusters.max() + 1),
                     "f_score": f_score(clusters, models)["f_score"]})
    return rows


def shuffle_across_heads(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For every prompt independently, permute which head each code belongs to.  [head, prompt, code]"""
    order = np.argsort(rng.random(codes.shape[:2]), axis=0)  # [head, prompt], a permutation per prompt
    return np.take_along_axis(codes, order[:, :, None], axis=0)


def null_baseline(codes: np.ndarray, models: np.ndarray, k: int, n_gammas: int, gamma_range, n_null: int,
                  seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_null):
        shuffled = shuffle_across_heads(codes, rng).reshape(len(codes), -1)
        sweep, gamma, clusters, _ = cluster_heads(shuffled, models, k, n_gammas, gamma_range, seed + r)
        rows.append({"test": "null_shuffled", "replicate": r, "gamma": gamma, "ari": np.nan,
                     "n_clusters": int(clusters.max() + 1), "f_score": max(s["f_score"] for s in sweep)})
    return rows
