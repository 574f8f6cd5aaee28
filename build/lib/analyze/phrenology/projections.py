"""Low-dimensional views of heads (Attention Phrenology §2.1.5–2.1.7); steps ``embeddings``, ``pca`` and ``first_token``.

"Projection" here means a 2-D picture of heads (PCA, UMAP, t-SNE); "embedding" elsewhere in the project means
W_E. The file names (``embedding.csv``, ``fig_embeddings.png``) keep the paper's wording.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyze.phrenology import plots
from analyze.phrenology.distances import flatten_heads


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
    # in float64: scikit-learn's float32 neighbour search took 1.7 s on the paper fleet's 81 x 262,144 heads, its
    # float64 one 0.1 s. t-SNE's layout follows the rounding of its input, so this moved the picture (not the data)
    out["tsne"] = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(every.astype(np.float64))
    out["umap"] = umap_2d(every, umap_neighbors, umap_min_dist, seed)
    return out


def cache_umap_compilation() -> None:
    """Keep UMAP's numba-compiled functions on disk between runs (numba's own ``enable_caching``).

    umap-learn compiles its functions on first use in every process and asks numba to cache almost none of them:
    on 2 CPU cores that was 11-20 s of every phrenology run, against 0.2 s for the fit itself once compiled. With
    caching on, the first run compiles and writes the cache beside umap's sources (or numba's user-wide cache
    dir), and later runs load it. Where no cache dir is writable numba refuses, and the run compiles as before."""
    import umap.layouts
    import umap.spectral
    import umap.umap_
    import umap.utils
    from numba.core.registry import CPUDispatcher

    for module in (umap.umap_, umap.layouts, umap.utils, umap.spectral):
        for function in vars(module).values():
            uncached = type(getattr(function, "_cache", None)).__name__ in ("NullCache", "NoneType")
            if isinstance(function, CPUDispatcher) and uncached:
                try:
                    function.enable_caching()
                except RuntimeError:  # numba found no writable cache location
                    return


def umap_2d(vectors: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    import umap

    cache_umap_compilation()
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


# ---------------------------------------------------------------- steps

def step_embeddings(ctx) -> None:
    run, cfg = ctx.run, ctx.cfg
    ids = run.head_ids
    art, art_ids = run.artificial
    coords = project_heads(flatten_heads(run.patterns), flatten_heads(art), cfg.seed, cfg.umap_neighbors,
                           cfg.umap_min_dist, cfg.tsne_perplexity)
    every = ids + art_ids
    rows = [{"head_id": h, "method": m, "x": xy[i, 0], "y": xy[i, 1], "artificial": h in art_ids}
            for m, xy in coords.items() for i, h in enumerate(every)]
    pd.DataFrame(rows).to_csv(ctx.out / "embedding.csv", index=False)
    ctx.figures.draw(plots.embeddings, coords, list(run.models), art_ids, ctx.out / "fig_embeddings.png")


def step_pca(ctx) -> None:
    run, cfg = ctx.run, ctx.cfg
    patterns = run.patterns
    pca = pca_fit(flatten_heads(patterns), cfg.pca_components, cfg.seed)
    pd.DataFrame({"component": np.arange(1, pca.n_components_ + 1), "explained_variance_ratio":
                  pca.explained_variance_ratio_}).to_csv(ctx.out / "pca.csv", index=False)
    shown = min(cfg.pca_prompts, patterns.shape[1])
    maps = pca.components_.reshape(pca.n_components_, *patterns.shape[1:])[:, :shown]  # [comp, prompt, q, k]
    np.save(ctx.out / "pca_components.npy", pca.components_.reshape(pca.n_components_, *patterns.shape[1:]))
    ctx.figures.draw(plots.pattern_grid, maps, [f"PC{i + 1}" for i in range(len(maps))], run.prompt_words(shown),
                     ctx.out / "fig_pca_components.png")


def step_first_token(ctx) -> None:
    run, cfg = ctx.run, ctx.cfg
    patterns = run.patterns
    n = min(cfg.first_token_prompts, patterns.shape[1])
    rows = first_token_attention(patterns[:, :n])  # [prompt*(query-1), head]
    xy = pca_fit(rows, 2, cfg.seed).transform(rows)
    words = [w for ws in run.prompt_words(n) for w in ws[1:]]
    pd.DataFrame({"word": words, "x": xy[:, 0], "y": xy[:, 1]}).to_csv(ctx.out / "first_token_pca.csv", index=False)
    ctx.figures.draw(plots.labelled_scatter, xy, words, "Attention to the first token, PCA over heads (Fig. 11)",
                     ctx.out / "fig_first_token.png")
