"""``python -m analyze compare``: reuse (or compute) the fleet's phrenology and probes, place a pretrained
model's heads among the fleet's clusters, match clusters to pretrained heads, and write a report.

``compare`` computes (frames and arrays, no files); ``write_comparison`` writes CSVs, figures and the report;
``run_compare`` does both after making sure the fleet's phrenology and probe runs exist.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analyze.compare import calibration as cal
from analyze.compare import placement as pl
from analyze.core.heads import head_id
from analyze.core.tokens import readable_tokens
from analyze.core.models import ModelSpec, load_model, load_tokenizer, resolve_models
from analyze.core.patterns import attention_patterns
from analyze.phrenology.config import PhrenologyConfig
from analyze.phrenology.run import PhrenologyRun
from analyze.probes.config import ProbeConfig
from train.config import ConfigError
from train.env import RunEnv

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
    reference: pd.DataFrame | None = None  # the fleet's own heads under leave-one-model-out (reference.csv)
    controls: dict = field(default_factory=dict)  # control set → its placement frame
    headline: str = cal.HEADLINE_SPACE


def same_vocabulary(ours, theirs) -> bool:
    """Two tokenizers map the same strings to the same ids (a round trip of decoded windows is no test: BPE does
    not re-encode an arbitrary window of ids to the same ids)."""
    return ours.get_vocab() == theirs.get_vocab()


MIN_SHARED_PROMPTS = 64  # below this, too few prompts read the same tokens on both sides: re-tokenise instead


@dataclass(frozen=True)
class PromptChoice:
    """The prompts both sides read: the pretrained model's tokens, the rows of the fleet's prompts they stand
    beside, and a sentence saying how they were chosen (shown on the page and in the doc)."""

    tokens: np.ndarray  # [prompt, n_ctx] in the pretrained model's ids
    toy_rows: np.ndarray  # [prompt] rows of the phrenology run's prompts (and patterns)
    statement: str
    shared: int  # prompts whose tokens are the same strings on both sides (all of them for the same vocabulary)


def token_strings(tokenizer, ids) -> list[str]:
    return [tokenizer.decode([int(i)]) for i in ids]


def shared_token_rows(toy_tokens: np.ndarray, ours, theirs) -> tuple[np.ndarray, np.ndarray]:
    """The fleet prompts that the other tokenizer cuts into the same token strings (most plain English words are
    one token in both GPT-2-style BPEs).  → (rows [S], their token ids [S, n_ctx])"""
    rows, out = [], []
    for i, ids in enumerate(toy_tokens):
        pieces = token_strings(ours, ids)
        their_ids = theirs("".join(pieces), add_special_tokens=False)["input_ids"]
        if len(their_ids) == len(pieces) and token_strings(theirs, their_ids) == pieces:
            rows.append(i)
            out.append(their_ids)
    return np.array(rows, dtype=int), np.array(out, dtype=np.int64).reshape(len(rows), toy_tokens.shape[1])


def pretrained_prompts(run: PhrenologyRun, fleet, spec: ModelSpec, tokenizer) -> PromptChoice:
    """The prompts the pretrained model reads beside the fleet's.

    Same vocabulary: the fleet's own prompt tokens. Another tokenizer: the fleet prompts whose text it cuts into
    the same token strings, so position k holds the same text on both sides; when fewer than
    ``MIN_SHARED_PROMPTS`` do, the same held-out Brown text re-tokenised and cut to n_ctx of its own tokens (then
    token boundaries, and so positions, differ).
    """
    from analyze.core.prompts import analysis_prompts
    from train.tokenizer import load_gpt2_tokenizer

    toy_tokens = run.prompt_tokens()
    n = len(toy_tokens)
    ours = load_gpt2_tokenizer()
    if same_vocabulary(ours, tokenizer):
        return PromptChoice(toy_tokens, np.arange(n), "same tokenizer as the fleet: the fleet's own prompt tokens", n)
    rows, theirs = shared_token_rows(toy_tokens, ours, tokenizer)
    if len(rows) >= min(MIN_SHARED_PROMPTS, n):
        return PromptChoice(theirs, rows, (
            f"{spec.name} has its own tokenizer; {len(rows)} of the fleet's {n} prompts are cut into the same "
            f"{toy_tokens.shape[1]} token strings by both, and both sides read those {len(rows)} prompts, "
            f"token for token"), len(rows))
    cfg = run.config["phrenology"]
    prompts = analysis_prompts(n, toy_tokens.shape[1], cfg["prompt_seed"], fleet.heldout_fraction,
                               fleet.nltk_data, fleet.cache_dir, tokenizer)
    return PromptChoice(prompts.tokens, np.arange(n), (
        f"{spec.name} has its own tokenizer and only {len(rows)} of the fleet's {n} prompts tokenise alike "
        f"(fewer than {min(MIN_SHARED_PROMPTS, n)}): it reads the same held-out Brown text from the same {n} starting "
        f"sentences, re-tokenised and cut to {toy_tokens.shape[1]} of its own tokens, so position k holds other "
        f"text on the two sides"), len(rows))


def pretrained_patterns(bridge, name: str, tokens: np.ndarray, layers: list[int]) -> tuple[np.ndarray, list[str]]:
    """[heads of the chosen layers, prompt, q, k] and their ids (``gpt2.L1H5``)."""
    patterns = attention_patterns(bridge, tokens)  # [layer*head, prompt, q, k]
    n_heads = bridge.cfg.n_heads
    keep = [l * n_heads + h for l in layers for h in range(n_heads)]
    return patterns[keep], [head_id(name, l, h) for l in layers for h in range(n_heads)]


def autoencoder_settings(run: PhrenologyRun) -> cal.AutoencoderSettings:
    """The run's own autoencoder (chosen bottleneck, training settings), for the per-fold refits."""
    cfg = run.config["phrenology"]
    return cal.AutoencoderSettings(int(run.chosen_bottleneck["bottleneck"]), cfg["ae_hidden"], cfg["ae_epochs"],
                                   cfg["ae_batch_size"], cfg["ae_lr"], cfg["seed"])


