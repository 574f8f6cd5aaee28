"""``python -m analyze compare``: reuse (or compute) the fleet's phrenology and probes, place a pretrained
model's heads among the fleet's clusters, match clusters to pretrained heads, and write a report.

``compare`` computes (frames and arrays, no files); ``write_comparison`` writes CSVs, figures and the report;
``run_compare`` does both after making sure the fleet's phrenology and probe runs exist.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analyze.compare import placement as pl
from analyze.core.heads import head_id
from analyze.core.tokens import readable_tokens
from analyze.core.models import ModelSpec, load_model, load_tokenizer, resolve_models
from analyze.core.patterns import attention_patterns
from analyze.phrenology.run import PhrenologyRun
from train.config import ConfigError

log = logging.getLogger(__name__)


class CompareError(ConfigError):
    """Inputs that cannot be compared (context length, layers); the message says what to do."""


@dataclass
class Comparison:
    placement: pd.DataFrame
    scores: pd.DataFrame
    context: pd.DataFrame
    matching: pd.DataFrame
    toy_patterns: np.ndarray  # [toy head, prompt, q, k]
    toy_ids: list[str]
    toy_clusters: np.ndarray
    their_patterns: np.ndarray  # [pretrained head, prompt, q, k]
    their_ids: list[str]
    cluster_names: dict
    tokenization: str  # how the pretrained model read the prompts
    toy_tokens: list = field(default_factory=list)  # readable tokens of the fleet's first prompts
    their_tokens: list = field(default_factory=list)  # ... of the pretrained model's first prompts


def same_vocabulary(ours, theirs) -> bool:
    """Two tokenizers map the same strings to the same ids (a round trip of decoded windows is no test: BPE does
    not re-encode an arbitrary window of ids to the same ids)."""
    return ours.get_vocab() == theirs.get_vocab()


def pretrained_prompts(run: PhrenologyRun, fleet, spec: ModelSpec, tokenizer) -> tuple[np.ndarray, str]:
    """The prompts the pretrained model reads, and a sentence saying how they relate to the fleet's.

    Same vocabulary: the fleet's own token ids. Another tokenizer: the same held-out Brown text from the same
    starting sentences (same seed), re-tokenised with its tokenizer and cut to the fleet's n_ctx tokens, so
    both sides see every prompt at equal context length.
    """
    from analyze.core.prompts import analysis_prompts
    from train.tokenizer import load_gpt2_tokenizer

    toy_tokens = run.prompt_tokens()
    if same_vocabulary(load_gpt2_tokenizer(), tokenizer):
        return toy_tokens, "same tokenizer as the fleet: the fleet's own prompt tokens"
    cfg = run.config["phrenology"]
    prompts = analysis_prompts(len(toy_tokens), toy_tokens.shape[1], cfg["prompt_seed"], fleet.heldout_fraction,
                               fleet.nltk_data, fleet.cache_dir, tokenizer)
    return prompts.tokens, (f"{spec.name} has its own tokenizer: it reads the same held-out Brown text from the same "
                            f"{len(toy_tokens)} starting sentences, re-tokenised and cut to {toy_tokens.shape[1]} of "
                            f"its own tokens (so the token boundaries differ from the fleet's)")


def pretrained_patterns(bridge, name: str, tokens: np.ndarray, layers: list[int]) -> tuple[np.ndarray, list[str]]:
    """[heads of the chosen layers, prompt, q, k] and their ids (``gpt2.L1H5``)."""
    patterns = attention_patterns(bridge, tokens)  # [layer*head, prompt, q, k]
    n_heads = bridge.cfg.n_heads
    keep = [l * n_heads + h for l in layers for h in range(n_heads)]
    return patterns[keep], [head_id(name, l, h) for l in layers for h in range(n_heads)]


def compare(run: PhrenologyRun, their_patterns: np.ndarray, their_ids: list[str], toy_scores: pd.DataFrame,
            their_scores: pd.DataFrame, knn_k: int, seed: int, n_perm: int = 999,
            tokenization: str = "", chance: dict | None = None, toy_chance: dict | None = None) -> Comparison:
    """Place pretrained heads in the fleet's pattern space and match clusters to them (pure: arrays in, frames out)."""
    toy_patterns, toy_ids = run.patterns, run.head_ids
    toy_clusters = run.clusters.cluster.to_numpy()
    # pattern space: the fleet's autoencoder codes, concatenated over prompts as in phrenology
    ae = run.autoencoder()
    from analyze.phrenology.autoencoder import token_pair_rows

    toy_vec = run.codes.reshape(len(toy_ids), -1)
    their_vec = ae.transform(token_pair_rows(their_patterns)).reshape(len(their_ids), -1)
    k = max(1, min(knn_k - 1, len(toy_ids)))
    near_idx, near_dist = pl.nearest_toy_heads(their_vec, toy_vec, k)
    landed = pl.vote_cluster(near_idx, toy_clusters)
    centroid = pl.centroid_distances(their_vec, toy_vec, toy_clusters)
    rng = np.random.default_rng(seed)
    placement = pd.DataFrame({
        "pretrained_head": their_ids, "nearest_cluster": landed,
        "distance": centroid[np.arange(len(their_ids)), landed],
        "nearest_toy_heads": [";".join(toy_ids[i] for i in row) for row in near_idx],
        "nearest_toy_distance": near_dist[:, 0],
        "p_value": pl.permutation_p_values(their_vec, toy_vec, toy_clusters, landed, n_perm, rng),
        "cluster_spread": pl.cluster_spread(toy_vec, toy_clusters)[landed],
        "tokenization": tokenization})
    placement.insert(placement.columns.get_loc("cluster_spread") + 1, "inside_cluster",
                     placement.distance <= placement.cluster_spread)

    scores = pd.concat([toy_scores.assign(source="toy"), their_scores.assign(source="pretrained")], ignore_index=True)
    numeric = [c for c in toy_scores.columns if c not in ("head_id", "model", "layer", "head")
               and pd.api.types.is_numeric_dtype(toy_scores[c])]
    context = score_context(toy_scores, their_scores, numeric, chance)

    # matching clusters ↔ pretrained heads, on pattern distance and on probe-score distance. Clusters are groups
    # of attention patterns, so they are matched on the attention-pattern scores; OV and ablation scores depend
    # on what a model's vocabulary means and stay in scores.csv for reading.
    names = pl.describe_clusters(toy_scores, dict(zip(run.clusters.head_id, toy_clusters)), toy_chance)
    z = pl.standardised(scores, [s for s in pl.DESCRIPTIONS if s in scores])
    toy_z, their_z = z[: len(toy_scores)], z[len(toy_scores):]
    toy_cluster_of = dict(zip(run.clusters.head_id, toy_clusters))
    cluster_ids = sorted(set(toy_clusters))
    score_cost = np.stack([np.linalg.norm(their_z - toy_z[[toy_cluster_of[h] == c for h in toy_scores.head_id]]
                                          .mean(axis=0), axis=1) for c in cluster_ids])
    their_score_ids = list(their_scores.head_id)
    placed = placement.set_index("pretrained_head")
    rows = []
    for space, cost, ids in (("pattern", centroid.T, their_ids), ("probe_scores", score_cost, their_score_ids)):
        for c, j in pl.hungarian(cost):
            cluster, head = cluster_ids[c], ids[j]
            rows.append({"space": space, "cluster": cluster, "cluster_description": names[cluster],
                         "pretrained_head": head, "cost": cost[c, j],
                         "statement": f"cluster {cluster} of the fleet ≈ {names[cluster]}; "
                                      + match_verdict(space, cluster, head, cost[c, j], placed)})
    return Comparison(placement, scores, context, pd.DataFrame(rows), toy_patterns, toy_ids, toy_clusters,
                      their_patterns, their_ids, names, tokenization)


