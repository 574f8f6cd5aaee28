"""``report.html`` for a phrenology run: every figure and table of the run directory, in the paper's order."""

from __future__ import annotations

import json
from dataclasses import asdict

import pandas as pd

from analyze.report import write_report

PAPER_AIC_NOTE = (
    "The paper's criterion 2k − 2 ln(MSE), with k the bottleneck width, is not a likelihood-based AIC: ln(MSE) "
    "changes by a few units between bottlenecks while 2k grows by 4 to 64, so it always picks the smallest "
    "bottleneck. <b>aic</b> and <b>bic</b> treat the held-out residuals as Gaussian with variance MSE over all "
    "held-out values and count every autoencoder parameter; the <code>picked_by_*</code> columns say which "
    "bottleneck each criterion picks. BIC is the default: a wider code also passes input noise through, which "
    "AIC's small penalty rewards without end on this many held-out values.")


def build_report(fleet, cfg, out) -> None:
    chosen = json.loads((out / "chosen_bottleneck.json").read_text())
    sweep = pd.read_csv(out / "resolution_sweep.csv")
    best = sweep.sort_values(["f_score", "gamma"], ascending=[False, True]).iloc[0]
    clusters = pd.read_csv(out / "clusters.csv")
    members = clusters.groupby("cluster").head_id.apply(lambda s: ", ".join(s)).reset_index(name="heads")
    stability = pd.read_csv(out / "stability.csv")
    stab = stability.groupby("test")[["ari", "f_score", "n_clusters"]].agg(["mean", "std"]).round(3)
    stab.columns = ["_".join(c) for c in stab.columns]
    knock = json.loads((out / "knockout_prompt.json").read_text())
    heads = pd.read_csv(out / "heads.csv")
    fig = lambda name: out / name  # noqa: E731
    sections = [
        {"title": "Fleet and prompts",
         "text": f"Fleet <code>{fleet.path}</code>: {len(fleet.models)} models, {len(heads)} heads; "
                 f"{cfg.prompts} prompts of {fleet.n_ctx} tokens from held-out Brown documents (seed "
                 f"{cfg.prompt_seed})."},
        {"title": "Head distances (§2.1.4)",
         "figures": [(fig("fig_distances_model_order.png"), "Fig. 7: distances in model/head order"),
                     (fig("fig_distances_cluster_order.png"), "Fig. 2: distances in cluster order")]},
        {"title": "PCA, UMAP, t-SNE with artificial heads (§2.1.5)",
         "figures": [(fig("fig_embeddings.png"), "Fig. 8: heads coloured by model; stars: art.self, "
                                                 "art.uniform_prev, art.self_prev")]},
        {"title": "PCA components (§2.1.6)", "tables": [pd.read_csv(out / "pca.csv")],
         "figures": [(fig("fig_pca_components.png"), "Figs. 9-10: components over the first prompts")]},
        {"title": "Attention to the first token (§2.1.7)",
         "figures": [(fig("fig_first_token.png"), "Fig. 11: tokens placed by how each head attends to token 0")]},
        {"title": "Autoencoder and bottleneck choice (§2.2.1, Table 1)",
         "text": PAPER_AIC_NOTE + f" Chosen here by <b>{chosen['criterion']}</b>: bottleneck {chosen['bottleneck']}.",
         "tables": [pd.read_csv(out / "aic.csv")],
         "figures": [(fig("fig_aic.png"), "held-out MSE and criteria by bottleneck"),
                     (fig("fig_pair_importance.png"), "Fig. 1: token-pair importance")]},
        {"title": "Clustering (§2.2.2)",
         "text": f"Best γ = {best.gamma:.3f}: {int(best.n_clusters)} clusters, F = {best.f_score:.3f} "
                 f"(precision {best.precision:.3f}, recall {best.recall:.3f}).",
         "tables": [members, sweep.sort_values("f_score", ascending=False).head(10)],
         "figures": [(fig("fig_knn_models.png"), "Fig. 3: kNN graph coloured by model"),
                     (fig("fig_sweep.png"), "Fig. 4: resolution sweep"),
                     (fig("fig_clusters.png"), "Fig. 5: best clustering"),
                     (fig("fig_cluster_patterns.png"), "Fig. 6: mean attention pattern per cluster")]},
        {"title": "Knockout (§2.1.8-2.1.9)",
         "text": f"Head {knock['head']}, prompt {knock['prompt']} up to position {knock['position']}: "
                 f"<i>{knock['text']}</i>. Above the diagonal: tokens the head suppresses.",
         "tables": [pd.read_csv(out / "knockout.csv").query("ablation == 'zero'").drop(columns=["pc1", "pc2"])],
         "figures": [(fig("fig_knockout_head.png"), "Fig. 12: one head, zero and mean ablation"),
                     (fig("fig_knockout_cluster.png"), "Fig. 13: the heads of its cluster"),
                     (fig("fig_knockout_pca.png"), "Fig. 14: PCA of probability changes, coloured by cluster")]},
        {"title": "Stability and null baseline (beyond the paper)",
         "text": "ARI of the best clustering against Leiden reruns with other seeds and against clusterings of "
                 "prompt bootstraps; null_shuffled reruns the sweep on heads whose prompts were shuffled "
                 "across heads. A real F-score near the null's means the clusters carry little.",
         "tables": [stab.reset_index()],
         "figures": [(fig("fig_stability.png"), "stability and null F-scores")]},
    ]
    placed = {p.name for s in sections for p, _ in s.get("figures", [])}
    extra = sorted(p for p in out.glob("fig_*.png") if p.name not in placed)
    if extra:
        sections.append({"title": "Other figures", "figures": [(p, p.stem) for p in extra]})
    write_report(out / "report.html", f"Attention phrenology: {fleet.path.name}", sections,
                 {"phrenology": asdict(cfg), "fleet": fleet.record["config"]})