def first_token_mass(patterns: np.ndarray) -> np.ndarray:
    """Mean attention on key 0 from queries 1.. (query 0 sees only key 0).  [head, prompt, q, k] → [head]"""
    return patterns[:, :, 1:, 0].mean(axis=(1, 2))


def placement_frame(ids: list[str], cal_result: cal.Calibrated, query: str, toy_ids: list[str],
                    toy_vectors: np.ndarray, query_vectors: np.ndarray, sink: np.ndarray, headline: str,
                    names: dict, tokenization: str, k: int = 3) -> pd.DataFrame:
    """One row per query head: the headline space's calibrated p, ``toy_like`` (p > α), nearest cluster and
    distance, its nearest toy heads there, the p of every other space, and the autoencoder's reconstruction
    error of the head beside the toy heads' held-out error."""
    from analyze.core.heads import parse_head_id

    near_idx, near_dist = pl.nearest_toy_heads(query_vectors, toy_vectors, k)
    cluster = cal_result.nearest_cluster[headline][query]
    frame = pd.DataFrame({
        "pretrained_head": ids, "layer": [parse_head_id(h)[1] for h in ids], "head": [parse_head_id(h)[2] for h in ids],
        "space": headline, "p_value": cal_result.p_values[headline][query],
        "toy_like": cal_result.p_values[headline][query] > cal.ALPHA,
        "nearest_cluster": cluster, "cluster_description": [names.get(int(c), "") for c in cluster],
        "distance": cal_result.distance[headline][query],
        "nearest_toy_heads": [";".join(toy_ids[i] for i in row) for row in near_idx],
        "nearest_toy_distance": near_dist[:, 0], "first_token_mass": sink})
    for space in cal_result.p_values:
        frame[f"p_{space}"] = cal_result.p_values[space][query]
        frame[f"nearest_cluster_{space}"] = cal_result.nearest_cluster[space][query]
    for space, folds in cal_result.folds.items():
        if folds.toy_recon is not None:
            frame[f"reconstruction_mse_{space}"] = folds.query_recon[query]
            frame[f"toy_heldout_mse_p95_{space}"] = float(np.quantile(folds.toy_recon, 0.95))
    frame["tokenization"] = tokenization
    return frame


