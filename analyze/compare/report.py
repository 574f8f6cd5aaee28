"""``report.html`` of a comparison: the pretrained heads over the fleet's projection (hover: a head's pattern beside
its nearest toy head's, with the placement p-value), a layer × head grid of where heads land, the matching and the
score context as sortable tables, and a figure of matched mean patterns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analyze.core.figures import plt, save_figure
from analyze.core.html import Section

SHOWN_PROMPTS = 2  # prompts per head on the page
ALPHA = 0.05


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#393b79", "#e7ba52"]  # the pages' palette (static/heads.js)


def cluster_colour(c) -> str:
    return PALETTE[int(c) % len(PALETTE)]


def grid_figure(placement: pd.DataFrame, names: dict, path: Path) -> Path:
    """Layer × head, coloured by the cluster a head lands in (p ≤ α), grey otherwise."""
    from analyze.core.heads import parse_head_id

    parsed = [parse_head_id(h) for h in placement.pretrained_head]
    n_layers, n_heads = max(p[1] for p in parsed) + 1, max(p[2] for p in parsed) + 1
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * n_heads, 0.9 + 0.26 * n_layers))
    for (_, layer, head), row in zip(parsed, placement.itertuples()):
        landed = row.p_value <= ALPHA
        ax.add_patch(plt.Rectangle((head - 0.45, layer - 0.45), 0.9, 0.9,
                                   color=cluster_colour(row.nearest_cluster) if landed else "#d9d9d9"))
        if landed:
            ax.text(head, layer, str(row.nearest_cluster), ha="center", va="center", fontsize=6, color="white")
    ax.set_xlim(-0.6, n_heads - 0.4)
    ax.set_ylim(n_layers - 0.4, -0.6)
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    used = sorted(set(placement[placement.p_value <= ALPHA].nearest_cluster))
    handles = [plt.Rectangle((0, 0), 1, 1, color=cluster_colour(c)) for c in used] + [
        plt.Rectangle((0, 0), 1, 1, color="#d9d9d9")]
    labels = [f"{c}: {names[c]}" for c in used] + [f"p > {ALPHA}: no cluster"]
    ax.legend(handles, labels, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("pretrained heads by the fleet cluster they land in", fontsize=9)
    return save_figure(fig, path)


def placement_figure(toy_patterns, toy_clusters, their_patterns, placement, names, path: Path) -> Path:
    """The fleet's heads on their PCA by cluster, the pretrained heads projected into it: coloured by the cluster
    they land in with p ≤ α, grey otherwise (no text labels: hundreds of heads would pile up)."""
    from analyze.phrenology.distances import flatten_heads
    from analyze.phrenology.projections import pca_fit

    toy, theirs = flatten_heads(toy_patterns), flatten_heads(their_patterns)
    pca = pca_fit(toy, 2, 0)
    t, s = pca.transform(toy), pca.transform(theirs)
    fig, ax = plt.subplots(figsize=(8, 6))
    for c in sorted(set(toy_clusters)):
        m = toy_clusters == c
        ax.scatter(t[m, 0], t[m, 1], s=28, color=cluster_colour(c), edgecolor="k", lw=0.4, label=f"toy {c}: {names[c]}")
    landed = placement.p_value.to_numpy() <= ALPHA
    ax.scatter(s[~landed, 0], s[~landed, 1], s=14, marker="D", color="#bbbbbb", lw=0, label=f"pretrained, p > {ALPHA}")
    ax.scatter(s[landed, 0], s[landed, 1], s=18, marker="D", lw=0.3, edgecolor="k",
               color=[cluster_colour(c) for c in placement.nearest_cluster[landed]], label="pretrained, landed")
    ax.set_xlabel(f"PC1 of the fleet's heads ({pca.explained_variance_ratio_[0]:.0%})")
    ax.set_ylabel(f"PC2 ({pca.explained_variance_ratio_[1]:.0%})")
    ax.legend(fontsize=6, loc="best")
    ax.set_title("pretrained heads projected onto the PCA of the fleet's heads", fontsize=9)
    return save_figure(fig, path)



def frame_json(frame: pd.DataFrame, title: str, note: str = "") -> dict:
    return {"title": title, "note": note, "columns": list(frame.columns),
            "rows": frame.astype(object).where(frame.notna(), None).values.tolist()}


def page_data(result, pretrained_name: str, seed: int) -> dict:
    """The compare page's data (analyze/core/static/heads.js, ``comparePage``)."""
    from analyze.core.heads import parse_head_id
    from analyze.core.page import encode_unit
    from analyze.phrenology.distances import flatten_heads
    from analyze.phrenology.projections import pca_fit

    toy_flat, their_flat = flatten_heads(result.toy_patterns), flatten_heads(result.their_patterns)
    pca = pca_fit(toy_flat, 2, seed)
    toy_xy, their_xy = pca.transform(toy_flat), pca.transform(their_flat)
    placed = result.placement.set_index("pretrained_head")
    shown = min(SHOWN_PROMPTS, result.toy_patterns.shape[1])
    parsed = [parse_head_id(h) for h in result.their_ids]
    their_heads = []
    for (_, layer, head), hid, xy in zip(parsed, result.their_ids, their_xy):
        row = placed.loc[hid]
        their_heads.append({"id": hid, "layer": layer, "head": head, "cluster": int(row.nearest_cluster),
                            "p": float(row.p_value), "distance": float(row.distance),
                            "nearest": str(row.nearest_toy_heads).split(";"), "x": float(xy[0]), "y": float(xy[1])})
    context_note = ("Each pretrained head's score beside the fleet's mean, spread and best head, 'best' read in the "
                    "score's own direction (registry); chance: the score of an unstructured head of this model.")
    return {
        "kind": "compare", "pretrained": pretrained_name, "alpha": ALPHA,
        "n_layers": max(p[1] for p in parsed) + 1, "n_heads": max(p[2] for p in parsed) + 1,
        "clusters": {int(c): n for c, n in result.cluster_names.items()},
        "toy": {"heads": [{"id": h, "cluster": int(c), "x": float(xy[0]), "y": float(xy[1])}
                          for h, c, xy in zip(result.toy_ids, result.toy_clusters, toy_xy)],
                "prompts": result.toy_tokens[:shown],
                "patterns": {h: [encode_unit(p) for p in result.toy_patterns[i, :shown]]
                             for i, h in enumerate(result.toy_ids)}},
        "theirs": {"heads": their_heads, "prompts": result.their_tokens[:shown],
                   "patterns": {h: [encode_unit(p) for p in result.their_patterns[i, :shown]]
                                for i, h in enumerate(result.their_ids)}},
        "tables": {
            "placement": frame_json(result.placement.drop(columns=["tokenization"]),
                                    "Where each pretrained head lands (pattern space)",
                                    "Small p: closer to that cluster's centroid than to the centroid of a random "
                                    "group of as many toy heads."),
            "matching": frame_json(result.matching, "Matching clusters to pretrained heads (Hungarian)"),
            "context": frame_json(result.context, "Probe scores next to the fleet's distribution", context_note),
        },
    }


