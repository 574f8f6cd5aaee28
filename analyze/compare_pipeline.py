"""``python -m analyze compare``: reuse (or compute) the fleet's phrenology and probes, place a pretrained
model's heads among the fleet's clusters, match clusters to pretrained heads, and write a report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from analyze import compare, plots
from analyze.autoencoder import PatternAutoencoder, token_pair_rows
from analyze.embed import flatten_heads, pca_fit
from analyze.extract import attention_patterns, head_id
from analyze.report import write_report

log = logging.getLogger(__name__)
PHRENOLOGY_FILES = ("attention.npz", "prompts.jsonl", "clusters.csv", "codes.npy", "autoencoder.pt", "heads.csv")


class CompareError(ValueError):
    """Inputs that cannot be compared (tokenizer, context length, layers); the message says what to do."""


def check_tokenizer(source: str, prompts: list[dict], retokenize: bool) -> np.ndarray | None:
    """None when the pretrained model reads the prompts' GPT-2 tokens as they are; re-encoded tokens with
    ``--retokenize``; an error otherwise."""
    path = Path(source)
    has_tokenizer = path.is_dir() and any((path / f).exists() for f in ("tokenizer.json", "vocab.json"))
    if not has_tokenizer:
        return None  # load_model gives GPT-2-vocabulary models the GPT-2 tokenizer
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(str(path))
    encoded = [theirs(p["text"], add_special_tokens=False)["input_ids"] for p in prompts]
    if all(e == p["tokens"] for e, p in zip(encoded, prompts)):
        return None
    if not retokenize:
        raise CompareError(f"{source} tokenizes the fleet's prompts differently from GPT-2; pass --retokenize to "
                           f"re-encode the prompt texts with its tokenizer (patterns then cover other tokens)")
    n_ctx = len(prompts[0]["tokens"])
    kept = [e[:n_ctx] for e in encoded if len(e) >= n_ctx]
    if not kept:
        raise CompareError(f"no prompt is {n_ctx} tokens long under {source}'s tokenizer")
    return np.array(kept)


def pretrained_patterns(bridge, name: str, tokens: np.ndarray, layers: list[int]) -> tuple[np.ndarray, list[str]]:
    """[heads of the chosen layers, prompt, q, k] and their ids (``gpt2.L1H5``)."""
    patterns = attention_patterns(bridge, tokens)  # [layer*head, prompt, q, k]
    n_heads = bridge.cfg.n_heads
    keep = [l * n_heads + h for l in layers for h in range(n_heads)]
    return patterns[keep], [head_id(name, l, h) for l in layers for h in range(n_heads)]


def run_compare(fleet, pretrained: str, layers: list[int] | None, out: Path, phrenology_dir: Path, probes_dir: Path,
                phrenology_cfg, probe_cfg, retokenize: bool = False, n_perm: int = 999, nltk_data=None,
                cache_dir=None, device=None) -> dict:
    from analyze.phrenology import run_phrenology
    from analyze.probes import PROBE_FAMILIES, resolve_models, run_probes
    from train.checkpoints import load_model

    if not all((phrenology_dir / f).exists() for f in PHRENOLOGY_FILES):
        log.info("no phrenology outputs in %s: running it", phrenology_dir)
        run_phrenology(fleet, phrenology_cfg, phrenology_dir, progress=False)
    bridge = load_model(pretrained, device)
    name = resolve_models(pretrained)[0].name
    if bridge.cfg.n_ctx < fleet.n_ctx:
        raise CompareError(f"{pretrained} has a context of {bridge.cfg.n_ctx} tokens, the fleet's prompts {fleet.n_ctx}")
    layers = list(range(bridge.cfg.n_layers)) if layers is None else layers
    bad = [l for l in layers if not 0 <= l < bridge.cfg.n_layers]
    if bad:
        raise CompareError(f"--layers {bad} outside 0..{bridge.cfg.n_layers - 1}")
    prompts = [json.loads(line) for line in (phrenology_dir / "prompts.jsonl").open()]
    tokens = check_tokenizer(pretrained, prompts, retokenize)
    tokens = np.array([p["tokens"] for p in prompts]) if tokens is None else tokens

    with np.load(phrenology_dir / "attention.npz") as data:
        toy_patterns, toy_ids = data["patterns"], [str(h) for h in data["head_ids"]]
    clusters = pd.read_csv(phrenology_dir / "clusters.csv")
    toy_clusters = clusters.cluster.to_numpy()
    theirs, their_ids = pretrained_patterns(bridge, name, tokens, layers)
    if len(tokens) != toy_patterns.shape[1]:
        toy_patterns = toy_patterns[:, : len(tokens)]  # retokenized: compare on the prompts both can read

    # pattern space: the fleet's autoencoder codes, concatenated over prompts as in phrenology
    ae = PatternAutoencoder.load(phrenology_dir / "autoencoder.pt")
    toy_vec = np.load(phrenology_dir / "codes.npy")[:, : len(tokens)].reshape(len(toy_ids), -1)
    their_vec = ae.transform(token_pair_rows(theirs)).reshape(len(their_ids), -1)
    k = max(1, min(phrenology_cfg.knn_k - 1, len(toy_ids)))
    near_idx, near_dist = compare.nearest_toy_heads(their_vec, toy_vec, k)
    landed = compare.vote_cluster(near_idx, toy_clusters)
    centroid = compare.centroid_distances(their_vec, toy_vec, toy_clusters)
    rng = np.random.default_rng(phrenology_cfg.seed)
    placement = pd.DataFrame({
        "pretrained_head": their_ids, "nearest_cluster": landed,
        "distance": centroid[np.arange(len(their_ids)), landed],
        "nearest_toy_heads": [";".join(toy_ids[i] for i in row) for row in near_idx],
        "nearest_toy_distance": near_dist[:, 0],
        "p_value": [compare.permutation_p_value(x, toy_vec, toy_clusters, c, n_perm, rng)
                    for x, c in zip(their_vec, landed)]})
    out.mkdir(parents=True, exist_ok=True)
    placement.to_csv(out / "placement.csv", index=False)

    # function space: probe scores, reused when the default runs exist
    toy_scores = _probe_table(str(fleet.path), probes_dir / fleet.path.name, probe_cfg, run_probes, PROBE_FAMILIES,
                              nltk_data, cache_dir, device)
    their_scores = _probe_table(pretrained, probes_dir / name, probe_cfg, run_probes, PROBE_FAMILIES, nltk_data,
                                cache_dir, device)
    their_scores = their_scores[their_scores.layer.isin(layers)]
    scores = pd.concat([toy_scores.assign(source="toy"), their_scores.assign(source="pretrained")], ignore_index=True)
    scores.to_csv(out / "scores.csv", index=False)
    numeric = [c for c in toy_scores.columns if c not in ("head_id", "model", "layer", "head")
               and pd.api.types.is_numeric_dtype(toy_scores[c])]
    context = _score_context(toy_scores, their_scores, numeric)
    context.to_csv(out / "score_context.csv", index=False)

    # matching clusters ↔ pretrained heads, on pattern distance and on probe-score distance
    names = compare.describe_clusters(toy_scores, dict(zip(clusters.head_id, toy_clusters)))
    # clusters are groups of attention patterns, so they are matched on the attention-pattern scores; OV and
    # ablation scores depend on what a model's vocabulary means and stay in scores.csv for reading
    z = compare.standardised(scores, [s for s in compare.DESCRIPTIONS if s in scores])
    toy_z, their_z = z[: len(toy_scores)], z[len(toy_scores):]
    toy_cluster_of = dict(zip(clusters.head_id, toy_clusters))
    cluster_ids = sorted(set(toy_clusters))
    score_cost = np.stack([np.linalg.norm(their_z - toy_z[[toy_cluster_of[h] == c for h in toy_scores.head_id]]
                                          .mean(axis=0), axis=1) for c in cluster_ids])
    their_score_ids = list(their_scores.head_id)
    placed = placement.set_index("pretrained_head")
    rows = []
    for space, cost, ids in (("pattern", centroid.T, their_ids), ("probe_scores", score_cost, their_score_ids)):
        for c, j in compare.hungarian(cost):
            cluster, head = cluster_ids[c], ids[j]
            rows.append({"space": space, "cluster": cluster, "cluster_description": names[cluster],
                         "pretrained_head": head, "cost": cost[c, j],
                         "statement": f"cluster {cluster} of the fleet ≈ {names[cluster]}; "
                                      + _match_verdict(space, cluster, head, cost[c, j], placed)})
    matching = pd.DataFrame(rows)
    matching.to_csv(out / "matching.csv", index=False)
    _figures_and_report(out, fleet, pretrained, toy_patterns, toy_ids, toy_clusters, theirs, their_ids, placement,
                        matching, context, names, phrenology_cfg.seed)
    return {"placement": placement, "matching": matching, "scores": scores}


def _match_verdict(space: str, cluster, head: str, cost: float, placed: pd.DataFrame, alpha: float = 0.05) -> str:
    """Say "lands in it" only when the placement backs it: nearest cluster and a permutation p ≤ alpha. The
    Hungarian matching pairs every cluster with some head, however far."""
    if space != "pattern":
        return f"{head} is its closest match on probe scores (distance {cost:.2f})"
    where = placed.loc[head]
    if where.nearest_cluster == cluster and where.p_value <= alpha:
        return f"{head} lands in it (p = {where.p_value:.3g})"
    return (f"{head} is matched to it but does not land in it (nearest cluster {where.nearest_cluster}, "
            f"p = {where.p_value:.3g})")


def _probe_table(model: str, out: Path, cfg, run_probes, families, nltk_data, cache_dir, device) -> pd.DataFrame:
    if (out / "probes.csv").exists():
        frame = pd.read_csv(out / "probes.csv")
        if set(families) <= set(json.loads((out / "probes.json").read_text())["probes"]):
            return frame
    return run_probes(model, set(families), None, cfg, out, nltk_data, cache_dir, device, progress=False)


def _score_context(toy: pd.DataFrame, theirs: pd.DataFrame, scores: list[str]) -> pd.DataFrame:
    """For each pretrained head and score: its value next to the toy fleet's mean, spread and best head."""
    rows = []
    for _, head in theirs.iterrows():
        for s in scores:
            best = toy.loc[toy[s].idxmax()]
            rows.append({"pretrained_head": head.head_id, "score": s, "value": head[s], "toy_mean": toy[s].mean(),
                         "toy_std": toy[s].std(ddof=0), "toy_best_head": best.head_id, "toy_best_value": best[s]})
    return pd.DataFrame(rows)


