"""``report.html`` of a comparison: the pretrained heads over the fleet's projection (hover: a head's pattern beside
its nearest toy head's, with its calibrated p-value), a layer × head grid coloured by that p, the controls'
toy-like rates, the matching and the score context as sortable tables, and a figure of matched mean patterns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analyze.core.figures import plt, save_figure
from analyze.core.html import Section
from analyze.core.page import frame_json

SHOWN_PROMPTS = 2  # prompts per head on the page
ALPHA = 0.05


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#393b79", "#e7ba52"]  # the pages' palette (static/heads.js)


def cluster_colour(c) -> str:
    return PALETTE[int(c) % len(PALETTE)]


def grid_figure(placement: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Layer × head, coloured by the calibrated p (log scale; below α: not toy-like), the nearest cluster's number
    written in every toy-like cell."""
    from matplotlib.colors import LogNorm

    layer, head = placement["layer"].to_numpy(), placement["head"].to_numpy()
    n_layers, n_heads = int(layer.max()) + 1, int(head.max()) + 1
    grid = np.full((n_layers, n_heads), np.nan)
    grid[layer, head] = placement.p_value
    floor = max(float(placement.p_value.min()), 1e-4)
    fig, ax = plt.subplots(figsize=(2.2 + 0.55 * n_heads, 1.2 + 0.26 * n_layers))
    image = ax.imshow(grid, cmap="viridis", norm=LogNorm(vmin=min(floor, ALPHA / 2), vmax=1), aspect="auto")
    for l, h, like, c in zip(layer, head, placement.toy_like, placement.nearest_cluster):
        if like:
            ax.text(h, l, str(c), ha="center", va="center", fontsize=7, color="black")
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    ax.tick_params(labelsize=8)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("calibrated p (toy-like above 0.05)", fontsize=8)
    bar.ax.axhline(ALPHA, color="white", lw=1.5)
    ax.set_title(title or "each head's calibrated p; number: nearest cluster of a toy-like head", fontsize=9)
    return save_figure(fig, path)


def placement_figure(toy_patterns, toy_clusters, their_patterns, placement, names, path: Path,
                     headline: str = "pattern_nosink") -> Path:
    """The fleet's heads on their PCA (headline space) by cluster, the pretrained heads projected into it: toy-like
    ones in their nearest cluster's colour, the rest grey (no text labels: hundreds of heads would pile up)."""
    from analyze.compare.calibration import flat, space_patterns
    from analyze.phrenology.projections import pca_fit

    toy, theirs = flat(space_patterns(toy_patterns, headline)), flat(space_patterns(their_patterns, headline))
    pca = pca_fit(toy, 2, 0)
    t, s = pca.transform(toy), pca.transform(theirs)
    fig, ax = plt.subplots(figsize=(8, 6))
    for c in sorted(set(toy_clusters)):
        m = toy_clusters == c
        ax.scatter(t[m, 0], t[m, 1], s=28, color=cluster_colour(c), edgecolor="k", lw=0.4, label=f"toy cluster {c}: {names[c]}")
    like = placement.toy_like.to_numpy()
    ax.scatter(s[~like, 0], s[~like, 1], s=14, marker="D", color="#bbbbbb", lw=0,
               label=f"pretrained, not toy-like (p ≤ {ALPHA})")
    ax.scatter(s[like, 0], s[like, 1], s=22, marker="D", lw=0.4, edgecolor="k",
               color=[cluster_colour(c) for c in placement.nearest_cluster[like]],
               label="pretrained, toy-like (colour: nearest cluster)")
    ax.set_xlabel(f"PC1 of the fleet's heads ({pca.explained_variance_ratio_[0]:.0%} of their variance)")
    ax.set_ylabel(f"PC2 ({pca.explained_variance_ratio_[1]:.0%})")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"pretrained heads projected onto the PCA of the fleet's heads ({headline.replace('_', ' ')})",
                 fontsize=9)
    return save_figure(fig, path)


