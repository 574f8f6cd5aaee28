"""Figures and ``report.html`` for a probes run: the score table, the top heads of every score, then one section
per probe family (from the registry) and the outputs of named heads."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from analyze.core.figures import plt, save_figure
from analyze.core.html import Section
from analyze.probes.inputs import ReportInputs
from analyze.probes.registry import best_heads, families


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
    fig, ax = plt.subplots(figsize=(6, 1 + 0.3 * len(shown)))
    ax.barh(shown.component, shown.delta)  # component names read horizontally
    ax.invert_yaxis()
    ax.set_xlabel("semantic score increase when mean-ablated")
    return save_figure(fig, path)


def named_head_sections(ri: ReportInputs) -> list[Section]:
    sections = []
    for model_extras in ri.extras.values():
        if "steering" in model_extras:
            steering = pd.DataFrame(model_extras["steering"])
            fig = steering_figure(steering, ri.out / "fig_steering.png")
            sections.append(Section("Steering the negative eigenvalues (the L1H5 semantic-head post)", tables=[steering],
                                    figures=[(fig, "category-word map with the symmetric part's negative eigenvalues "
                                                   "scaled by α; α = 1 is the head as trained")]))
        if "upstream_ablation" in model_extras:
            ablation = pd.DataFrame(model_extras["upstream_ablation"])
            fig = upstream_figure(ablation, ri.out / "fig_upstream_ablation.png")
            sections.append(Section("Upstream mean-ablation (the L1H5 semantic-head post)", tables=[ablation],
                                    figures=[(fig, "each upstream component replaced by its mean over Brown prompts")]))
        if "token_clusters" in model_extras:
            ids, _, clusters = model_extras["token_clusters"]
            words = [ri.tokenizer.decode([int(t)]) for t in ids]
            table = pd.DataFrame({"cluster": clusters, "token": words}).groupby("cluster").agg(
                size=("token", "size"), tokens=("token", lambda t: " ".join(list(t)[:15])))
            sections.append(Section("Token clusters (Leiden on the token QK map)",
                                    tables=[table.sort_values("size", ascending=False).reset_index()]))
    return sections


def page_data(ri: ReportInputs) -> dict:
    """The probes page's data (analyze/core/static/heads.js, ``probesPage``): every head and column, each column's
    direction and per-model chance value from the registry, and per head a few patterns, its OV map and its
    eigenvalues."""
    from analyze.core.page import encode_scaled, encode_unit

    frame = ri.frame
    present = [c for fam in families().values() for c in fam.columns if c.name in frame]
    facts = {m: e.get("chance_facts", {}) for m, e in ri.extras.items()}
    columns = [{"name": c.name, "direction": c.direction, "meaning": c.meaning, "chance_text": c.chance,
                "chance": {m: c.chance_value(f) for m, f in facts.items()}} for c in present]
    samples = ri.merged("pattern_samples")
    eigen = ri.merged("eigenvalues")
    return {
        "kind": "probes",
        "columns": columns,
        "rows": frame.astype(object).where(frame.notna(), None).to_dict("records"),
        "models": {m: e["shape"] for m, e in ri.extras.items() if "shape" in e},
        "samples": {h: {k: [encode_unit(p) for p in v] for k, v in s.items()} for h, s in samples.items()},
        "sample_tokens": {m: e["sample_tokens"] for m, e in ri.extras.items() if "sample_tokens" in e},
        "ov": {h: encode_scaled(m, bits=4) for h, m in ri.merged("maps").items()},
        "ov_words": {m: e.get("ov_words", []) for m, e in ri.extras.items()},
        "eigen": {h: [np.round(v.real, 4).tolist(), np.round(v.imag, 4).tolist()] for h, v in eigen.items()},
        "best": {c.name: list(best_heads(frame, c.name, ri.cfg.top_heads).head_id) for c in present
                 if c.ranks and frame[c.name].notna().any()},
    }


def top_heads_table(frame: pd.DataFrame, columns, chance: dict, top: int) -> pd.DataFrame:
    """One row per ranking score: its direction, chance value and best heads (constant columns left out)."""
    rows = []
    for c in columns:
        if not c.ranks or c.name not in frame or frame[c.name].nunique(dropna=True) < 2 or c.name.endswith(
                ("_brown", "_repeat")):
            continue
        best = best_heads(frame, c.name, top)
        rows.append({"score": c.name, "more of the effect": c.direction, "chance": chance.get(c.name),
                     "best heads": ", ".join(f"{h} {v:.3g}" for h, v in zip(best.head_id, best[c.name]))})
    return pd.DataFrame(rows)


def write_probe_report(ri: ReportInputs, notes: dict | None = None) -> None:
    from analyze.core.page import write_page

    frame = ri.frame
    data = page_data(ri)
    first = next(iter(ri.extras.values()), {})
    registry = [c for fam in families().values() for c in fam.columns]
    chance = {c.name: c.chance_value(first.get("chance_facts", {})) for c in registry}
    models = sorted(set(frame.model))
    intro = (f"<p>{len(frame)} heads of {len(models)} model(s): {', '.join(models[:12])}"
             f"{' …' if len(models) > 12 else ''}. Pick a score to see it on every head; click a head for its "
             f"patterns, OV map and eigenvalues. Each column's definition, direction and chance value come from "
             f"the probe registry (analyze/probes/registry.py; the table in docs/probes.md).</p>")
    sections = [Section("Best heads per score", "Ranked in each score's own direction; chance values for "
                        f"{models[0]}.", tables=[top_heads_table(frame, registry, chance, ri.cfg.top_heads)])]
    for fam in families().values():
        if fam.report is not None:
            sections += fam.report(ri)
    sections += named_head_sections(ri)
    if notes:
        rows = [{"model": m, "column": c, "why NaN": why} for m, per in notes.items() for c, why in per.items()]
        sections.append(Section("Probes that do not apply", tables=[pd.DataFrame(rows)]))
    write_page(ri.out / "report.html", "Circuit probes", data, intro, sections, asdict(ri.cfg))
