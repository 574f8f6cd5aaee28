"""Figures and ``report.html`` for a probes run."""

from __future__ import annotations

from dataclasses import asdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analyze.plots import _save  # noqa: E402
from analyze.qk_report import qk_sections  # noqa: E402
from analyze.report import write_report  # noqa: E402

SCORES = ["prev_token", "duplicate_token", "induction", "self", "first_token", "antonym_tally", "copying_score",
          "category_tally", "ov_top_eig_real", "ov_neg_eig_share", "ablation_delta_loss", "self_suppression",
          "qk_neg_eigs", "prediction_attention"]


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
    return _save(fig, path)


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
    return _save(fig, path)


def ablation_figure(frame, path, top: int = 30):
    shown = frame.sort_values("ablation_delta_loss", ascending=False).head(top)
    fig, ax = plt.subplots(figsize=(max(6, len(shown) * 0.3), 4))
    ax.bar(shown.head_id, shown.ablation_delta_loss)
    ax.set_ylabel("antonym loss increase when mean-ablated")
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    return _save(fig, path)


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
    return _save(fig, path)


def write_probe_report(frame, extras, pairs, cfg, out, categories=None, tokenizer=None):
    sections = [{"title": "Scores", "text": f"{len(frame)} heads. Columns are described in analyze/probes.py.",
                 "tables": [frame]}]
    best = {s: frame.sort_values(s, ascending=False).head(cfg.top_heads)[["head_id", s]]
            for s in SCORES if s in frame}
    if best:
        sections.append({"title": "Top heads per score", "tables": list(best.values())})
    maps = {k: v for e in extras.values() for k, v in e.get("maps", {}).items()}
    if maps:
        heads = list(frame.sort_values("antonym_tally", ascending=False).head(cfg.top_heads).head_id)
        fig = ov_maps_figure(maps, heads, list(pairs.words), out / "fig_ov_maps.png")
        sections.append({"title": "OV word maps (seed 000)", "figures": [(fig, "top antonym heads; rows: input "
                         "word, columns: output logits (first halves then second halves of the pairs)")]})
    eigs = {k: v for e in extras.values() for k, v in e.get("eigenvalues", {}).items()}
    if eigs:
        key = "antonym_tally" if "antonym_tally" in frame else "ov_neg_eig_share"
        heads = list(frame.sort_values(key, ascending=False).head(cfg.top_heads).head_id)
        fig = eigen_figure(eigs, heads, out / "fig_ov_eigenvalues.png")
        sections.append({"title": "OV eigenvalues", "figures": [(fig, "complex plane, top heads")]})
    if "ablation_delta_loss" in frame:
        fig = ablation_figure(frame, out / "fig_ablation.png")
        sections.append({"title": "Mean ablation on the antonym task", "figures": [(fig, "loss increase")]})
    positional = {m: e["positional"] for m, e in extras.items() if "positional" in e}
    if positional:
        fig = positional_figure(positional, out / "fig_positional_patterns.png")
        sections.append({"title": "Layer-0 positional patterns (seed 004)",
                         "figures": [(fig, "pattern on sequences of one repeated token; rows: query")]})
    if categories is not None:
        sections += qk_sections(frame, extras, categories, tokenizer, cfg.top_heads, out)
    write_report(out / "report.html", "Circuit probes", sections, asdict(cfg))
