"""Step ``report``: ``report.html`` for a phrenology run, every figure and table in the paper's order."""

from __future__ import annotations

import json
from dataclasses import asdict

import pandas as pd

from analyze.core.html import Section, write_report

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


def build_report(fleet, cfg, run, warnings: list[str] = ()) -> None:
    out = run.path
    chosen = run.chosen_bottleneck
    sweep, best = run.sweep, run.best
    members = run.clusters.groupby("cluster").head_id.apply(lambda s: ", ".join(s)).reset_index(name="heads")
    verdict = json.loads((out / "null_verdict.json").read_text())
    knock = run.knockout_prompt
    fig = lambda name: out / name  # noqa: E731
    sections = [
        Section("Fleet and prompts",
                f"Fleet <code>{fleet.path}</code>: {len(fleet.models)} models, {len(run.heads)} heads; "
                f"{cfg.prompts} prompts of {fleet.n_ctx} tokens from held-out Brown documents (seed "
                f"{cfg.prompt_seed})."),
        Section("Head distances (§2.1.4)",
                figures=[(fig("fig_distances_model_order.png"), "Fig. 7: distances in model/head order"),
                         (fig("fig_distances_cluster_order.png"), "Fig. 2: distances in cluster order")]),
        Section("PCA, UMAP, t-SNE with artificial heads (§2.1.5)",
                figures=[(fig("fig_embeddings.png"), "Fig. 8: heads coloured by model; stars: art.self, "
                                                     "art.uniform_prev, art.self_prev")]),
        Section("PCA components (§2.1.6)", tables=[pd.read_csv(out / "pca.csv")],
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
                f"(precision {best.precision:.3f}, recall {best.recall:.3f}). <b>{verdict['statement']}</b>",
                tables=[members, sweep.sort_values("f_score", ascending=False).head(10)],
                figures=[(fig("fig_knn_models.png"), "Fig. 3: kNN graph coloured by model"),
                         (fig("fig_sweep.png"), "Fig. 4: resolution sweep"),
                         (fig("fig_clusters.png"), "Fig. 5: best clustering"),
                         (fig("fig_cluster_patterns.png"), "Fig. 6: mean attention pattern per cluster")]),
        Section("Knockout (§2.1.8-2.1.9)",
                f"Head {knock['head']}, prompt {knock['prompt']} up to position {knock['position']}: "
                f"<i>{knock['text']}</i>. Above the diagonal: tokens the head suppresses.",
                tables=[run.knockout.query("ablation == 'zero'").drop(columns=["pc1", "pc2"])],
                figures=[(fig("fig_knockout_head.png"), "Fig. 12: one head, zero and mean ablation"),
                         (fig("fig_knockout_cluster.png"), "Fig. 13: the heads of its cluster"),
                         (fig("fig_knockout_pca.png"), "Fig. 14: PCA of probability changes, coloured by cluster")]),
        Section("Stability and null baseline (beyond the paper)",
                "ARI of the best clustering against Leiden reruns with other seeds and against clusterings of "
                "prompt bootstraps; null_shuffled reruns the sweep on heads whose prompts were shuffled across "
                f"heads. {NULL_ARI_NOTE} <b>{verdict['statement']}</b>",
                tables=[stability_table(run.stability)],
                figures=[(fig("fig_stability.png"), "stability and null F-scores")]),
    ]
    placed = {p.name for s in sections for p, _ in s.figures}
    extra = sorted(p for p in out.glob("fig_*.png") if p.name not in placed)
    if extra:
        sections.append(Section("Other figures", figures=[(p, p.stem) for p in extra]))
    notes = list(warnings)
    if fleet.missing:
        notes.insert(0, f"Partial fleet: {len(fleet.missing)} of {len(fleet.record['models'])} models are missing "
                        f"from this analysis ({', '.join(fleet.missing_names)}: "
                        f"{', '.join(m['status'] for m in fleet.missing)}).")
    write_report(out / "report.html", f"Attention phrenology: {fleet.path.name}", sections,
                 {"phrenology": asdict(cfg), "fleet": fleet.record["config"]}, warning="<br>".join(notes))


def step(ctx) -> None:
    build_report(ctx.fleet, ctx.cfg, ctx.run, ctx.cfg.warnings())
