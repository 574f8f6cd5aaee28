"""Figures and ``report.html`` for a probes run: the score table, the top heads of every score, then one section
per probe family (from the registry) and the outputs of named heads."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from analyze.core.figures import plt, save_figure
from analyze.core.html import Section, write_report
from analyze.probes.inputs import ReportInputs
from analyze.probes.registry import families


def ov_maps_figure(maps: dict[str, np.ndarray], heads: list[str], words, path):
    fig, axes = plt.subplots(1, len(heads), figsize=(5 * len(heads), 4.6), squeeze=False)
    for ax, hid in zip(axes[0], heads):
        m = maps[hid]
        lim = np.abs(m - m.mean()).max()
        ax.imshow(m - m.mean(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"{hid}: OV word map", fontsize=9)
        step = max(1, len(words) // 30)
        ax.set_xticks(range(0, len(words), step), words[::step], rotation=90, fontsize=5)
        ax.set_yticks(range(0, len(words), step), words[::step], fontsize=5)
    return save_figure(fig, path)


def eigen_figure(eigs: dict[str, np.ndarray], heads: list[str], path):
    fig, axes = plt.subplots(1, len(heads), figsize=(4.5 * len(heads), 4), squeeze=False)
    for ax, hid in zip(axes[0], heads):
        ev = eigs[hid]
        ax.scatter(ev.real, ev.imag, s=8)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(f"{hid}: OV eigenvalues", fontsize=9)
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
    return save_figure(fig, path)


def ablation_figure(frame, path, top: int = 30):
    shown = frame.sort_values("ablation_delta_loss", ascending=False).head(top)
    fig, ax = plt.subplots(figsize=(max(6, len(shown) * 0.3), 4))
    ax.bar(shown.head_id, shown.ablation_delta_loss)
    ax.set_ylabel("antonym loss increase when mean-ablated")
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    return save_figure(fig, path)


def positional_figure(positional: dict[str, np.ndarray], path):
    items = [(f"{model}.L0H{h}", p[h]) for model, p in positional.items() for h in range(len(p))][:24]
    cols = min(len(items), 8)
    rows = -(-len(items) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows), squeeze=False)
    for ax, (name, p) in zip(axes.flat, items):
        ax.imshow(p, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(name, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(items):]:
        ax.set_axis_off()
    return save_figure(fig, path)


def steering_figure(steering: pd.DataFrame, path):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(steering.alpha, steering.self_attention, "o-", label="attention to itself")
    ax.plot(steering.alpha, steering.in_category_attention, "s-", label="attention to its category")
    ax.set_xlabel("α (scale of the negative eigenvalues)")
    ax.set_ylabel("mean softmax mass")
    ax.set_title(f"{steering.head_id.iloc[0]}: steering", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def upstream_figure(ablation: pd.DataFrame, path):
    shown = ablation[ablation.component != "none"]
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(shown)), 3.5))
    ax.bar(shown.component, shown.delta)
    ax.set_ylabel("semantic score increase when mean-ablated")
    ax.tick_params(axis="x", rotation=45)
    return save_figure(fig, path)


def named_head_sections(ri: ReportInputs) -> list[Section]:
    sections = []
    for model_extras in ri.extras.values():
        if "steering" in model_extras:
            steering = pd.DataFrame(model_extras["steering"])
            fig = steering_figure(steering, ri.out / "fig_steering.png")
            sections.append(Section("Steering the negative eigenvalues (seed 001)", tables=[steering],
                                    figures=[(fig, "category-word map with the symmetric part's negative eigenvalues "
                                                   "scaled by α; α = 1 is the head as trained")]))
        if "upstream_ablation" in model_extras:
            ablation = pd.DataFrame(model_extras["upstream_ablation"])
            fig = upstream_figure(ablation, ri.out / "fig_upstream_ablation.png")
            sections.append(Section("Upstream mean-ablation (seed 001)", tables=[ablation],
                                    figures=[(fig, "each upstream component replaced by its mean over Brown prompts")]))
        if "token_clusters" in model_extras:
            ids, _, clusters = model_extras["token_clusters"]
            words = [ri.tokenizer.decode([int(t)]) for t in ids]
            table = pd.DataFrame({"cluster": clusters, "token": words}).groupby("cluster").agg(
                size=("token", "size"), tokens=("token", lambda t: " ".join(list(t)[:15])))
            sections.append(Section("Token clusters (Leiden on the token QK map)",
                                    tables=[table.sort_values("size", ascending=False).reset_index()]))
    return sections


def write_probe_report(ri: ReportInputs, notes: dict | None = None) -> None:
    frame = ri.frame
    sections = [Section("Scores", f"{len(frame)} heads. Each column's definition and the value an unstructured "
                                  f"head gets are in the README's probe table (analyze/probes/registry.py).",
                        tables=[frame])]
    scores = [c.name for fam in families().values() for c in fam.columns
              if c.name in frame and pd.api.types.is_numeric_dtype(frame[c.name]) and frame[c.name].notna().any()]
    best = [frame.sort_values(s, ascending=s == "semantic_score").head(ri.cfg.top_heads)[["head_id", s]]
            for s in scores if not s.endswith(("_brown", "_repeat"))]
    if best:
        sections.append(Section("Top heads per score", tables=best))
    for fam in families().values():
        if fam.report is not None:
            sections += fam.report(ri)
    sections += named_head_sections(ri)
    if notes:
        rows = [{"model": m, "column": c, "why NaN": why} for m, per in notes.items() for c, why in per.items()]
        sections.append(Section("Probes that do not apply", tables=[pd.DataFrame(rows)]))
    write_report(ri.out / "report.html", "Circuit probes", sections, asdict(ri.cfg))
