"""Clustering heads across models: kNN graph, Leiden resolution sweep, F-score (Attention Phrenology §2.2.2).

F-score (authors' R/autoencode.R ``test.leiden``): in each cluster, the first head of each model is a
true positive and every further head of the same model a false positive, so

    precision_c = (distinct models in c) / |c|          recall_c = (distinct models in c) / n_models

and F is the mean over clusters of their harmonic mean. A clustering with exactly one head of every model
in every cluster scores precision = recall = F = 1; a cluster that misses models loses recall, a cluster
that holds two heads of one model loses precision. As in the authors' code, a "clustering" that puts every
head in one cluster scores 0 (it separates nothing).

The kNN graph follows the authors' ``get.knn``: a head's k nearest heads include the head itself (distance
0), so each head links to its k - 1 nearest others; with k = 9 and 9 models, a head whose counterparts in
the 8 other models are its nearest neighbours links to exactly them. The graph is undirected.

Edge weights. The authors' graph (``get.knn(dists, k, "plus")``) carries the distance as the weight of each
edge, summed over both directions when two heads are each other's neighbours. Leiden reads a weight as the
strength of a link, so that graph makes a head's *farthest* neighbours its strongest links. We default to an
unweighted graph (every kNN link counts once); ``knn_weighted: true`` reproduces the authors' weights.

Ties between resolutions: the sweep draws ``n_gammas`` random γ (seeded) and sorts them; among γ with the
highest F the smallest wins (the authors take the first maximum in the order the γ were drawn, which depends
on the random order rather than on the clustering).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyze.core.graphs import knn_graph, leiden, leiden_sweep  # noqa: F401 - leiden re-exported for stability


def f_score(clusters: np.ndarray, models: np.ndarray) -> dict[str, float]:
    """Mean per-cluster precision, recall and F (see module docstring); all 0 for a single cluster."""
    if len(np.unique(clusters)) < 2:
        return {"precision": 0.0, "recall": 0.0, "f_score": 0.0}
    n_models = len(np.unique(models))
    precision, recall, f = [], [], []
    for c in np.unique(clusters):
        members = models[clusters == c]
        tp = len(np.unique(members))
        p, r = tp / len(members), tp / n_models
        precision.append(p)
        recall.append(r)
        f.append(2 * p * r / (p + r))
    return {"precision": float(np.mean(precision)), "recall": float(np.mean(recall)), "f_score": float(np.mean(f))}


def resolution_sweep(graph, models: np.ndarray, n_gammas: int = 1000, gamma_range=(0.01, 3.0),
                     seed: int = 0, workers: int | None = None) -> tuple[list[dict], dict[float, np.ndarray]]:
    """Leiden at ``n_gammas`` seeded uniform-random resolutions (over ``workers`` processes, default every core);
    rows for ``resolution_sweep.csv``."""
    gammas = np.sort(np.random.default_rng(seed).uniform(*gamma_range, n_gammas))
    weights = "weight" if "weight" in graph.es.attributes() else None
    rows, memberships = [], {}
    for gamma, clusters in zip(gammas, leiden_sweep(graph, gammas, seed, workers)):
        memberships[float(gamma)] = clusters
        rows.append({"gamma": float(gamma), "n_clusters": int(clusters.max() + 1),
                     "modularity": graph.modularity(clusters.tolist(), weights=weights), **f_score(clusters, models)})
    return rows, memberships


def best_row(rows: list[dict]) -> dict:
    """The sweep row with the highest F-score, the smallest γ among ties (module docstring)."""
    return max(rows, key=lambda r: (r["f_score"], -r["gamma"]))


def cluster_heads(vectors: np.ndarray, models: np.ndarray, k: int, n_gammas: int, gamma_range, seed: int,
                  weighted: bool = False, workers: int | None = None):
    """kNN graph + sweep + best clustering in one call: ``(sweep_rows, best_gamma, clusters, graph)``."""
    graph = knn_graph(vectors, k, weighted)
    rows, memberships = resolution_sweep(graph, models, n_gammas, gamma_range, seed, workers)
    gamma = best_row(rows)["gamma"]
    return rows, gamma, memberships[gamma], graph


def graph_layout(graph, seed: int) -> np.ndarray:
    """Fruchterman-Reingold positions of the graph's nodes, the same for the same seed.  → [node, 2]

    Its start positions alone do not fix it: igraph's layout also draws from igraph's random number generator
    (Python's ``random`` module unless set), so the figures changed from run to run until it was seeded here."""
    import random

    import igraph

    start = np.random.default_rng(seed).random((graph.vcount(), 2)).tolist()
    igraph.set_random_number_generator(random.Random(seed))
    try:
        return np.array(graph.layout_fruchterman_reingold(seed=start).coords)
    finally:
        igraph.set_random_number_generator(random)


# ---------------------------------------------------------------- step

def step(ctx) -> None:
    from analyze.phrenology import plots
    from analyze.phrenology.distances import flatten_heads, group_boundaries, head_distances

    run, cfg, out = ctx.run, ctx.cfg, ctx.out
    patterns, ids, models = run.patterns, run.head_ids, run.models
    vectors = run.codes.reshape(len(run.codes), -1)
    sweep, gamma, clusters, graph = cluster_heads(vectors, models, cfg.knn_k, cfg.n_gammas,
                                                  (cfg.gamma_min, cfg.gamma_max), cfg.seed, cfg.knn_weighted)
    pd.DataFrame(sweep).to_csv(out / "resolution_sweep.csv", index=False)
    pd.DataFrame({"head_id": ids, "cluster": clusters}).to_csv(out / "clusters.csv", index=False)
    layout = graph_layout(graph, cfg.seed)
    edges = graph.get_edgelist()
    ctx.figures.draw(plots.graph_plot, layout, edges, list(models), f"{cfg.knn_k}-NN graph of heads, by model (Fig. 3)",
                     out / "fig_knn_models.png", names=[h.rpartition(".")[2] for h in ids])
    ctx.figures.draw(plots.sweep_curve, sweep, gamma, out / "fig_sweep.png")
    ctx.figures.draw(plots.graph_plot, layout, edges, [int(c) for c in clusters],
                     f"Leiden clusters at γ = {gamma:.2f} (Fig. 5)", out / "fig_clusters.png", names=ids)
    order = np.argsort(clusters, kind="stable")
    dist = head_distances(flatten_heads(patterns))[np.ix_(order, order)]
    ctx.figures.draw(plots.distance_heatmap, dist, [ids[i] for i in order], "Head distances, cluster order (Fig. 2)",
                     out / "fig_distances_cluster_order.png", group_boundaries(list(clusters[order])))
    means = np.stack([patterns[clusters == c].mean(axis=(0, 1)) for c in range(clusters.max() + 1)])
    titles = [f"cluster {c} (n={np.sum(clusters == c)})" for c in range(len(means))]
    ctx.figures.draw(plots.pattern_grid, means[:, None], titles, [], out / "fig_cluster_patterns.png", signed=False)
