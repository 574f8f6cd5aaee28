"""Do the clusters mean anything? Stability and a null baseline, beyond the paper.

- Leiden seeds: the best-γ clustering recomputed with other seeds, compared by adjusted Rand index (ARI).
- Bootstrap over prompts: heads re-embedded from prompts drawn with replacement, re-clustered at the best γ.
- Null: each prompt's codes shuffled across all heads, so a "head" is a mix of random heads; the whole
  sweep is rerun. If real heads' best F-score is no better than the null's, the clusters say little. The null
  has no ARI: its heads are shuffled, so there is no clustering of the same heads for it to agree with.

``f_verdict`` states whether the real clustering beats the null: a permutation p-value (1 + null replicates at
or above the real F) / (1 + replicates) and a z-score against the null's mean and spread.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from analyze.core.parallel import parallel_map
from analyze.phrenology.cluster import cluster_heads, f_score, knn_graph, leiden


def f_verdict(real_f: float, null_f: np.ndarray, alpha: float = 0.05) -> dict:
    """Does the real best F-score beat the shuffled-heads null? ``p``: permutation p-value; ``z``: z-score."""
    null_f = np.asarray(null_f, dtype=float)
    p = (1 + np.sum(null_f >= real_f)) / (1 + len(null_f))
    spread = null_f.std(ddof=1) if len(null_f) > 1 else 0.0
    z = (real_f - null_f.mean()) / spread if spread > 0 else (np.inf if real_f > null_f.mean() else 0.0)
    beats = bool(p <= alpha)
    text = (f"The clustering {'beats' if beats else 'does not beat'} the shuffled-heads null: real F = {real_f:.3f} "
            f"against null F = {null_f.mean():.3f} ± {spread:.3f} over {len(null_f)} shuffles "
            f"(permutation p = {p:.3g}, z = {z:.1f}).")
    return {"real_f": real_f, "null_f_mean": float(null_f.mean()), "null_f_std": float(spread), "p_value": float(p),
            "z": float(z), "n_null": int(len(null_f)), "beats_null": beats, "statement": text}


def leiden_seed_stability(graph, gamma: float, reference: np.ndarray, models: np.ndarray, seeds) -> list[dict]:
    return [_seed_row(graph, gamma, reference, models, int(seed)) for seed in seeds]


def _seed_row(graph, gamma: float, reference: np.ndarray, models: np.ndarray, seed: int) -> dict:
    return _replicate_row("leiden_seed", seed, gamma, reference, leiden(graph, gamma, seed), models)


def _replicate_row(test: str, replicate: int, gamma: float, reference: np.ndarray, clusters: np.ndarray,
                   models: np.ndarray) -> dict:
    return {"test": test, "replicate": replicate, "gamma": gamma, "ari": adjusted_rand_score(reference, clusters),
            "n_clusters": int(clusters.max() + 1), "f_score": f_score(clusters, models)["f_score"]}


def bootstrap_picks(n_prompts: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """The prompts each bootstrap replicate draws, with replacement, in order from one seeded generator."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_prompts, n_prompts) for _ in range(n_boot)]


def bootstrap_prompt_stability(codes: np.ndarray, models: np.ndarray, k: int, gamma: float, reference: np.ndarray,
                               n_boot: int, seed: int, weighted: bool = False) -> list[dict]:
    """codes: [head, prompt, code] (a head's embedding is its prompts' codes concatenated)."""
    return [_bootstrap_row(codes, models, k, gamma, reference, seed, weighted, (b, pick))
            for b, pick in enumerate(bootstrap_picks(codes.shape[1], n_boot, seed))]


def _bootstrap_row(codes, models, k, gamma, reference, seed, weighted, replicate) -> dict:
    b, pick = replicate
    clusters = leiden(knn_graph(codes[:, pick].reshape(len(codes), -1), k, weighted), gamma, seed)
    return _replicate_row("bootstrap_prompts", b, gamma, reference, clusters, models)


