"""Head distances and low-dimensional views of heads (seed 003 §2.1.4–2.1.7).

A head is the flattened vector of all its attention weights over the analysis prompts
(``patterns[head].reshape(-1)``), so two heads are close when they attend alike on the same prompts.
"""

from __future__ import annotations

import numpy as np


def flatten_heads(patterns: np.ndarray) -> np.ndarray:
    """[head, prompt, query, key] → [head, prompt*query*key]"""
    return patterns.reshape(len(patterns), -1)


def head_distances(vectors: np.ndarray) -> np.ndarray:
    """Euclidean distance between every pair of rows.  [head, feature] → [head, head] (§2.1.4)"""
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(vectors.astype(np.float64), metric="euclidean")


def pca_fit(vectors: np.ndarray, n_components: int, seed: int = 0):
    """A fitted sklearn PCA of heads (rows)."""
    from sklearn.decomposition import PCA

    return PCA(n_components=min(n_components, *vectors.shape), random_state=seed).fit(vectors)


def project_heads(real: np.ndarray, artificial: np.ndarray, seed: int, umap_neighbors: int = 5,
                  umap_min_dist: float = 0.1, tsne_perplexity: float = 5.0) -> dict[str, np.ndarray]:
    """2-D PCA, UMAP and t-SNE coordinates of the real heads followed by the artificial ones (§2.1.5).

    PCA is fitted on the real heads only and the artificial heads are projected into it; UMAP and t-SNE
    cannot project new points faithfully, so they are fitted on all heads together (as the paper's figure).
    Returns ``{method: [real + artificial, 2]}``.
    """
    from sklearn.manifold import TSNE

    every = np.concatenate([real, artificial])
    pca = pca_fit(real, 2, seed)
    out = {"pca": pca.transform(every)}
    perplexity = min(tsne_perplexity, (len(every) - 1) / 3)  # sklearn needs perplexity < n_samples
    out["tsne"] = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(every)
    out["umap"] = umap_2d(every, umap_neighbors, umap_min_dist, seed)
    return out


def umap_2d(vectors: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(vectors) - 1), min_dist=min_dist,
                        random_state=seed, n_jobs=1)
    return reducer.fit_transform(vectors)


def first_token_attention(patterns: np.ndarray) -> np.ndarray:
    """How much each query token attends to the first token, per head (§2.1.7).

    [head, prompt, query, key] → [prompt*query, head]: one row per (prompt, query) token, to be embedded
    with PCA and labelled by the word; query 0 (always 1.0) is dropped.
    """
    first = patterns[:, :, 1:, 0]  # [head, prompt, query-1]
    return first.reshape(len(patterns), -1).T
