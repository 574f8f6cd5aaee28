"""Report sections of the QK-side probes (seed 001, 002): token QK maps, steering, prediction-attention,
upstream ablation and token clusters."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analyze.plots import _save  # noqa: E402


def _heatmaps(maps: dict[str, np.ndarray], heads: list[str], labels: list[str], title: str, path, cmap="RdBu_r",
              boundaries=()):
    fig, axes = plt.subplots(1, len(heads), figsize=(5 * len(heads), 4.8), squeeze=False)
    for ax, hid in zip(axes[0], heads):
        m = maps[hid]
        if cmap == "RdBu_r":
            lim = max(np.abs(m).max(), 1e-9)
            ax.imshow(m, cmap=cmap, vmin=-lim, vmax=lim)
        else:
            ax.imshow(m, cmap=cmap, vmin=0, vmax=1)
        for b in boundaries:
            ax.axhline(b - 0.5, color="k", lw=0.4)
            ax.axvline(b - 0.5, color="k", lw=0.4)
        ax.set_title(f"{hid}: {title}", fontsize=9)
        step = max(1, len(labels) // 40)
        ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=90, fontsize=5)
        ax.set_yticks(range(0, len(labels), step), labels[::step], fontsize=5)
        ax.set_xlabel("key token")
        ax.set_ylabel("query token")
    return _save(fig, path)


def steering_figure(steering: pd.DataFrame, path):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(steering.alpha, steering.self_attention, "o-", label="attention to itself")
    ax.plot(steering.alpha, steering.in_category_attention, "s-", label="attention to its category")
    ax.set_xlabel("α (scale of the negative eigenvalues)")
    ax.set_ylabel("mean softmax mass")
    ax.set_title(f"{steering.head_id.iloc[0]}: steering", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def upstream_figure(ablation: pd.DataFrame, path):
    shown = ablation[ablation.component != "none"]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(shown)), 3.5))
    ax.bar(shown.component, shown.delta)
    ax.set_ylabel("semantic score increase when mean-ablated")
    ax.tick_params(axis="x", rotation=45)
    return _save(fig, path)


def qk_sections(frame: pd.DataFrame, extras: dict, categories, tokenizer, top: int, out) -> list[dict]:
    """Sections for ``report.html``; empty when no QK-side probe ran."""
    sections = []
    merged = lambda key: {k: v for e in extras.values() for k, v in (e.get(key) or {}).items()}  # noqa: E731
    category_maps = merged("category_maps")
    if category_maps:
        key = "semantic_score" if "semantic_score" in frame else "qk_neg_eigs"
        ordered = frame.sort_values(key, ascending=key == "semantic_score")
        heads = list(ordered.head_id[:top])
        boundaries = np.flatnonzero(np.diff(categories.labels)) + 1
        fig = _heatmaps(category_maps, heads, list(categories.words), "QK token map", out / "fig_qk_maps.png",
                        boundaries=boundaries)
        sections.append({"title": "Token QK maps (seed 001)", "figures": [(fig, f"A = E W_Q W_K^T E^T / √d_head over "
                         f"the category words, heads ranked by {key}; blocks are categories. A semantic head is "
                         f"bright inside the blocks and dark on the diagonal.")]})
    bag_maps = merged("bag_maps")
    if bag_maps and "prediction_attention" in frame:
        heads = list(frame.sort_values("prediction_attention", ascending=False).head_id[:top])
        bag = next(e["bag_tokens"] for e in extras.values() if e.get("bag_tokens") is not None)
        labels = [tokenizer.decode([int(t)]) for t in bag]
        fig = _heatmaps(bag_maps, heads, labels, "prediction-attention", out / "fig_prediction_attention.png",
                        cmap="Blues")
        sections.append({"title": "Prediction-attention (seed 002, Eq. 2)", "figures": [(fig, "softmax over key "
                         "tokens s of W_EE,s W_K W_Q^T W_U,t for one bag of Brown tokens; the score is the mean of "
                         "the diagonal")]})
    for model_extras in extras.values():
        if "steering" in model_extras:
            steering = pd.DataFrame(model_extras["steering"])
            fig = steering_figure(steering, out / "fig_steering.png")
            sections.append({"title": "Steering the negative eigenvalues (seed 001)",
                             "figures": [(fig, "category-word map with the symmetric part's negative eigenvalues "
                                               "scaled by α; α = 1 is the head as trained")], "tables": [steering]})
        if "upstream_ablation" in model_extras:
            ablation = pd.DataFrame(model_extras["upstream_ablation"])
            fig = upstream_figure(ablation, out / "fig_upstream_ablation.png")
            sections.append({"title": "Upstream mean-ablation (seed 001)", "figures": [(fig, "each upstream "
                             "component replaced by its mean over Brown prompts")], "tables": [ablation]})
        if "token_clusters" in model_extras:
            ids, _, clusters = model_extras["token_clusters"]
            words = [tokenizer.decode([int(t)]) for t in ids]
            table = pd.DataFrame({"cluster": clusters, "token": words}).groupby("cluster").agg(
                size=("token", "size"), tokens=("token", lambda t: " ".join(list(t)[:15])))
            sections.append({"title": "Token clusters (Leiden on the token QK map)",
                             "tables": [table.sort_values("size", ascending=False).reset_index()]})
    return sections
