"""Would this head pass as a head of one more seed? A calibrated test of resemblance to a fleet's heads.

The fleet's own seeds are the reference. Leave one model out: centroids of the fleet's clusters are made from the
other models' heads, and each head of the left-out model is measured to its nearest centroid. Those distances are
what a head of a seed the centroids never saw looks like. A query head (a pretrained head, a held-out seed's head,
a planted head) is measured the same way in every fold, against that fold's centroids, and its p-value is the
share of reference distances at least as large as its own, pooled over the folds::

    p = (1 + Σ_m #{reference_m ≥ d_m(query)}) / (1 + Σ_m n_m)

A small p says that no toy seed grows a head this far from every cluster: the head is unlike any toy head. A head
of one more seed is exchangeable with the left-out model's heads in every fold, so it gets p ≤ α at about rate α
(tests/analyze/compare/test_calibration.py checks held-out seeds, and planted heads that no toy grows).

Unlike a permutation of cluster labels, which asks whether a head lies in a cluster's *direction* from the
fleet's mean, this asks whether it lies as near a cluster as the fleet's own heads do: a head far from every toy
head gets a small p instead of an easy landing.

Spaces. Distances are Euclidean, in one of four spaces:

- ``pattern``: the head's attention weights over all prompts, flattened (Attention Phrenology's head distance,
  §2.1.4);
- ``code``: the phrenology autoencoder's codes, concatenated over prompts (§2.2.1). The autoencoder is refitted in
  every fold without the left-out model, so the reference heads are as unseen by it as the query heads are;
- ``pattern_nosink`` and ``code_nosink``: the same after removing the first-token sink: key 0 dropped (and query
  0, which sees only key 0), every row renormalised, for toy and real heads alike. Real LMs park most attention on
  the first token (an attention sink); one-layer toys trained on 16-token windows do not, so on raw patterns the
  sink alone can decide a placement.

Pure: arrays in, arrays out; the autoencoder fits run through ``analyze.core.parallel.parallel_map``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from scipy.spatial.distance import cdist

SPACES = ("pattern_nosink", "pattern", "code_nosink", "code")
HEADLINE_SPACE = "pattern_nosink"  # why: "Spaces" in docs/compare.md
ALPHA = 0.05


def without_sink(patterns: np.ndarray) -> np.ndarray:
    """Remove the first-token sink: drop key 0 and query 0, renormalise every row over the keys left.

    [head, prompt, q, k] → [head, prompt, q - 1, k - 1]. A row with no mass left (a head that put everything on the
    first token) becomes uniform over its visible keys: it carries no preference once the sink is gone.
    """
    body = patterns[:, :, 1:, 1:].astype(np.float64)
    mass = body.sum(axis=-1, keepdims=True)
    n = body.shape[-1]
    causal = np.tril(np.ones((n, n)))
    uniform = causal / causal.sum(axis=1, keepdims=True)
    safe = np.where(mass > 1e-9, mass, 1.0)
    return np.where(mass > 1e-9, body / safe, uniform).astype(np.float32)


def space_patterns(patterns: np.ndarray, space: str) -> np.ndarray:
    """The patterns a space reads: as they are, or without the sink."""
    return without_sink(patterns) if space.endswith("_nosink") else patterns


def flat(patterns: np.ndarray) -> np.ndarray:
    """[head, prompt, q, k] → [head, prompt * q * k]"""
    return patterns.reshape(len(patterns), -1).astype(np.float64)


def centroids(toy: np.ndarray, clusters: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of the clusters among the ``keep`` heads.  → (cluster ids [C], centroids [C, dim])"""
    ids = np.unique(clusters[keep])
    return ids, np.stack([toy[keep & (clusters == c)].mean(axis=0) for c in ids])