def figures_and_report(result, out, fleet_name: str, pretrained: str, seed: int, config: dict) -> None:
    from analyze.core.page import write_page
    from analyze.phrenology import plots

    pattern_rows = result.matching[result.matching.space == "pattern"]
    maps = []
    for _, row in pattern_rows.iterrows():
        toy_mean = result.toy_patterns[result.toy_clusters == row.cluster].mean(axis=(0, 1))
        their_mean = result.their_patterns[result.their_ids.index(row.pretrained_head)].mean(axis=0)
        maps.append(np.stack([toy_mean, their_mean]))
    titles = [f"cluster {r.cluster} | {r.pretrained_head}" for _, r in pattern_rows.iterrows()]
    placement_figure(result.toy_patterns, result.toy_clusters, result.their_patterns, result.placement,
                     result.cluster_names, out / "fig_placement.png")
    sections = [Section("Static view: where the pretrained heads land", figures=[
        (out / "fig_placement.png", "PCA of the fleet's heads; pretrained heads projected, coloured by the cluster they "
                                   "land in with p ≤ 0.05, grey otherwise")])]
    if maps:
        plots.pattern_grid(np.stack(maps), titles, [], out / "fig_matched_patterns.png", signed=False)
        sections.append(Section("Mean patterns: cluster vs matched pretrained head",
                                figures=[(out / "fig_matched_patterns.png", "left: cluster mean; right: pretrained head")]))
    name = pretrained if not result.their_ids else result.their_ids[0].rpartition(".")[0]
    landed = result.placement[(result.placement.p_value <= ALPHA)]
    intro = (f"<p>{len(result.their_ids)} heads of <b>{name}</b> placed among the {len(set(result.toy_clusters))} "
             f"clusters of fleet <b>{fleet_name}</b>: {len(landed)} land in a cluster with p ≤ {ALPHA}. "
             f"<b>Prompts:</b> {result.tokenization}.</p>"
             + "".join(f"<div class=verdict>{s}</div>" for s in result.matching.query("space == 'pattern'").statement))
    write_page(out / "report.html", f"Toy fleet {fleet_name} vs {name}", page_data(result, name, seed), intro,
               sections, config)
