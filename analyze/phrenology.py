"""The Attention Phrenology pipeline (seed 003) on a fleet: each step reads the previous steps' files,
writes its own, and marks itself done, so a rerun after a crash resumes at the first unfinished step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analyze import plots
from analyze.autoencoder import pair_importance, sweep_bottlenecks, token_pair_rows
from analyze.cluster import cluster_heads, knn_graph
from analyze.embed import first_token_attention, flatten_heads, head_distances, pca_fit, project_heads
from analyze.extract import ARTIFICIAL_HEADS, analysis_prompts, artificial_patterns, attention_patterns, head_id
from analyze.fleets import FleetInputs

log = logging.getLogger(__name__)

STEPS = ("extract", "distances", "embeddings", "pca", "first_token", "autoencoder", "cluster", "knockout",
         "stability", "report")


@dataclass
class PhrenologyConfig:
    # --- prompts (§2.1.3; authors' corpus_for_analysis.py) ---
    prompts: int = 1024
    prompt_seed: int = 9992
    batch_size: int = 256
    # --- embeddings (§2.1.5; authors' um.py) ---
    umap_neighbors: int = 5
    umap_min_dist: float = 0.1
    tsne_perplexity: float = 5.0
    pca_components: int = 5
    pca_prompts: int = 8
    first_token_prompts: int = 64
    # --- autoencoder (§2.2.1; see analyze/autoencoder.py) ---
    bottlenecks: list = field(default_factory=lambda: [2, 4, 8, 16, 32, 64])
    ae_hidden: int = 128
    ae_epochs: int = 4  # authors: 10,000 keras epochs; a few passes over 73,728 rows already converge far
    ae_batch_size: int = 256
    ae_lr: float = 2e-3
    ae_heldout: float = 0.1
    aic: str = "bic"  # criterion that picks the bottleneck: bic (default, see autoencoder.py), aic (Gaussian), paper
    # --- clustering (§2.2.2) ---
    knn_k: int = 9  # as the authors' get.knn: k counts the head itself
    n_gammas: int = 1000
    gamma_min: float = 0.01
    gamma_max: float = 3.0
    # --- knockout (§2.1.8–2.1.9) ---
    knockout_head: str = ""  # default: the first head of the first model
    knockout_prompt: int = 0
    knockout_position: int = -1
    knockout_prompts: int = 64
    knockout_tokens: int = 1000  # probability differences kept on the tokens most likely on average
    # --- beyond the paper ---
    stability_replicates: int = 20
    null_replicates: int = 5
    null_gammas: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        from train.config import ConfigError

        if self.aic not in ("aic", "bic", "paper"):
            raise ConfigError(f"aic must be aic, bic or paper, got {self.aic!r}")
        if self.prompts < 2:
            raise ConfigError("prompts must be >= 2")


class Steps:
    """Step markers in ``out/steps/``; a marker holds the key of the inputs, so changed inputs redo the step."""

    def __init__(self, out: Path, key: str, force: bool):
        self.dir, self.key, self.force = out / "steps", key, force
        self.seconds: dict[str, float] = {}

    def done(self, name: str) -> bool:
        marker = self.dir / f"{name}.json"
        return not self.force and marker.exists() and json.loads(marker.read_text())["key"] == self.key

    def mark(self, name: str, seconds: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seconds[name] = round(seconds, 2)
        (self.dir / f"{name}.json").write_text(json.dumps({"key": self.key, "seconds": round(seconds, 2)}))


def run_phrenology(fleet: FleetInputs, cfg: PhrenologyConfig, out: Path, force: bool = False, write_csv: bool = False,
                   progress: bool = True) -> dict[str, float]:
    """Run every unfinished step; return seconds per step run now."""
    out.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(json.dumps([asdict(cfg), fleet.fingerprint()], sort_keys=True).encode()).hexdigest()[:16]
    (out / "config.json").write_text(json.dumps({"phrenology": asdict(cfg), "fleet": str(fleet.path),
                                                 "fleet_fingerprint": fleet.fingerprint()}, indent=2))
    steps = Steps(out, key, force)
    for name in STEPS:
        if steps.done(name):
            log.info("step %s: cached", name)
            continue
        started = time.perf_counter()
        log.info("step %s ...", name)
        STEP_FUNCTIONS[name](fleet, cfg, out, progress=progress, write_csv=write_csv)
        steps.mark(name, time.perf_counter() - started)
        log.info("step %s: %.1f s", name, steps.seconds[name])
    return steps.seconds


# ---------------------------------------------------------------- steps

def _load_patterns(out: Path) -> tuple[np.ndarray, list[str]]:
    with np.load(out / "attention.npz") as data:
        return data["patterns"], [str(h) for h in data["head_ids"]]


def step_extract(fleet: FleetInputs, cfg: PhrenologyConfig, out: Path, progress: bool, write_csv: bool, **_) -> None:
    prompts = analysis_prompts(cfg.prompts, fleet.n_ctx, cfg.prompt_seed, fleet.heldout_fraction,
                               fleet.nltk_data, fleet.cache_dir)
    patterns, heads = [], []
    for name, bridge in fleet.bridges(progress):
        p = attention_patterns(bridge, prompts.tokens, cfg.batch_size)  # [layer*head, prompt, q, k]
        patterns.append(p)
        n_heads = bridge.cfg.n_heads
        heads += [{"head_id": head_id(name, i // n_heads, i % n_heads), "model": name, "layer": i // n_heads,
                   "head": i % n_heads} for i in range(len(p))]
    patterns = np.concatenate(patterns).astype(np.float32)
    np.savez(out / "attention.npz", patterns=patterns, head_ids=np.array([h["head_id"] for h in heads]),
             artificial=artificial_patterns(cfg.prompts, fleet.n_ctx), artificial_ids=np.array(ARTIFICIAL_HEADS))
    pd.DataFrame(heads).to_csv(out / "heads.csv", index=False)
    tok = fleet.tokenizer()
    with (out / "prompts.jsonl").open("w") as f:
        for i, (ids, doc) in enumerate(zip(prompts.tokens, prompts.docs)):
            f.write(json.dumps({"prompt": i, "doc": str(doc), "tokens": ids.tolist(),
                                "words": [tok.decode([t]) for t in ids], "text": tok.decode(ids)}) + "\n")
    if write_csv:
        h, p, q, k = np.nonzero(np.tril(np.ones(patterns.shape[2:], dtype=bool))[None, None].repeat(
            len(patterns), 0).repeat(patterns.shape[1], 1))
        frame = pd.DataFrame(heads).iloc[h][["model", "layer", "head"]].reset_index(drop=True)
        frame = frame.assign(prompt=p, query=q, key=k, weight=patterns[h, p, q, k])
        frame.to_csv(out / "attention_long.csv", index=False)


def _prompt_words(out: Path, n: int) -> list[list[str]]:
    with (out / "prompts.jsonl").open() as f:
        return [json.loads(line)["words"] for _, line in zip(range(n), f)]


def step_distances(fleet, cfg, out, **_) -> None:
    patterns, ids = _load_patterns(out)
    dist = head_distances(flatten_heads(patterns))
    pd.DataFrame(dist, index=ids, columns=ids).to_csv(out / "distances.csv", index_label="head_id")
    models = [i.split(".")[0] for i in ids]
    bounds = [i for i in range(1, len(ids)) if models[i] != models[i - 1]]
    plots.distance_heatmap(dist, ids, "Head distances, model order (Fig. 7)", out / "fig_distances_model_order.png",
                           bounds)


def step_embeddings(fleet, cfg, out, **_) -> None:
    patterns, ids = _load_patterns(out)
    with np.load(out / "attention.npz") as data:
        art, art_ids = data["artificial"], [str(a) for a in data["artificial_ids"]]
    coords = project_heads(flatten_heads(patterns), flatten_heads(art), cfg.seed, cfg.umap_neighbors,
                           cfg.umap_min_dist, cfg.tsne_perplexity)
    every = ids + art_ids
    rows = [{"head_id": h, "method": m, "x": xy[i, 0], "y": xy[i, 1], "artificial": h in art_ids}
            for m, xy in coords.items() for i, h in enumerate(every)]
    pd.DataFrame(rows).to_csv(out / "embedding.csv", index=False)
    plots.embeddings(coords, [i.split(".")[0] for i in ids], art_ids, out / "fig_embeddings.png")


def step_pca(fleet, cfg, out, **_) -> None:
    patterns, ids = _load_patterns(out)
    pca = pca_fit(flatten_heads(patterns), cfg.pca_components, cfg.seed)
    pd.DataFrame({"component": np.arange(1, pca.n_components_ + 1), "explained_variance_ratio":
                  pca.explained_variance_ratio_}).to_csv(out / "pca.csv", index=False)
    shown = min(cfg.pca_prompts, patterns.shape[1])
    maps = pca.components_.reshape(pca.n_components_, *patterns.shape[1:])[:, :shown]  # [comp, prompt, q, k]
    plots.pattern_grid(maps, [f"PC{i + 1}" for i in range(len(maps))], _prompt_words(out, shown),
                       out / "fig_pca_components.png")


def step_first_token(fleet, cfg, out, **_) -> None:
    patterns, _ = _load_patterns(out)
    n = min(cfg.first_token_prompts, patterns.shape[1])
    rows = first_token_attention(patterns[:, :n])  # [prompt*(query-1), head]
    xy = pca_fit(rows, 2, cfg.seed).transform(rows)
    words = [w for ws in _prompt_words(out, n) for w in ws[1:]]
    pd.DataFrame({"word": words, "x": xy[:, 0], "y": xy[:, 1]}).to_csv(out / "first_token_pca.csv", index=False)
    plots.labelled_scatter(xy, words, "Attention to the first token, PCA over heads (Fig. 11)",
                           out / "fig_first_token.png")


def step_autoencoder(fleet, cfg, out, progress: bool = False, **_) -> None:
    patterns, ids = _load_patterns(out)
    rows = token_pair_rows(patterns)  # [head*prompt, 136]
    table, models = sweep_bottlenecks(rows, cfg.bottlenecks, cfg.ae_heldout, cfg.seed, progress, hidden=cfg.ae_hidden,
                                      epochs=cfg.ae_epochs, batch_size=cfg.ae_batch_size, lr=cfg.ae_lr)
    pd.DataFrame(table).to_csv(out / "aic.csv", index=False)
    chosen = min(table, key=lambda r: r[cfg.aic])["bottleneck"]
    ae = models[chosen]
    codes = ae.transform(rows).reshape(len(ids), patterns.shape[1], chosen)  # [head, prompt, code]
    np.save(out / "codes.npy", codes)
    ae.save(out / "autoencoder.pt")  # analyze compare embeds pretrained heads with it
    sample = rows[np.random.default_rng(cfg.seed).choice(len(rows), min(len(rows), 4096), replace=False)]
    base = ae.reconstruction_mse(sample)
    importance = pair_importance(ae, sample, cfg.seed)
    q, k = np.tril_indices(patterns.shape[-1])
    pd.DataFrame({"query": q, "key": k, "mse": importance, "mse_increase": importance - base}).to_csv(
        out / "pair_importance.csv", index=False)
    grid = np.zeros(patterns.shape[2:])
    grid[q, k] = importance - base
    plots.pair_heatmap(grid, f"MSE increase when a token pair is randomised (bottleneck {chosen}, Fig. 1)",
                       out / "fig_pair_importance.png", "MSE increase")
    plots.aic_curves(table, out / "fig_aic.png")
    (out / "chosen_bottleneck.json").write_text(json.dumps({"bottleneck": chosen, "criterion": cfg.aic}))


def step_cluster(fleet, cfg, out, **_) -> None:
    patterns, ids = _load_patterns(out)
    codes = np.load(out / "codes.npy")
    vectors = codes.reshape(len(codes), -1)
    models = np.array([i.split(".")[0] for i in ids])
    sweep, gamma, clusters, graph = cluster_heads(vectors, models, cfg.knn_k, cfg.n_gammas,
                                                  (cfg.gamma_min, cfg.gamma_max), cfg.seed)
    pd.DataFrame(sweep).to_csv(out / "resolution_sweep.csv", index=False)
    pd.DataFrame({"head_id": ids, "cluster": clusters}).to_csv(out / "clusters.csv", index=False)
    layout = np.array(graph.layout_fruchterman_reingold(seed=np.random.default_rng(cfg.seed).random(
        (len(ids), 2)).tolist()).coords)
    edges = graph.get_edgelist()
    plots.graph_plot(layout, edges, list(models), f"{cfg.knn_k}-NN graph of heads, by model (Fig. 3)",
                     out / "fig_knn_models.png")
    plots.sweep_curve(sweep, gamma, out / "fig_sweep.png")
    plots.graph_plot(layout, edges, [int(c) for c in clusters], f"Leiden clusters at γ = {gamma:.2f} (Fig. 5)",
                     out / "fig_clusters.png", names=ids)
    order = np.argsort(clusters, kind="stable")
    dist = head_distances(flatten_heads(patterns))[np.ix_(order, order)]
    bounds = [i for i in range(1, len(order)) if clusters[order[i]] != clusters[order[i - 1]]]
    plots.distance_heatmap(dist, [ids[i] for i in order], "Head distances, cluster order (Fig. 2)",
                           out / "fig_distances_cluster_order.png", bounds)
    means = np.stack([patterns[clusters == c].mean(axis=(0, 1)) for c in range(clusters.max() + 1)])
    plots.pattern_grid(means[:, None], [f"cluster {c} (n={np.sum(clusters == c)})" for c in range(len(means))],
                       [], out / "fig_cluster_patterns.png", signed=False)


def step_knockout(fleet, cfg, out, **_) -> None:
    from analyze.knockout_study import knockout_study

    knockout_study(fleet, cfg, out)


def step_stability(fleet, cfg, out, **_) -> None:
    from analyze.stability import bootstrap_prompt_stability, leiden_seed_stability, null_baseline

    codes = np.load(out / "codes.npy")
    clusters = pd.read_csv(out / "clusters.csv")
    models = clusters.head_id.str.split(".").str[0].to_numpy()
    reference = clusters.cluster.to_numpy()
    sweep = pd.read_csv(out / "resolution_sweep.csv")
    best = sweep.sort_values(["f_score", "gamma"], ascending=[False, True]).iloc[0]
    graph = knn_graph(codes.reshape(len(codes), -1), cfg.knn_k)
    seeds = range(cfg.seed + 1, cfg.seed + 1 + cfg.stability_replicates)
    rows = leiden_seed_stability(graph, float(best.gamma), reference, models, seeds)
    rows += bootstrap_prompt_stability(codes, models, cfg.knn_k, float(best.gamma), reference,
                                       cfg.stability_replicates, cfg.seed)
    rows += null_baseline(codes, models, cfg.knn_k, cfg.null_gammas, (cfg.gamma_min, cfg.gamma_max),
                          cfg.null_replicates, cfg.seed)
    pd.DataFrame(rows).to_csv(out / "stability.csv", index=False)
    plots.stability_plot(rows, float(best.f_score), out / "fig_stability.png")


def step_report(fleet, cfg, out, **_) -> None:
    from analyze.phrenology_report import build_report

    build_report(fleet, cfg, out)


STEP_FUNCTIONS = {"extract": step_extract, "distances": step_distances, "embeddings": step_embeddings,
                  "pca": step_pca, "first_token": step_first_token, "autoencoder": step_autoencoder,
                  "cluster": step_cluster, "knockout": step_knockout, "stability": step_stability,
                  "report": step_report}