def compare(run: PhrenologyRun, their_patterns: np.ndarray, their_ids: list[str], toy_scores: pd.DataFrame,
            their_scores: pd.DataFrame, toy_rows: np.ndarray | None = None, tokenization: str = "",
            chance: dict | None = None, headline: str = cal.HEADLINE_SPACE,
            spaces=cal.SPACES, controls: dict[str, tuple[list[str], np.ndarray]] | None = None, workers: int | None = None
            ) -> Comparison:
    """Place pretrained heads against the fleet's heads with the calibrated leave-one-model-out test, in every
    space, and match clusters to them (pure: arrays in, frames out).

    ``toy_rows``: the fleet prompts the pretrained patterns stand beside (default all). ``controls``: more query
    sets placed by the same folds (held-out seeds, planted heads, a random-initialised model): name → (head ids, patterns);
    their p-values are in ``Comparison.controls``."""
    if headline.startswith("code"):  # before the folds' autoencoder fits, not after
        raise CompareError("the headline space must be a pattern space (pattern or pattern_nosink)")
    toy_rows = np.arange(run.patterns.shape[1]) if toy_rows is None else np.asarray(toy_rows)
    toy_patterns, toy_ids = run.patterns[:, toy_rows], run.head_ids
    toy_clusters = run.clusters.set_index("head_id").loc[toy_ids].cluster.to_numpy()
    models = run.models
    if len(toy_ids) + 1 < 1 / cal.ALPHA:
        log.warning("the fleet has %d heads: the smallest possible p is 1/%d > %g, so no head can be called "
                    "unlike the toy heads", len(toy_ids), len(toy_ids) + 1, cal.ALPHA)
    controls = controls or {}
    queries = {"pretrained": their_patterns, **{name: patterns for name, (_, patterns) in controls.items()}}
    settings = autoencoder_settings(run) if any(s.startswith("code") for s in spaces) else None
    result = cal.calibrate(toy_patterns, models, toy_clusters, queries, settings, spaces, workers)
    names = pl.describe_clusters(toy_patterns, toy_clusters)
    toy_vec = cal.flat(cal.space_patterns(toy_patterns, headline))
    their_vec = cal.flat(cal.space_patterns(their_patterns, headline))
    placement = placement_frame(their_ids, result, "pretrained", toy_ids, toy_vec, their_vec,
                                first_token_mass(their_patterns), headline, names, tokenization)
    control_frames = {}
    for name, (ids, patterns) in controls.items():
        control_frames[name] = placement_frame(ids, result, name, toy_ids, toy_vec,
                                               cal.flat(cal.space_patterns(patterns, headline)),
                                               first_token_mass(patterns), headline, names, tokenization)
    reference = reference_frame(result, toy_ids, models, toy_clusters, toy_patterns)

    scores = pd.concat([toy_scores.assign(source="toy"), their_scores.assign(source="pretrained")], ignore_index=True)
    numeric = [c for c in toy_scores.columns if c not in ("head_id", "model", "layer", "head")
               and pd.api.types.is_numeric_dtype(toy_scores[c])]
    context = score_context(toy_scores, their_scores, numeric, chance)

    # matching clusters ↔ pretrained heads, on pattern distance (headline space) and on probe-score distance.
    # Clusters are groups of attention patterns, so they are matched on the attention-pattern scores; OV and
    # ablation scores depend on what a model's vocabulary means and stay in scores.csv for reading.
    cluster_ids = sorted(set(toy_clusters))
    _, centres = cal.centroids(toy_vec, toy_clusters, np.ones(len(toy_vec), dtype=bool))  # in cluster_ids' order
    pattern_cost = np.stack([np.linalg.norm(their_vec - centre, axis=1) for centre in centres])
    z = pl.standardised(scores, [s for s in pl.DESCRIPTIONS if s in scores])
    toy_z, their_z = z[: len(toy_scores)], z[len(toy_scores):]
    toy_cluster_of = dict(zip(toy_ids, toy_clusters))
    score_cost = np.stack([np.linalg.norm(their_z - toy_z[[toy_cluster_of[h] == c for h in toy_scores.head_id]]
                                          .mean(axis=0), axis=1) for c in cluster_ids])
    their_score_ids = list(their_scores.head_id)
    placed = placement.set_index("pretrained_head")
    rows = []
    for space, cost, hids in (("pattern", pattern_cost, their_ids), ("probe_scores", score_cost, their_score_ids)):
        for c, j in pl.hungarian(cost):
            cluster, head = cluster_ids[c], hids[j]
            rows.append({"space": space, "cluster": cluster, "cluster_description": names[cluster],
                         "pretrained_head": head, "cost": cost[c, j],
                         "statement": f"cluster {cluster} of the fleet ({names[cluster]}): "
                                      + match_verdict(space, cluster, head, cost[c, j], placed)})
    return Comparison(placement, scores, context, pd.DataFrame(rows), toy_patterns, toy_ids, toy_clusters,
                      their_patterns, their_ids, names, tokenization, reference=reference, controls=control_frames,
                      headline=headline)


