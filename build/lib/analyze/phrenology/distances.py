"""Step ``distances`` (Attention Phrenology §2.1.4): Euclidean distances between heads as flattened pattern vectors.

A head is the vector of all its attention weights over the analysis prompts (``patterns[head].reshape(-1)``),
so two heads are close when they attend alike on the same prompts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyze.phrenology import plots


def flatten_heads(patterns: np.ndarray) -> np.ndarray:
    """[head, prompt, query, key] → [head, prompt*query*key]"""
    return patterns.reshape(len(patterns), -1)


def head_distances(vectors: np.ndarray) -> np.ndarray:
    """Euclidean distance between every pair of rows.  [head, feature] → [head, head]"""
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(vectors.astype(np.float64), metric="euclidean")


def group_boundaries(labels) -> list[int]:
    """Indices where a sorted label sequence changes (lines between models or clusters in the heatmaps)."""
    return [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]


def step(ctx) -> None:
    run = ctx.run
    ids = run.head_ids
    dist = head_distances(flatten_heads(run.patterns))
    pd.DataFrame(dist, index=ids, columns=ids).to_csv(ctx.out / "distances.csv", index_label="head_id")
    ctx.figures.draw(plots.distance_heatmap, dist, ids, "Head distances, model order (Fig. 7)",
                     ctx.out / "fig_distances_model_order.png", group_boundaries(list(run.models)))