def _figures_and_report(out, fleet, pretrained, toy_patterns, toy_ids, toy_clusters, theirs, their_ids, placement,
                        matching, context, names, seed) -> None:
    toy_flat, their_flat = flatten_heads(toy_patterns), flatten_heads(theirs)
    pca = pca_fit(toy_flat, 2, seed)
    coords = {"pca": np.concatenate([pca.transform(toy_flat), pca.transform(their_flat)])}
    if len(toy_ids) + len(their_ids) > 4:
        from analyze.embed import umap_2d

        coords["umap"] = umap_2d(np.concatenate([toy_flat, their_flat]), 5, 0.1, seed)
    plots.embeddings(coords, [f"cluster {c}" for c in toy_clusters], their_ids, out / "fig_placement.png")
    pattern_rows = matching[matching.space == "pattern"]
    maps = []
    for _, row in pattern_rows.iterrows():
        toy_mean = toy_patterns[toy_clusters == row.cluster].mean(axis=(0, 1))
        their_mean = theirs[their_ids.index(row.pretrained_head)].mean(axis=0)
        maps.append(np.stack([toy_mean, their_mean]))
    titles = [f"cluster {r.cluster} | {r.pretrained_head}" for _, r in pattern_rows.iterrows()]
    if maps:
        plots.pattern_grid(np.stack(maps), titles, [], out / "fig_matched_patterns.png", signed=False)
    sections = [
        {"title": "Where pretrained heads land (pattern space)",
         "text": f"{pretrained}'s heads on the fleet's {toy_patterns.shape[1]} analysis prompts, encoded with the "
                 f"fleet's autoencoder. Small p: closer to that cluster than to a random group of toy heads.",
         "tables": [placement], "figures": [(out / "fig_placement.png",
                                             "fleet heads by cluster; pretrained heads as labelled stars")]},
        {"title": "Matching clusters to pretrained heads (Hungarian)", "tables": [matching]},
        {"title": "Probe scores next to the fleet's distribution", "tables": [context]},
    ]
    if maps:
        sections.append({"title": "Mean patterns: cluster vs matched pretrained head",
                         "figures": [(out / "fig_matched_patterns.png", "left: cluster mean; right: pretrained head")]})
    write_report(out / "report.html", f"Toy fleet {fleet.path.name} vs {pretrained}", sections,
                 {"fleet": str(fleet.path), "pretrained": pretrained, "cluster_names": {int(c): n for c, n in names.items()}})
