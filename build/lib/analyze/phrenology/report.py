"""Step ``report``: ``report.html`` for a phrenology run, every figure and table in the paper's order."""

from __future__ import annotations

import html
from dataclasses import asdict

import numpy as np
import pandas as pd

from analyze.core.html import Section
from train.files import write_json

PAPER_AIC_NOTE = (
    "The paper's criterion 2k − 2 ln(MSE), with k the bottleneck width, is not a likelihood-based AIC: ln(MSE) "
    "changes by a few units between bottlenecks while 2k grows by 4 to 64, so it always picks the smallest "
    "bottleneck. <b>aic</b> and <b>bic</b> treat the held-out residuals as Gaussian with variance MSE over all "
    "held-out values and count every autoencoder parameter; the <code>picked_by_*</code> columns say which "
    "bottleneck each criterion picks. BIC is the default: a wider code also passes input noise through, which "
    "AIC's small penalty rewards without end on this many held-out values.")

NULL_ARI_NOTE = (
    "ARI compares a clustering with the best clustering of the same heads. <code>null_shuffled</code> has none: "
    "its heads are mixtures of shuffled heads, so its ARI is left empty (n/a) and only its F-score is compared.")


def stability_table(stability: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread per test; the null's ARI shown as n/a rather than NaN (see NULL_ARI_NOTE)."""
    stab = stability.groupby("test")[["ari", "f_score", "n_clusters"]].agg(["mean", "std"]).round(3)
    stab.columns = ["_".join(c) for c in stab.columns]
    stab = stab.reset_index().astype(object)
    null = stab.test == "null_shuffled"
    stab.loc[null, ["ari_mean", "ari_std"]] = "n/a"
    return stab


SHOWN_PROMPTS = 4  # prompts per head on the page: enough to see a head at work, small enough to stay light


def sweep_changes(sweep: pd.DataFrame) -> pd.DataFrame:
    """The resolution sweep as the distinct clusterings it passes through: one row per run of consecutive γ with
    the same cluster count and F-score (the raw sweep repeats one clustering over many γ)."""
    key = sweep[["n_clusters"]].assign(f=sweep.f_score.round(6))
    run_id = (key != key.shift()).any(axis=1).cumsum()
    grouped = sweep.groupby(run_id)
    return pd.DataFrame({"gamma_from": grouped.gamma.min(), "gamma_to": grouped.gamma.max(),
                         "n_clusters": grouped.n_clusters.first(), "f_score": grouped.f_score.first(),
                         "precision": grouped.precision.first(), "recall": grouped.recall.first()}
                        ).reset_index(drop=True)


def page_data(fleet, run, verdict: dict) -> tuple[dict, list[dict]]:
    """The phrenology page's data (analyze/core/static/heads.js, ``phrenologyPage``) and the shared clusters."""
    from analyze.core.page import encode_unit
    from analyze.core.tokens import readable_tokens
    from analyze.phrenology.findings import describe, shared_clusters

    patterns, ids = run.patterns, run.head_ids
    art, art_ids = run.artificial
    cluster_of = run.cluster_of()
    clusters = np.array([cluster_of[h] for h in ids])
    models = run.models
    tok = fleet.tokenizer()
    shown = min(SHOWN_PROMPTS, patterns.shape[1])
    names = {int(c): describe(patterns[clusters == c].mean(axis=(0, 1))) for c in np.unique(clusters)}
    heads = [{"id": h, "model": str(m), "cluster": int(c), "description": names[int(c)], "artificial": False}
             for h, m, c in zip(ids, models, clusters)]
    heads += [{"id": a, "model": "artificial", "cluster": None, "description": describe(art[i].mean(axis=0)),
               "artificial": True} for i, a in enumerate(art_ids)]
    every, every_ids = np.concatenate([patterns, art]), ids + art_ids
    projection = run.embedding
    shared = shared_clusters(patterns, clusters, models)
    data = {
        "kind": "phrenology", "n_models": len(set(models)),
        "prompts": [{"tokens": readable_tokens(tok, t)} for t in run.prompt_tokens(shown)],
        "heads": heads,
        "patterns": {h: [encode_unit(p) for p in every[i, :shown]] for i, h in enumerate(every_ids)},
        "mean": {h: encode_unit(every[i].mean(axis=0)) for i, h in enumerate(every_ids)},
        "projections": {m: {r.head_id: [r.x, r.y] for r in g.itertuples()} for m, g in projection.groupby("method")},
        "clusters": [{"id": int(c), "size": int((clusters == c).sum()), "description": names[int(c)],
                      "members": [h for h, k in zip(ids, clusters) if k == c],
                      "models": {str(m): int(((clusters == c) & (models == m)).sum())
                                 for m in sorted(set(models[clusters == c]))},
                      "shared": any(s["cluster"] == int(c) for s in shared),
                      "mean": encode_unit(patterns[clusters == c].mean(axis=(0, 1)))} for c in np.unique(clusters)],
        "sweep": {k: run.sweep[k].tolist() for k in ("gamma", "f_score", "n_clusters")},
        "best_gamma": float(run.best.gamma), "verdict": verdict["statement"],
    }
    return data, shared


def finding_html(shared: list[dict], n_models: int, verdict: dict) -> str:
    from analyze.phrenology.findings import finding_sentence

    if n_models < 2:  # no other seed: neither a shared head nor a null across seeds means anything
        return f"<div class=finding id=finding><b>Finding.</b> {html.escape(finding_sentence(shared, n_models))}</div>"
    return (f"<div class=finding id=finding><b>Finding.</b> {html.escape(finding_sentence(shared, n_models))}</div>"
            f"<div class=verdict id=null-verdict><b>Against chance.</b> {html.escape(verdict['statement'])} "
            f"With few models a random grouping of heads already scores a high F, so a small fleet may not beat this "
            f"null; the paper's 9-model fleet does.</div>")


def build_report(fleet, cfg, run, warnings: list[str] = ()) -> None:
    from analyze.core.page import write_page

    out = run.path
    chosen = run.chosen_bottleneck
    best = run.best
    verdict = run.null_verdict
    knock = run.knockout_prompt
    data, shared = page_data(fleet, run, verdict)
    fig = lambda name: out / name  # noqa: E731
    sections = [
        Section("Fleet and prompts",
                f"Fleet <code>{html.escape(str(fleet.path))}</code>: {len(fleet.models)} models, {len(run.heads)} "
                f"heads; {cfg.prompts} prompts of {fleet.n_ctx} tokens from held-out Brown documents (seed "
                f"{cfg.prompt_seed})."),
        Section("Head distances (§2.1.4)",
                figures=[(fig("fig_distances_model_order.png"), "Fig. 7: distances in model/head order"),
                         (fig("fig_distances_cluster_order.png"), "Fig. 2: distances in cluster order")]),
        Section("PCA components (§2.1.6)", tables=[run.pca_table],
                figures=[(fig("fig_pca_components.png"), "Figs. 9-10: components over the first prompts")]),
        Section("Attention to the first token (§2.1.7)",
                figures=[(fig("fig_first_token.png"), "Fig. 11: tokens placed by how each head attends to token 0")]),
        Section("Autoencoder and bottleneck choice (§2.2.1, Table 1)",
                PAPER_AIC_NOTE + f" Chosen here by <b>{chosen['criterion']}</b>: bottleneck {chosen['bottleneck']}.",
                tables=[run.aic_table],
                figures=[(fig("fig_aic.png"), "held-out MSE and criteria by bottleneck"),
                         (fig("fig_pair_importance.png"), "Fig. 1: token-pair importance")]),
        Section("Clustering (§2.2.2)",
                f"Best γ = {best.gamma:.3f}: {int(best.n_clusters)} clusters, F = {best.f_score:.3f} "
                f"(precision {best.precision:.3f}, recall {best.recall:.3f}). The sweep's distinct clusterings:",
                tables=[sweep_changes(run.sweep)],
                figures=[(fig("fig_knn_models.png"), "Fig. 3: kNN graph coloured by model"),
                         (fig("fig_clusters.png"), "Fig. 5: best clustering")]),
        Section("Knockout (§2.1.8-2.1.9)",
                f"Head {knock['head']}, prompt {knock['prompt']} up to position {knock['position']}: "
                f"<i>{html.escape(knock['text'])}</i>. Above the diagonal: tokens the head suppresses.",
                tables=[run.knockout.query("ablation == 'zero'").drop(columns=["pc1", "pc2"])],
                figures=[(fig("fig_knockout_head.png"), "Fig. 12: one head, zero and mean ablation"),
                         (fig("fig_knockout_cluster.png"), "Fig. 13: the heads of its cluster"),
                         (fig("fig_knockout_pca.png"), "Fig. 14: PCA of probability changes, coloured by cluster")]),
        Section("Stability and null baseline (beyond the paper)",
                "ARI of the best clustering against Leiden reruns with other seeds and against clusterings of "
                "prompt bootstraps; null_shuffled reruns the sweep on heads whose prompts were shuffled across "
                f"heads. {NULL_ARI_NOTE} <b>{html.escape(verdict['statement'])}</b>",
                tables=[stability_table(run.stability)],
                figures=[(fig("fig_stability.png"), "stability and null F-scores")]),
    ]
    placed = {p.name for s in sections for p, _ in s.figures}
    extra = sorted(p for p in out.glob("fig_*.png") if p.name not in placed)
    if extra:
        sections.append(Section("Static figures of the views above (the paper's figures, for print)",
                                figures=[(p, p.stem) for p in extra]))
    notes = list(warnings)
    if fleet.missing:
        notes.insert(0, f"Partial fleet: {len(fleet.missing)} of {fleet.record.n} models are missing "
                        f"from this analysis ({', '.join(fleet.missing_names)}: "
                        f"{', '.join(m.status.value for m in fleet.missing)}).")
    write_json(run.file("findings.json"), {"shared_clusters": shared, "null_verdict": verdict})
    write_page(out / "report.html", f"Attention phrenology: {fleet.path.name}", data,
               finding_html(shared, data["n_models"], verdict), sections,
               {"phrenology": asdict(cfg), "fleet": fleet.record.config}, warning="<br>".join(html.escape(n) for n in notes))


def step(ctx) -> None:
    build_report(ctx.fleet, ctx.cfg, ctx.run, ctx.cfg.warnings())
