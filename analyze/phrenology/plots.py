"""Figures for the phrenology report; each function takes arrays, writes one PNG and returns its path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from analyze.core.figures import group_colors, legend_for_groups, plt, save_figure



def distance_heatmap(dist: np.ndarray, labels: list[str], title: str, path: Path, boundaries=None) -> Path:
    """Fig. 2 / 7: pairwise head distances, with lines between groups (models or clusters)."""
    n = len(labels)
    fig, ax = plt.subplots(figsize=(7 + n / 30, 6 + n / 30))
    im = ax.imshow(dist, cmap="viridis")
    fig.colorbar(im, ax=ax, label="Euclidean distance")
    step, across = max(1, n // 40), max(1, -(-n // 8))  # horizontal labels: fewer of them across
    ax.set_xticks(range(0, n, across), [labels[i] for i in range(0, n, across)], fontsize=7)
    ax.set_yticks(range(0, n, step), [labels[i] for i in range(0, n, step)], fontsize=7)
    for b in boundaries or []:
        ax.axhline(b - 0.5, color="w", lw=0.6)
        ax.axvline(b - 0.5, color="w", lw=0.6)
    ax.set_title(title)
    return save_figure(fig, path)


def embeddings(coords: dict[str, np.ndarray], models: list[str], artificial: list[str], path: Path) -> Path:
    """Fig. 8: PCA, UMAP and t-SNE of the heads, artificial heads in black/greys and labelled."""
    n_real = len(models)
    greys = ["black", "dimgrey", "darkgrey"]
    fig, axes = plt.subplots(1, len(coords), figsize=(5 * len(coords), 4.6))
    colors = group_colors(models)
    for ax, (method, xy) in zip(np.atleast_1d(axes), coords.items()):
        for i, name in enumerate(artificial):  # stars under the heads: a head sitting on a star stays visible
            ax.scatter(*xy[n_real + i], c=greys[i % 3], s=110, marker="*", edgecolor="k", zorder=1)
            right = xy[n_real + i, 0] > np.median(xy[:, 0])  # label toward the middle: never clipped at an edge
            ax.annotate(name.removeprefix("art."), xy[n_real + i], fontsize=8, xytext=(-6 if right else 6, 6),
                        textcoords="offset points", ha="right" if right else "left")
        ax.scatter(xy[:n_real, 0], xy[:n_real, 1], c=colors, s=22, zorder=2, alpha=0.85)
        label = {"pca": "PC", "tsne": "t-SNE ", "umap": "UMAP "}.get(method, f"{method} ")
        ax.set_title({"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}.get(method, method.upper()))
        ax.set_xlabel(f"{label}1")
        ax.set_ylabel(f"{label}2")
        ax.margins(0.08)
    legend_for_groups(np.atleast_1d(axes)[-1], models, colors, loc="best")
    return save_figure(fig, path)


def pattern_grid(maps: np.ndarray, row_titles: list[str], tokens: list[list[str]], path: Path,
                 signed: bool = True) -> Path:
    """Fig. 9 / 10: a grid of [row, prompt, query, key] maps, token labels on the axes of the first row.

    A column is one prompt, so its tokens are written once, on the first row's panel; the rows below it have no
    ticks. Tick labels are most of matplotlib's drawing time: on every panel of the 5 x 8 PCA grid they took 3.7 s
    of each phrenology run, on the first row 0.9 s."""
    n_rows, n_cols = maps.shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols + 0.8, 2.7 * n_rows), squeeze=False)
    for r in range(n_rows):
        lim = np.abs(maps[r]).max() or 1.0
        for c in range(n_cols):
            ax = axes[r, c]
            image = ax.imshow(maps[r, c], cmap="RdBu_r" if signed else "Blues", vmin=-lim if signed else 0, vmax=lim)
            n = maps.shape[-1]
            if c < len(tokens) and r == 0:  # the column's prompt, as its tokens, never piled up
                labels = [f"{i}:{t.strip() or '·'}" for i, t in enumerate(tokens[c][:n])]
                ax.set_xticks(range(0, n, max(1, n // 4)))  # key positions across, horizontal; tokens down the side
                ax.set_yticks(range(n), labels, fontsize=7)
                ax.tick_params(axis="x", labelsize=7)
            elif c < len(tokens):  # the same prompt as the panel above: its tokens are read there
                ax.set_xticks([])
                ax.set_yticks([])
            else:  # no tokens (means over prompts): positions
                ax.set_xticks(range(0, n, max(1, n // 4)))
                ax.set_yticks(range(0, n, max(1, n // 4)))
                ax.tick_params(labelsize=6)
            if c == 0:
                ax.set_ylabel(row_titles[r], fontsize=9)
        fig.colorbar(image, ax=list(axes[r]), fraction=0.02, pad=0.01)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def labelled_scatter(xy: np.ndarray, labels: list[str], title: str, path: Path, max_labels: int = 150,
                     colors=None) -> Path:
    """Fig. 11 and others: a 2-D scatter with the points farthest from the centre labelled (at most
    ``max_labels``, one label per word): a label on every point piles up where the points do."""
    fig, ax = plt.subplots(figsize=(8, 6.5))
    ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.5, c=colors if colors is not None else "tab:blue")
    spread = np.linalg.norm((xy - np.median(xy, axis=0)) / (xy.std(axis=0) + 1e-12), axis=1)
    shown: set[str] = set()
    for i in np.argsort(-spread):
        if len(shown) >= min(max_labels, 40):
            break
        if labels[i] not in shown:
            shown.add(labels[i])
            ax.annotate(labels[i].strip() or "·", xy[i], fontsize=7, alpha=0.85)
    ax.set_title(title)
    return save_figure(fig, path)


def pair_heatmap(values: np.ndarray, title: str, path: Path, label: str) -> Path:
    """Fig. 1: a [query, key] map of one number per token pair (upper triangle blank)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    masked = np.ma.masked_where(np.triu(np.ones_like(values, dtype=bool), 1), values)
    im = ax.imshow(masked, cmap="magma")
    fig.colorbar(im, ax=ax, label=label)
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
    ax.set_title(textwrap.fill(title, 48), fontsize=10)  # wrapped: a one-line title is clipped at this width
    return save_figure(fig, path)