def reference_frame(result: cal.Calibrated, toy_ids: list[str], models: np.ndarray, clusters: np.ndarray,
                    toy_patterns: np.ndarray) -> pd.DataFrame:
    """The fleet's own heads under leave-one-model-out: each one's distance to the nearest centroid of the other
    models' heads, and its own p against the rest of the reference, in every space (``reference.csv``)."""
    frame = pd.DataFrame({"head_id": toy_ids, "model": models, "cluster": clusters,
                          "first_token_mass": first_token_mass(toy_patterns)})
    for space, folds in result.folds.items():
        frame[f"reference_distance_{space}"] = folds.by_head(folds.reference)
        frame[f"p_{space}"] = result.toy_p[space]
        if folds.toy_recon is not None:
            frame[f"heldout_mse_{space}"] = folds.toy_recon
    return frame


def match_verdict(space: str, cluster, head: str, cost: float, placed: pd.DataFrame, alpha: float = cal.ALPHA) -> str:
    """Say a head resembles the cluster only when the calibrated test backs it: nearest cluster and toy-like
    (p > alpha). The Hungarian matching pairs every cluster with some head, however far; the sentence gives the
    real reason when the pair does not hold (another cluster is nearer, or no toy seed grows a head this far)."""
    if space != "pattern":
        return f"{head} is its closest match on probe scores (distance {cost:.2f})"
    where = placed.loc[head]
    if where.nearest_cluster == cluster and where.p_value > alpha:
        return f"{head} is toy-like and nearest to it (p = {where.p_value:.3g})"
    if where.nearest_cluster == cluster:
        return (f"{head} is matched to it and nearest to it, but farther from it than the fleet's own seeds' heads "
                f"ever are (p = {where.p_value:.3g} ≤ {alpha:g}): not toy-like")
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
    result.reference.to_csv(out / "reference.csv", index=False)
    (out / "config.json").write_text(json.dumps(config, indent=2, default=str))
    for name, frame in result.controls.items():
        frame.to_csv(out / f"control_{name}.csv", index=False)
    figures_and_report(result, out, fleet_name, pretrained, seed, config)


# ------------------------------------------------------------------ orchestration

def probe_table(spec_text: str, out: Path, cfg, env: RunEnv, layers=None) -> tuple[pd.DataFrame, dict]:
    """A probe run's table and record: reused when ``out`` holds a run of the same weights (fingerprint), config
    and families that covers ``layers``; else computed there for those layers only."""
    from analyze.core.spec import fingerprint
    from analyze.probes.registry import family_names
    from analyze.probes.runner import reusable_probe_run, run_probes

    specs = resolve_models(spec_text, cache_dir=env.cache_dir)
    if reusable_probe_run(out, family_names(), cfg, fingerprint(specs), layers):
        log.info("reusing the probe run in %s (same weights and config)", out)
    else:
        log.info("probing %s%s → %s", spec_text, "" if layers is None else f" (layers {layers})", out)
        run_probes(spec_text, cfg, out, env, layers=layers)
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


def control_patterns(spec_text: str, choice: PromptChoice, run: PhrenologyRun, their_tokenizer, device,
                     cache_dir=None) -> tuple[list[str], np.ndarray]:
    """Every head of a control model (or fleet) on the prompts the comparison uses: the fleet's own tokens at the
    chosen rows for a GPT-2-vocabulary model, the pretrained model's tokens for one of its vocabulary.
    → (head ids, [head, prompt, q, k])"""
    from train.tokenizer import load_gpt2_tokenizer

    ids, patterns = [], []
    for spec in resolve_models(spec_text, cache_dir=cache_dir):
        tokenizer = load_tokenizer(spec)
        if same_vocabulary(load_gpt2_tokenizer(), tokenizer):
            tokens = run.prompt_tokens()[choice.toy_rows]
        elif same_vocabulary(their_tokenizer, tokenizer):
            tokens = choice.tokens
        else:
            raise CompareError(f"control {spec_text}: its tokenizer is neither the fleet's nor the pretrained "
                               f"model's, so it cannot read the same prompts")
        bridge = load_model(spec, device)
        layers = list(range(bridge.cfg.n_layers))
        p, h = pretrained_patterns(bridge, spec.name, tokens, layers)
        ids += h
        patterns.append(p)
        del bridge
    return ids, np.concatenate(patterns)