def page_data(result, pretrained_name: str, seed: int) -> dict:
    """The compare page's data (analyze/core/static/heads.js, ``comparePage``)."""
    from analyze.core.heads import parse_head_id
    from analyze.core.page import encode_unit
    from analyze.phrenology.projections import pca_fit

    from analyze.compare.calibration import flat, space_patterns

    toy_flat = flat(space_patterns(result.toy_patterns, result.headline))
    their_flat = flat(space_patterns(result.their_patterns, result.headline))
    pca = pca_fit(toy_flat, 2, seed)
    toy_xy, their_xy = pca.transform(toy_flat), pca.transform(their_flat)
    placed = result.placement.set_index("pretrained_head")
    shown = min(SHOWN_PROMPTS, result.toy_patterns.shape[1])
    parsed = [parse_head_id(h) for h in result.their_ids]
    their_heads = []
    for (_, layer, head), hid, xy in zip(parsed, result.their_ids, their_xy):
        row = placed.loc[hid]
        their_heads.append({"id": hid, "layer": layer, "head": head, "cluster": int(row.nearest_cluster),
                            "p": float(row.p_value), "toy_like": bool(row.toy_like), "distance": float(row.distance),
                            "sink": float(row.first_token_mass),
                            "nearest": str(row.nearest_toy_heads).split(";"), "x": float(xy[0]), "y": float(xy[1])})
    context_note = ("Each pretrained head's score beside the fleet's mean, spread and best head, 'best' read in the "
                    "score's own direction (registry); chance: the score of an unstructured head of this model.")
    return {
        "kind": "compare", "pretrained": pretrained_name, "alpha": ALPHA, "space": result.headline,
        "controls": {name: {"toy_like": int(f.toy_like.sum()), "n": len(f)} for name, f in result.controls.items()},
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
            "placement": frame_json(result.placement.drop(columns=["tokenization", "space"]),
                                    "Each pretrained head's calibrated p and nearest cluster",
                                    f"p: the share of the fleet's own heads, each measured with its model left out, "
                                    f"that lie at least as far from the nearest cluster ({result.headline} space). "
                                    f"p ≤ {ALPHA}: no toy seed grows a head this far from every cluster."),
            "reference": frame_json(result.reference, "The fleet's own heads, each with its model left out",
                                    "Their distances are the reference every p is read against; their own p should "
                                    "spread evenly over 0 to 1."),
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
                     result.cluster_names, out / "fig_placement.png", result.headline)
    grid_figure(result.placement, out / "fig_grid.png")
    sections = [Section("Static view: which pretrained heads are toy-like", figures=[
        (out / "fig_placement.png", "PCA of the fleet's heads; pretrained heads projected, toy-like ones in the colour "
                                   "of their nearest cluster, the rest grey"),
        (out / "fig_grid.png", "Every pretrained head's calibrated p; the number is the nearest cluster of a "
                               "toy-like head")])]
    if maps:
        plots.pattern_grid(np.stack(maps), titles, [], out / "fig_matched_patterns.png", signed=False)
        sections.append(Section("Mean patterns: cluster vs matched pretrained head",
                                figures=[(out / "fig_matched_patterns.png", "left: cluster mean; right: pretrained head")]))
    name = pretrained if not result.their_ids else result.their_ids[0].rpartition(".")[0]
    like = int(result.placement.toy_like.sum())
    controls = "".join(f" Control <b>{c}</b>: {int(f.toy_like.sum())} of {len(f)} heads toy-like."
                       for c, f in result.controls.items())
    intro = (f"<p>{len(result.their_ids)} heads of <b>{name}</b> tested against the {len(result.toy_ids)} heads of "
             f"fleet <b>{fleet_name}</b> ({len(set(result.toy_clusters))} clusters): <b>{like} of "
             f"{len(result.their_ids)} are toy-like</b>, that is no farther from the nearest cluster than the heads of "
             f"a seed left out of the fleet are (calibrated p &gt; {ALPHA}, {result.headline.replace('_', ' ')} "
             f"space).{controls} <b>Prompts:</b> {result.tokenization}.</p>"
             + "".join(f"<div class=verdict>{s}</div>" for s in result.matching.query("space == 'pattern'").statement))
    write_page(out / "report.html", f"Toy fleet {fleet_name} vs {name}", page_data(result, name, seed), intro,
               sections, config)