def nearest(query: np.ndarray, ids: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query row's nearest centroid: (cluster id [Q], distance [Q])."""
    dist = cdist(query, centres)
    best = dist.argmin(axis=1)
    return ids[best], dist[np.arange(len(query)), best]


@dataclass
class FoldResult:
    """One space's leave-one-model-out distances: the left-out heads' (reference) and every query head's."""

    reference: list[np.ndarray] = field(default_factory=list)  # per fold: [heads of the left-out model]
    held_out: list[np.ndarray] = field(default_factory=list)  # per fold: those heads' indices among the toy heads
    query: dict[str, list[np.ndarray]] = field(default_factory=dict)  # query set → per fold: [Q]
    toy_recon: np.ndarray | None = None  # [toy head] held-out reconstruction MSE (code spaces)
    query_recon: dict[str, np.ndarray] = field(default_factory=dict)  # query set → [Q] mean over folds

    def add_fold(self, out: np.ndarray, toy: np.ndarray, clusters: np.ndarray, queries: dict[str, np.ndarray]) -> None:
        """One fold: centroids of the heads not ``out``; the ``out`` heads' and every query head's distance to the
        nearest.  ``toy`` [toy head, dim] and ``queries`` name → [Q, dim], in this fold's space."""
        ids, centres = centroids(toy, clusters, ~out)
        self.reference.append(nearest(toy[out], ids, centres)[1])
        self.held_out.append(np.flatnonzero(out))
        for name, q in queries.items():
            self.query.setdefault(name, []).append(nearest(q, ids, centres)[1])

    def by_head(self, per_fold: list[np.ndarray]) -> np.ndarray:
        """Values given fold by fold for the left-out heads (the reference, or their own p) in toy-head order."""
        out = np.empty(sum(len(h) for h in self.held_out))
        for heads, values in zip(self.held_out, per_fold):
            out[heads] = values
        return out


def pooled_p_values(reference: list[np.ndarray], query: list[np.ndarray]) -> np.ndarray:
    """(1 + Σ_m #{reference_m ≥ query_m}) / (1 + Σ_m n_m) for every query head.  → [Q]"""
    hits = sum((ref[None, :] >= q[:, None] * (1 - 1e-9)).sum(axis=1) for ref, q in zip(reference, query))
    total = sum(len(ref) for ref in reference)
    return (1 + hits) / (1 + total)


def toy_self_p_values(reference: list[np.ndarray]) -> list[np.ndarray]:
    """Each toy head's own p against the rest of the reference (every other fold's and its own fold's other heads):
    the fleet's own heads should spread over [0, 1].  → per fold: [heads of the left-out model]"""
    all_ref = np.concatenate(reference)
    hits = (all_ref[None, :] >= all_ref[:, None] * (1 - 1e-9)).sum(axis=1) - 1  # less the head itself
    p = (1 + hits) / len(all_ref)  # (1 + hits) / (1 + n - 1)
    return np.split(p, np.cumsum([len(r) for r in reference])[:-1])


# ------------------------------------------------------------------ the folds of one space

def pattern_folds(toy: np.ndarray, models: np.ndarray, clusters: np.ndarray,
                  queries: dict[str, np.ndarray]) -> FoldResult:
    """Leave-one-model-out in a fixed space (``toy``: [toy head, dim], ``queries``: name → [Q, dim])."""
    result = FoldResult()
    for m in np.unique(models):
        result.add_fold(models == m, toy, clusters, queries)
    return result


@dataclass(frozen=True)
class AutoencoderSettings:
    """The phrenology run's autoencoder (its chosen bottleneck and training settings), refitted per fold."""

    bottleneck: int
    hidden: int = 128
    epochs: int = 4
    batch_size: int = 256
    lr: float = 2e-3
    seed: int = 0


def _fit_fold(rows: np.ndarray, settings: AutoencoderSettings, train_rows: np.ndarray):
    from analyze.phrenology.autoencoder import PatternAutoencoder

    return PatternAutoencoder(settings.bottleneck, hidden=settings.hidden, epochs=settings.epochs,
                              batch_size=settings.batch_size, lr=settings.lr,
                              random_state=settings.seed).fit(rows[train_rows])


def head_rows(patterns: np.ndarray) -> np.ndarray:
    """[head, prompt, q, k] → [head * prompt, token pairs of the lower triangle] (the autoencoder's rows)."""
    from analyze.phrenology.autoencoder import token_pair_rows

    return token_pair_rows(patterns)


def per_head_mse(ae, rows: np.ndarray, n_heads: int) -> np.ndarray:
    """Reconstruction MSE of each head's rows.  → [head]"""
    return ae.row_errors(rows).reshape(n_heads, -1).mean(axis=1)


def code_folds(toy_patterns: np.ndarray, models: np.ndarray, clusters: np.ndarray,
               queries: dict[str, np.ndarray], settings: AutoencoderSettings, workers: int | None = None
               ) -> FoldResult:
    """Leave-one-model-out in autoencoder code space: one autoencoder a fold, fitted without the left-out model.

    ``toy_patterns`` [toy head, prompt, q, k], ``queries`` name → [Q, prompt, q, k] (already in the space's
    pattern form: with or without the sink)."""
    from analyze.core.parallel import parallel_map

    n_prompts = toy_patterns.shape[1]
    rows = head_rows(toy_patterns)
    head_of_row = np.repeat(np.arange(len(toy_patterns)), n_prompts)
    folds = list(np.unique(models))
    masks = [models[head_of_row] != m for m in folds]
    fitted = parallel_map(partial(_fit_fold, rows, settings), masks, workers)
    query_rows = {name: head_rows(q) for name, q in queries.items()}
    result = FoldResult()
    toy_recon = np.empty(len(toy_patterns))
    recon_sum = {name: np.zeros(len(q)) for name, q in queries.items()}
    for m, ae in zip(folds, fitted):
        out = models == m
        codes = {name: ae.transform(q).reshape(len(queries[name]), -1).astype(np.float64)
                 for name, q in query_rows.items()}
        result.add_fold(out, ae.transform(rows).reshape(len(toy_patterns), -1).astype(np.float64), clusters, codes)
        toy_recon[out] = per_head_mse(ae, rows[np.repeat(out, n_prompts)], int(out.sum()))
        for name, q in query_rows.items():
            recon_sum[name] += per_head_mse(ae, q, len(queries[name]))
    result.toy_recon = toy_recon
    result.query_recon = {name: s / len(folds) for name, s in recon_sum.items()}
    return result


# ------------------------------------------------------------------ all spaces at once

@dataclass
class Calibrated:
    """Per space: the fold distances; and the p-values of every query set."""

    folds: dict[str, FoldResult]
    p_values: dict[str, dict[str, np.ndarray]]  # space → query set → [Q]
    nearest_cluster: dict[str, dict[str, np.ndarray]]  # space → query set → [Q] (full-fleet centroids)
    distance: dict[str, dict[str, np.ndarray]]  # space → query set → [Q] (to that nearest centroid)
    toy_p: dict[str, np.ndarray]  # space → [toy head] each toy head's own leave-one-out p


def calibrate(toy_patterns: np.ndarray, models: np.ndarray, clusters: np.ndarray,
              queries: dict[str, np.ndarray], settings: AutoencoderSettings | None,
              spaces=SPACES, workers: int | None = None) -> Calibrated:
    """Every query set's calibrated p in every space (code spaces need ``settings``; without them they are
    skipped). ``models``: the model of each toy head; ``clusters``: its phrenology cluster."""
    folds, p_values, near, dist, toy_p = {}, {}, {}, {}, {}
    for space in spaces:
        if space.startswith("code") and settings is None:
            continue
        toy_s = space_patterns(toy_patterns, space)
        q_s = {name: space_patterns(q, space) for name, q in queries.items()}
        if space.startswith("code"):
            result = code_folds(toy_s, models, clusters, q_s, settings, workers)
            ae_full = _fit_fold(head_rows(toy_s), settings, np.ones(len(toy_s) * toy_s.shape[1], dtype=bool))
            toy_vec = ae_full.transform(head_rows(toy_s)).reshape(len(toy_s), -1).astype(np.float64)
            q_vec = {n: ae_full.transform(head_rows(q)).reshape(len(q), -1).astype(np.float64)
                     for n, q in q_s.items()}
        else:
            toy_vec, q_vec = flat(toy_s), {n: flat(q) for n, q in q_s.items()}
            result = pattern_folds(toy_vec, models, clusters, q_vec)
        folds[space] = result
        p_values[space] = {n: pooled_p_values(result.reference, result.query[n]) for n in queries}
        ids, centres = centroids(toy_vec, clusters, np.ones(len(toy_vec), dtype=bool))
        near[space], dist[space] = {}, {}
        for n, q in q_vec.items():
            near[space][n], dist[space][n] = nearest(q, ids, centres)
        toy_p[space] = result.by_head(toy_self_p_values(result.reference))
    return Calibrated(folds, p_values, near, dist, toy_p)


def toy_like_rate(p: np.ndarray, alpha: float = ALPHA) -> float:
    return float((np.asarray(p) > alpha).mean()) if len(p) else float("nan")


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a share k / n (calibration and toy-like rates are shares of few heads)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def binomial_tail(k: int, n: int, rate: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, rate): how surprising k rejections of n are when the test is calibrated."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, rate))