def match_verdict(space: str, cluster, head: str, cost: float, placed: pd.DataFrame, alpha: float = 0.05) -> str:
    """Say "lands in it" only when the placement backs it: nearest cluster and a permutation p ≤ alpha. The
    Hungarian matching pairs every cluster with some head, however far; the sentence gives the real reason
    when it does not land (another cluster is nearer, or this one is nearest but no nearer than chance)."""
    if space != "pattern":
        return f"{head} is its closest match on probe scores (distance {cost:.2f})"
    where = placed.loc[head]
    if where.nearest_cluster == cluster and where.p_value <= alpha:
        return f"{head} lands in it (p = {where.p_value:.3g})"
    if where.nearest_cluster == cluster:
        return (f"{head} is matched to it and nearest to it, but no nearer than a random group of toy heads "
                f"(p = {where.p_value:.3g} > {alpha:g})")
    return f"{head} is matched to it but lies nearer cluster {int(where.nearest_cluster)} (p = {where.p_value:.3g})"


def score_context(toy: pd.DataFrame, theirs: pd.DataFrame, scores: list[str], chance: dict | None = None
                  ) -> pd.DataFrame:
    """For each pretrained head and ranking score: its value next to the toy fleet's mean, spread and best head,
    "best" read in the score's own direction (the registry's), and the score's chance value for the pretrained
    model where defined (``chance``: column → value). Descriptive columns are left out: they rank nothing."""
    from analyze.probes.registry import columns, rank_heads

    registry = columns()
    ranked = [s for s in scores if s in registry and registry[s].ranks and toy[s].notna().any()]
    rows = []
    for s in ranked:
        col = registry[s]
        best = rank_heads(toy, col, 1).iloc[0]
        mean, std = toy[s].mean(), toy[s].std(ddof=0)
        for _, head in theirs.iterrows():
            value = head[s]
            rows.append({"pretrained_head": head.head_id, "score": s, "direction": col.direction, "value": value,
                         "chance": (chance or {}).get(s), "toy_mean": mean, "toy_std": std,
                         "toy_best_head": best.head_id, "toy_best_value": best[s],
                         "beyond_toy_best": bool(pd.notna(value) and col.better(value, best[s]))})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ writing