@dataclass
class CompareJob:
    """One comparison: the pretrained model (and its ``layers``), where it writes, where it reuses or writes the
    fleet's phrenology run and the probe runs, the controls placed by the same folds, and the two configs."""

    pretrained: str
    out: Path
    phrenology_dir: Path
    probes_dir: Path
    layers: list[int] | None = None
    controls: dict[str, str] = field(default_factory=dict)  # name → model spec
    phrenology: PhrenologyConfig = field(default_factory=PhrenologyConfig)  # the paper's analysis by default
    probes: ProbeConfig = field(default_factory=ProbeConfig)


def run_compare(fleet, job: CompareJob, env: RunEnv = RunEnv()) -> Comparison:
    """Check the arguments, then: the fleet's phrenology (reused or computed), the pretrained model's patterns on
    the same text, both sides' probe scores (the pretrained model's for ``job.layers`` only, unless a full run is
    there to reuse), the calibrated placement and matching, and the outputs. Holds ``job.out/.lock`` while it
    writes there."""
    from train.files import dir_lock

    with dir_lock(job.out, "analyze compare"):
        return _run_compare(fleet, job, env)


def _run_compare(fleet, job: CompareJob, env: RunEnv) -> Comparison:
    from analyze.core.models import check_layers, model_config, run_name

    pretrained, out = job.pretrained, job.out
    (spec,) = resolve_models(pretrained, cache_dir=env.cache_dir)
    shape = model_config(spec)
    layers = None if job.layers is None else check_layers(job.layers, shape["n_layers"], spec.name)
    placed_layers = list(range(shape["n_layers"])) if layers is None else layers

    run = phrenology_run(fleet, job.phrenology, job.phrenology_dir, env.progress)
    if len(set(run.models)) < 2:
        raise CompareError("the calibrated placement leaves one model out at a time: it needs a fleet of at least "
                           "2 finished models")
    log.info("loading %s", spec.name)
    bridge = load_model(spec, env.device)
    if bridge.cfg.n_ctx < fleet.n_ctx:
        raise CompareError(f"{pretrained} has a context of {bridge.cfg.n_ctx} tokens, the fleet's prompts {fleet.n_ctx}")
    their_tokenizer = load_tokenizer(spec)
    choice = pretrained_prompts(run, fleet, spec, their_tokenizer)
    log.info("attention patterns of %s on %d prompts (%s)", spec.name, len(choice.tokens), choice.statement)
    theirs, their_ids = pretrained_patterns(bridge, spec.name, choice.tokens, placed_layers)
    del bridge
    control_sets = {name: control_patterns(text, choice, run, their_tokenizer, env.device, env.cache_dir)
                    for name, text in job.controls.items()}

    toy_scores, _ = probe_table(str(fleet.path), job.probes_dir / run_name(fleet.path), job.probes, env)
    their_scores, record = probe_table(pretrained, job.probes_dir / run_name(pretrained), job.probes, env, layers)
    their_scores = their_scores[their_scores.layer.isin(placed_layers)].reset_index(drop=True)
    log.info("placing %d heads of %s against the fleet's heads (leave one model out, %d spaces)", len(their_ids),
             spec.name, len(cal.SPACES))
    result = compare(run, theirs, their_ids, toy_scores, their_scores, choice.toy_rows, choice.statement,
                     chance_values(record, spec.name, list(their_scores.columns)), controls=control_sets)
    result = replace(result, toy_tokens=[readable_tokens(fleet.tokenizer(), t)
                                         for t in run.prompt_tokens()[choice.toy_rows[:4]]],
                     their_tokens=[readable_tokens(their_tokenizer, t) for t in choice.tokens[:4]])
    write_comparison(result, out, fleet.path.name, pretrained, job.phrenology.seed,
                     {"fleet": str(fleet.path), "fleet_fingerprint": fleet.fingerprint(), "pretrained": pretrained,
                      "pretrained_fingerprint": record["fingerprint"], "layers": placed_layers,
                      "tokenization": choice.statement, "prompts": len(choice.toy_rows),
                      "shared_prompts": choice.shared, "headline_space": result.headline, "alpha": cal.ALPHA,
                      "controls": job.controls,
                      "cluster_names": {int(c): n for c, n in result.cluster_names.items()},
                      "phrenology": asdict(job.phrenology), "probes": asdict(job.probes)})
    return result
