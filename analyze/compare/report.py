"""Figures and ``report.html`` of a comparison: where pretrained heads land, the matching, the score context."""

from __future__ import annotations

import numpy as np

from analyze.core.html import Section, write_report


def figures_and_report(result, out, fleet_name: str, pretrained: str, seed: int, config: dict) -> None:
    from analyze.phrenology import plots
    from analyze.phrenology.distances import flatten_heads
    from analyze.phrenology.projections import pca_fit, umap_2d

    toy_flat, their_flat = flatten_heads(result.toy_patterns), flatten_heads(result.their_patterns)
    pca = pca_fit(toy_flat, 2, seed)
    coords = {"pca": np.concatenate([pca.transform(toy_flat), pca.transform(their_flat)])}
    if len(result.toy_ids) + len(result.their_ids) > 4:
        coords["umap"] = umap_2d(np.concatenate([toy_flat, their_flat]), 5, 0.1, seed)
    plots.embeddings(coords, [f"cluster {c}" for c in result.toy_clusters], result.their_ids, out / "fig_placement.png")
    pattern_rows = result.matching[result.matching.space == "pattern"]
    maps = []
    for _, row in pattern_rows.iterrows():
        toy_mean = result.toy_patterns[result.toy_clusters == row.cluster].mean(axis=(0, 1))
        their_mean = result.their_patterns[result.their_ids.index(row.pretrained_head)].mean(axis=0)
        maps.append(np.stack([toy_mean, their_mean]))
    titles = [f"cluster {r.cluster} | {r.pretrained_head}" for _, r in pattern_rows.iterrows()]
    if maps:
        plots.pattern_grid(np.stack(maps), titles, [], out / "fig_matched_patterns.png", signed=False)
    sections = [
        Section("Where pretrained heads land (pattern space)",
                f"{pretrained}'s heads on the fleet's {result.toy_patterns.shape[1]} analysis prompts, encoded with "
                f"the fleet's autoencoder. Small p: closer to that cluster than to a random group of toy heads. "
                f"<b>Prompts:</b> {result.tokenization}.",
                tables=[result.placement.drop(columns=["tokenization"])],
                figures=[(out / "fig_placement.png", "fleet heads by cluster; pretrained heads as labelled stars")]),
        Section("Matching clusters to pretrained heads (Hungarian)", tables=[result.matching]),
        Section("Probe scores next to the fleet's distribution", tables=[result.context]),
    ]
    if maps:
        sections.append(Section("Mean patterns: cluster vs matched pretrained head",
                                figures=[(out / "fig_matched_patterns.png", "left: cluster mean; right: pretrained head")]))
    write_report(out / "report.html", f"Toy fleet {fleet_name} vs {pretrained}", sections, config)