def aic_curves(table: list[dict], path: Path) -> Path:
    b = [r["bottleneck"] for r in table]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(b, [r["mse"] for r in table], "o-")
    axes[0].set_ylabel("held-out MSE")
    axes[1].plot(b, [r["aic_paper"] for r in table], "o-", color="tab:red")
    axes[1].set_ylabel("paper: 2k - 2 ln MSE")
    axes[2].plot(b, [r["aic"] for r in table], "o-", label="Gaussian AIC")
    axes[2].plot(b, [r["bic"] for r in table], "s-", label="BIC")
    axes[2].legend()
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bottleneck")
    return save_figure(fig, path)


def graph_plot(layout: np.ndarray, edges: list[tuple[int, int]], labels: list, title: str, path: Path,
               names: list[str] | None = None) -> Path:
    """Fig. 3 / 5: the kNN graph, nodes coloured by model or cluster."""
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    # one artist for all edges: a line each (420 on the paper fleet) was most of this figure's drawing time
    ax.add_collection(LineCollection(layout[np.asarray(edges, dtype=int).reshape(-1, 2)], colors="0.8", lw=0.5,
                                     zorder=0))
    colors = group_colors(labels)
    ax.scatter(layout[:, 0], layout[:, 1], c=colors, s=40, edgecolor="k", lw=0.3)
    for value in sorted(set(labels), key=str):
        ax.scatter([], [], c=[colors[labels.index(value)]], label=str(value))
    ax.legend(fontsize=7, ncol=2, loc="best")
    if names is not None and len(names) <= 80:
        for i, name in enumerate(names):
            ax.annotate(name, layout[i], fontsize=6, alpha=0.75, xytext=(3, 3), textcoords="offset points")
    ax.set_axis_off()
    ax.set_title(title)
    return save_figure(fig, path)


def sweep_curve(rows: list[dict], best_gamma: float, path: Path) -> Path:
    """Fig. 4: F-score, precision, recall and cluster count against γ."""
    g = np.array([r["gamma"] for r in rows])
    fig, ax = plt.subplots(figsize=(8, 4.6))
    handles = []
    for key in ("f_score", "precision", "recall"):
        handles += ax.plot(g, [r[key] for r in rows], ".", ms=3, label=key)
    handles.append(ax.axvline(best_gamma, color="k", ls="--", lw=0.8, label=f"best γ = {best_gamma:.2f}"))
    ax.set_xlabel("resolution γ")
    ax.set_ylabel("score")
    twin = ax.twinx()
    handles += twin.plot(g, [r["n_clusters"] for r in rows], ".", ms=2, color="0.5", label="clusters (right axis)")
    twin.set_ylabel("clusters", color="0.5")
    # below the axes, so no series is hidden; one legend for both axes
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5, fontsize=8, markerscale=3)
    return save_figure(fig, path)


def logit_scatter(panels: list[tuple[str, np.ndarray, np.ndarray, list[tuple[int, str]]]], path: Path) -> Path:
    """Fig. 12 / 13: original (x) against knocked-out (y) logits; above the diagonal = suppressed by the head."""
    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 4 * rows), squeeze=False)
    for ax, (title, x, y, labelled) in zip(axes.flat, panels):
        ax.scatter(x, y, s=2, alpha=0.3)
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.6)
        for idx, text in labelled:
            ax.annotate(text, (x[idx], y[idx]), fontsize=7, color="tab:red")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("original logit")
        ax.set_ylabel("knocked-out logit")
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    return save_figure(fig, path)


def stability_plot(rows: list[dict], real_f: float, path: Path) -> Path:
    tests = sorted({r["test"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for t in tests:
        ari = [r["ari"] for r in rows if r["test"] == t and not np.isnan(r["ari"])]
        if ari:
            axes[0].hist(ari, bins=10, range=(-0.1, 1), alpha=0.6, label=t)
        axes[1].hist([r["f_score"] for r in rows if r["test"] == t], bins=10, range=(0, 1), alpha=0.6, label=t)
    axes[0].set_xlabel("ARI with the best clustering")
    axes[1].axvline(real_f, color="k", ls="--", label="real heads, best γ")
    axes[1].set_xlabel("F-score")
    for ax in axes:
        ax.legend(fontsize=7)
    return save_figure(fig, path)
