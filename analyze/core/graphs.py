"""Graph primitives shared by the pipelines: a kNN graph of row vectors and Leiden clustering (leidenalg + igraph)."""

from __future__ import annotations

import numpy as np


def knn_graph(vectors: np.ndarray, k: int, weighted: bool = False):
    """Undirected igraph graph linking each row to its ``k - 1`` nearest other rows (Euclidean; k counts the row).

    ``weighted``: edge weight = distance, summed over the two directions (the authors' ``get.knn``, mode "plus").
    """
    import igraph as ig
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(vectors))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(vectors).kneighbors(vectors)
    weights: dict[tuple[int, int], float] = {}
    for i, (row, drow) in enumerate(zip(idx, dist)):
        for j, d in zip(row[1:], drow[1:]):
            if i != j:
                key = (min(i, j), max(i, j))
                weights[key] = weights.get(key, 0.0) + float(d)
    edges = sorted(weights)
    graph = ig.Graph(n=len(vectors), edges=edges)
    if weighted:
        graph.es["weight"] = [weights[e] for e in edges]
    return graph


def leiden(graph, gamma: float, seed: int) -> np.ndarray:
    """Leiden clustering with the RB configuration model at resolution ``gamma``.  → [node] cluster ids"""
    import leidenalg

    weights = "weight" if "weight" in graph.es.attributes() else None
    part = leidenalg.find_partition(graph, leidenalg.RBConfigurationVertexPartition, weights=weights,
                                    resolution_parameter=gamma, seed=seed)
    return np.asarray(part.membership)
