"""``report.html`` of a comparison: the pretrained heads over the fleet's projection (hover: a head's pattern beside
its nearest toy head's, with the placement p-value), a layer × head grid of where heads land, the matching and the
score context as sortable tables, and a figure of matched mean patterns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyze.core.html import Section

SHOWN_PROMPTS = 2  # prompts per head on the page
ALPHA = 0.05


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
    sections = []
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