def write_comparison(result: Comparison, out: Path, fleet_name: str, pretrained: str, seed: int,
                     config: dict) -> None:
    from analyze.compare.report import figures_and_report

    out.mkdir(parents=True, exist_ok=True)
    result.placement.to_csv(out / "placement.csv", index=False)
    result.scores.to_csv(out / "scores.csv", index=False)
    result.context.to_csv(out / "score_context.csv", index=False)
    result.matching.to_csv(out / "matching.csv", index=False)
    figures_and_report(result, out, fleet_name, pretrained, seed, config)


# ------------------------------------------------------------------ orchestration

def probe_table(spec_text: str, out: Path, cfg, nltk_data, cache_dir, device, layers=None,
                progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """A probe run's table and record: reused when ``out`` holds a run of the same weights (fingerprint), config
    and families that covers ``layers``; else computed there for those layers only."""
    from analyze.core.spec import fingerprint
    from analyze.probes.registry import family_names
    from analyze.probes.runner import reusable_probe_run, run_probes

    specs = resolve_models(spec_text, cache_dir=cache_dir)
    if reusable_probe_run(out, family_names(), cfg, fingerprint(specs), layers):
        log.info("reusing the probe run in %s (same weights and config)", out)
    else:
        log.info("probing %s%s → %s", spec_text, "" if layers is None else f" (layers {layers})", out)
        run_probes(spec_text, family_names(), None, cfg, out, nltk_data, cache_dir, device, progress=progress,
                   layers=layers)
    frame = pd.read_csv(out / "probes.csv")
    record = json.loads((out / "probes.json").read_text())
    return (frame if layers is None else frame[frame.layer.isin(layers)].reset_index(drop=True)), record


def chance_values(record: dict, model: str, names: list[str]) -> dict[str, float]:
    """The registry's chance value of each column for one model of a probe run (its recorded facts)."""
    from analyze.probes.registry import columns

    facts = record["models"][model].get("chance_facts", {})
    registry = columns()
    return {n: registry[n].chance_value(facts) for n in names if n in registry}


def phrenology_run(fleet, cfg, phrenology_dir: Path, progress: bool) -> PhrenologyRun:
    """The fleet's phrenology run in ``phrenology_dir``: its cached steps are reused only while the fleet's
    fingerprint and the config match (the pipeline's step keys), stale ones are recomputed. A run made there
    with other settings is refused in one line rather than overwritten."""
    from dataclasses import asdict

    from analyze.phrenology.pipeline import run_phrenology

    config = phrenology_dir / "config.json"
    if config.exists():
        stored = json.loads(config.read_text()).get("phrenology", {})
        differ = sorted(k for k, v in asdict(cfg).items() if k in stored and stored[k] != v)
        if differ:
            raise CompareError(
                f"{phrenology_dir} holds a phrenology run with other settings ("
                + ", ".join(f"{k}={stored[k]!r}" for k in differ)
                + "); pass the same key=value overrides to compare, or --phrenology-dir DIR for a new run")
    log.info("phrenology of %s in %s (cached steps reused while the fleet and config match)", fleet.path.name,
             phrenology_dir)
    run_phrenology(fleet, cfg, phrenology_dir, progress=progress)
    return PhrenologyRun(phrenology_dir)


def run_compare(fleet, pretrained: str, layers: list[int] | None, out: Path, phrenology_dir: Path, probes_dir: Path,
                phrenology_cfg, probe_cfg, n_perm: int = 999, nltk_data=None, cache_dir=None,
                device=None, progress: bool = False) -> Comparison:
    """Check the arguments, then: the fleet's phrenology (reused or computed), the pretrained model's patterns on
    the same text, both sides' probe scores (the pretrained model's for ``layers`` only, unless a full run is
    there to reuse), the placement and matching, and the outputs."""
    from analyze.core.models import check_layers, model_config, run_name

    (spec,) = resolve_models(pretrained, cache_dir=cache_dir)
    shape = model_config(spec)
    layers = None if layers is None else check_layers(layers, shape["n_layers"], spec.name)
    placed_layers = list(range(shape["n_layers"])) if layers is None else layers

    run = phrenology_run(fleet, phrenology_cfg, phrenology_dir, progress)
    log.info("loading %s", spec.name)
    bridge = load_model(spec, device)
    if bridge.cfg.n_ctx < fleet.n_ctx:
        raise CompareError(f"{pretrained} has a context of {bridge.cfg.n_ctx} tokens, the fleet's prompts {fleet.n_ctx}")
    their_tokenizer = load_tokenizer(spec)
    tokens, tokenization = pretrained_prompts(run, fleet, spec, their_tokenizer)
    log.info("attention patterns of %s on %d prompts", spec.name, len(tokens))
    theirs, their_ids = pretrained_patterns(bridge, spec.name, tokens, placed_layers)
    del bridge

    toy_scores, toy_record = probe_table(str(fleet.path), probes_dir / run_name(fleet.path), probe_cfg, nltk_data, cache_dir,
                                device, progress=progress)
    their_scores, record = probe_table(pretrained, probes_dir / run_name(pretrained), probe_cfg, nltk_data,
                                       cache_dir, device, layers, progress)
    their_scores = their_scores[their_scores.layer.isin(placed_layers)].reset_index(drop=True)
    log.info("placing %d heads of %s among the fleet's clusters (%d permutations)", len(their_ids), spec.name, n_perm)
    toy_chance = chance_values(toy_record, next(iter(toy_record["models"])), list(toy_scores.columns))
    result = compare(run, theirs, their_ids, toy_scores, their_scores, phrenology_cfg.knn_k, phrenology_cfg.seed,
                     n_perm, tokenization, chance_values(record, spec.name, list(their_scores.columns)), toy_chance)
    result = replace(result, toy_tokens=[readable_tokens(fleet.tokenizer(), t) for t in run.prompt_tokens(4)],
                     their_tokens=[readable_tokens(their_tokenizer, t) for t in tokens[:4]])
    write_comparison(result, out, fleet.path.name, pretrained, phrenology_cfg.seed,
                     {"fleet": str(fleet.path), "fleet_fingerprint": fleet.fingerprint(), "pretrained": pretrained,
                      "pretrained_fingerprint": record["fingerprint"], "layers": placed_layers,
                      "tokenization": tokenization, "permutations": n_perm,
                      "cluster_names": {int(c): n for c, n in result.cluster_names.items()}})
    return result
