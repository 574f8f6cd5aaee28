"""Clustering heads across models: kNN graph, Leiden resolution sweep, F-score (seed 003 §2.2.2).

F-score (authors' R/autoencode.R ``test.leiden``): in each cluster, the first head of each model is a
true positive and every further head of the same model a false positive, so

    precision_c = (distinct models in c) / |c|          recall_c = (distinct models in c) / n_models

and F is the mean over clusters of their harmonic mean. A clustering with exactly one head of every model
in every cluster scores precision = recall = F = 1; a cluster that misses models loses recall, a cluster
that holds two heads of one model loses precision.

The kNN graph follows the authors' ``get.knn``: a head's k nearest heads include the head itself (distance
0), so each head links to its k - 1 nearest others; with k = 9 and 9 models, a head whose counterparts in
the 8 other models are its nearest neighbours links to exactly them. The graph is undirected. The authors
used distances as edge weights, which makes far neighbours the strongest links; we use no weights.
"""

from __future__ import annotations

import numpy as np


def knn_graph(vectors: np.ndarray, k: int):
    """Undirected igraph graph linking each row to its ``k - 1`` nearest other rows (Euclidean; k counts the row)."""
    import igraph as ig
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(vectors))
    _, idx = NearestNeighbors(n_neighbors=k).fit(vectors).kneighbors(vectors)
    edges = {(min(i, j), max(i, j)) for i, row in enumerate(idx) for j in row[1:] if i != j}
    graph = ig.Graph(n=len(vectors), edges=sorted(edges))
    return graph


def leiden(graph, gamma: float, seed: int) -> np.ndarray:
    """Leiden clustering with the RB configuration model at resolution ``gamma``.  → [node] cluster ids"""
    import leidenalg

    part = leidenalg.find_partition(graph, leidenalg.RBConfigurationVertexPartition,
                                    resolution_parameter=gamma, seed=seed)
    return np.asarray(part.membership)


def f_score(clusters: np.ndarray, models: np.ndarray) -> dict[str, float]:
    """Mean per-cluster precision, recall and F (see module docstring)."""
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
                     seed: int = 0) -> tuple[list[dict], dict[float, np.ndarray]]:
    """Leiden at ``n_gammas`` seeded uniform-random resolutions; rows for ``resolution_sweep.csv``."""
    gammas = np.sort(np.random.default_rng(seed).uniform(*gamma_range, n_gammas))
    rows, memberships = [], {}
    for gamma in gammas:
        clusters = leiden(graph, float(gamma), seed)
        memberships[float(gamma)] = clusters
        rows.append({"gamma": float(gamma), "n_clusters": int(clusters.max() + 1),
                     "modularity": graph.modularity(clusters.tolist()), **f_score(clusters, models)})
    return rows, memberships


def best_clustering(rows: list[dict], memberships: dict[float, np.ndarray]) -> tuple[float, np.ndarray]:
    """The γ with the highest F-score (the smallest such γ on ties) and its clustering."""
    best = max(rows, key=lambda r: (r["f_score"], -r["gamma"]))
    return best["gamma"], memberships[best["gamma"]]


def cluster_heads(vectors: np.ndarray, models: np.ndarray, k: int, n_gammas: int, gamma_range, seed: int):
    """kNN graph + sweep + best clustering in one call: ``(sweep_rows, best_gamma, clusters, graph)``."""
    graph = knn_graph(vectors, k)
    rows, memberships = resolution_sweep(graph, models, n_gammas, gamma_range, seed)
    gamma, clusters = best_clustering(rows, memberships)
    return rows, gamma, clusters, graph