def shuffle_order(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """For every prompt independently, a permutation of the heads.  (head, prompt) → [head, prompt]"""
    return np.argsort(rng.random(shape), axis=0)


def shuffled_codes(codes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``codes`` with each prompt's heads permuted by ``order`` (``shuffle_order``).  [head, prompt, code]"""
    return np.take_along_axis(codes, order[:, :, None], axis=0)


def shuffle_across_heads(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For every prompt independently, permute which head each code belongs to.  [head, prompt, code]"""
    return shuffled_codes(codes, shuffle_order(codes.shape[:2], rng))


def null_orders(shape: tuple[int, int], n_null: int, seed: int) -> list[np.ndarray]:
    """The null's ``n_null`` head permutations (``shuffle_order``), drawn in order from one seeded generator."""
    rng = np.random.default_rng(seed)
    return [shuffle_order(shape, rng) for _ in range(n_null)]


def null_baseline(codes: np.ndarray, models: np.ndarray, k: int, n_gammas: int, gamma_range, n_null: int,
                  seed: int, weighted: bool = False, workers: int | None = None) -> list[dict]:
    """``n_null`` shuffles, each swept as the real heads are; the replicates run over ``workers`` processes
    (default every core), each sweep in its own. The permutations are drawn here, in order; each worker applies its
    own (0.8 s of copying on the paper fleet, now shared out)."""
    sweep = partial(_null_sweep, codes, models, k, n_gammas, tuple(gamma_range), seed, weighted)
    return parallel_map(sweep, list(enumerate(null_orders(codes.shape[:2], n_null, seed))), workers)


def _null_sweep(codes, models, k, n_gammas, gamma_range, seed, weighted, replicate) -> dict:
    r, order = replicate
    shuffled = shuffled_codes(codes, order).reshape(len(codes), -1)
    sweep, gamma, clusters, _ = cluster_heads(shuffled, models, k, n_gammas, gamma_range, seed + r, weighted, workers=1)
    return {"test": "null_shuffled", "replicate": r, "gamma": gamma, "ari": np.nan,
            "n_clusters": int(clusters.max() + 1), "f_score": max(s["f_score"] for s in sweep)}


def stability_rows(codes: np.ndarray, models: np.ndarray, reference: np.ndarray, gamma: float, cfg,
                   workers: int | None = None) -> list[dict]:
    """Every row of ``stability.csv``: Leiden seeds, then prompt bootstraps, then the null; the same rows as
    ``leiden_seed_stability`` + ``bootstrap_prompt_stability`` + ``null_baseline``.

    All three run as tasks of one pool, the null's sweeps (~1 s each on the paper fleet) handed out first and the
    small tasks after them, so the cores finish together: 19 sweeps alone leave one core idle for the last, and
    the 40 small tasks had run on one core before the pool started."""
    graph = knn_graph(codes.reshape(len(codes), -1), cfg.knn_k, cfg.knn_weighted)
    null = partial(_null_sweep, codes, models, cfg.knn_k, cfg.null_gammas, (cfg.gamma_min, cfg.gamma_max), cfg.seed,
                   cfg.knn_weighted)
    boot = partial(_bootstrap_row, codes, models, cfg.knn_k, gamma, reference, cfg.seed, cfg.knn_weighted)
    seed = partial(_seed_row, graph, gamma, reference, models)
    tasks = ([(null, item) for item in enumerate(null_orders(codes.shape[:2], cfg.null_replicates, cfg.seed))]
             + [(boot, item) for item in enumerate(bootstrap_picks(codes.shape[1], cfg.stability_replicates, cfg.seed))]
             + [(seed, s) for s in range(cfg.seed + 1, cfg.seed + 1 + cfg.stability_replicates)])
    rows = parallel_map(_run_task, tasks, workers, chunksize=1)
    n_null, n_boot = cfg.null_replicates, cfg.stability_replicates
    return rows[n_null + n_boot:] + rows[n_null:n_null + n_boot] + rows[:n_null]


def _run_task(task):
    function, item = task
    return function(item)


# ---------------------------------------------------------------- step

def step(ctx) -> None:
    from analyze.phrenology import plots
    from train.files import write_json

    run, cfg, out = ctx.run, ctx.cfg, ctx.out
    codes, models = run.codes, run.models
    reference = run.clusters.cluster.to_numpy()
    best = run.best
    rows = stability_rows(codes, models, reference, float(best.gamma), cfg)
    pd.DataFrame(rows).to_csv(out / "stability.csv", index=False)
    null_f = [r["f_score"] for r in rows if r["test"] == "null_shuffled"]
    if len(set(models)) < 2:  # a shuffle across one model's heads compares nothing across seeds
        from analyze.phrenology.findings import NOTHING_ACROSS_SEEDS

        write_json(out / "null_verdict.json", {"real_f": float(best.f_score), "p_value": None, "beats_null": False,
                                               "n_null": 0, "statement": NOTHING_ACROSS_SEEDS})
    else:
        write_json(out / "null_verdict.json", f_verdict(float(best.f_score), null_f))
    ctx.figures.draw(plots.stability_plot, rows, float(best.f_score), out / "fig_stability.png")
