"""``python -m analyze probes``: circuit probes on any model, one row per head in ``probes.csv``.

The same probes run on toy checkpoints and on pretrained GPT-2-architecture models, so their heads can be
compared on equal terms. Probe families (``--probes``):

- ``patterns``: prev_token, duplicate_token, induction, self, first_token (analyze/pattern_scores.py)
- ``layer0``:   positional pattern metrics and ``layer0_class`` of layer-0 heads (analyze/layer0.py, seed 004)
- ``ov``:       antonym_tally, copying_score, category_tally from OV token maps (analyze/ov.py, seed 000)
- ``eigen``:    ov_top_eig_real, ov_neg_eig_share (seed 000, 001)
- ``ablation``: ablation_delta_loss, mean-ablating each head on the antonym task (analyze/ablation.py)
- ``semantic``: semantic_score, self_suppression on shuffled category prompts (analyze/semantic.py, seed 001)
- ``qk``:       qk_sym_norm_ratio, qk_neg_eigs, qk_n_eigs, singular values of the token QK map (analyze/qk.py)
- ``prediction``: prediction_attention over bags of Brown tokens (analyze/qk.py, seed 002 Eq. 2)

Per-head extras when named: ``steer_head`` (steering.csv), ``cluster_head`` (token_clusters.csv),
``semantic_head`` (upstream_ablation.csv).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from analyze.extract import attention_patterns, head_id, parse_head_id
from analyze.words import Categories, WordPairs

log = logging.getLogger(__name__)

PROBE_FAMILIES = ("patterns", "layer0", "ov", "eigen", "ablation", "semantic", "qk", "prediction")


@dataclass
class ProbeConfig:
    prompts: int = 64  # Brown analysis prompts for pattern scores and mean activations
    prompt_seed: int = 9992
    max_seq_len: int = 32  # prompt length: min(this, model n_ctx)
    repeat_prompts: int = 64  # repeated random sequences for duplicate / induction scores
    embedding: str = "auto"  # raw | ee | auto (raw for layer-0 heads, effective embedding after)
    top_heads: int = 3  # heads shown in the report's maps
    semantic_prompts: int = 8  # shuffles of category words, fixed seeds (seed 001)
    semantic_len: int = 32  # prompt length: min(this, model n_ctx)
    qk_tokens: str = "brown"  # token set of the QK maps: brown (most frequent Brown tokens) or categories
    qk_token_count: int = 3000  # seed 001: the 3000 most frequent tokens
    bag_size: int = 16  # prediction-attention bags: distinct tokens of one Brown window ...
    n_bags: int = 32  # ... from this many held-out windows of 64 tokens
    steer_head: str = ""  # e.g. gpt2.L1H5: write steering.csv for it
    alphas: list = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0])
    cluster_head: str = ""  # Leiden clusters of its token QK map → token_clusters.csv
    semantic_head: str = ""  # upstream mean-ablation of its semantic score → upstream_ablation.csv
    token_knn: int = 10
    seed: int = 0


@dataclass
class ModelSpec:
    """One model to probe: its short name (the head-id prefix) and how to load it."""

    name: str
    source: str


def resolve_models(spec: str) -> list[ModelSpec]:
    """A fleet dir → all its finished models; a toy model dir, HF dir or HF name → one model."""
    from train.checkpoints import read_fleet_record, read_toy_config

    path = Path(spec)
    if (path / "fleet.json").exists():
        record = read_fleet_record(path)
        return [ModelSpec(f"m{m['index']:02d}", str(path / m["dir"])) for m in record["models"]
                if m["status"] == "done"]
    if (path / "config.json").exists():
        config = json.loads((path / "config.json").read_text())
        if "toyheads" in config:
            return [ModelSpec(f"m{read_toy_config(path)['index']:02d}", str(path))]
        return [ModelSpec(path.name, str(path))]
    return [ModelSpec(spec.replace("/", "_"), spec)]


def probe_model(bridge, name: str, families: set[str], pairs: WordPairs, cfg: ProbeConfig, brown_prompts,
                tokenizer, categories: Categories | None = None, brown_frequent=None) -> tuple[list[dict], dict]:
    """All requested probes on one model: rows for probes.csv, and arrays for figures.

    ``brown_prompts(length, n=None)`` gives held-out Brown prompts [prompt, length] of any length the probes
    need; ``brown_frequent(n)`` the n most frequent training-text tokens.
    """
    from analyze import layer0, ov
    from analyze.pattern_scores import MASKS, detection_score, repeated_random_tokens

    n_layers, n_heads = bridge.cfg.n_layers, bridge.cfg.n_heads
    rows = [{"head_id": head_id(name, l, h), "model": name, "layer": l, "head": h}
            for l in range(n_layers) for h in range(n_heads)]
    extras: dict = {}
    brown_tokens = brown_prompts(min(cfg.max_seq_len, bridge.cfg.n_ctx))
    if families & {"patterns", "layer0"}:
        brown = attention_patterns(bridge, brown_tokens)  # [layer*head, prompt, q, k]
        repeat_tokens = repeated_random_tokens(cfg.repeat_prompts, brown_tokens.shape[1], cfg.seed)
        repeat = attention_patterns(bridge, repeat_tokens)
        for score, mask in MASKS.items():
            on_brown = detection_score(brown, mask(brown_tokens))
            on_repeat = detection_score(repeat, mask(repeat_tokens))
            main = on_repeat if score in ("duplicate_token", "induction") else on_brown
            for i, row in enumerate(rows):
                row.update({score: main[i], f"{score}_brown": on_brown[i], f"{score}_repeat": on_repeat[i]})
    if "layer0" in families:
        ids = [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in layer0.DESTINATION_WORDS]
        positional = layer0.positional_patterns(bridge, ids, brown_tokens.shape[1])  # [head, q, k]
        extras["positional"] = positional
        for h in range(n_heads):
            metrics = layer0.positional_metrics(positional[h])
            rows[h].update(metrics, layer0_class=layer0.classify_layer0(metrics, rows[h].get("duplicate_token", 0.0)))
    if families & {"ov", "eigen"}:
        raw = ov.raw_embedding(bridge, pairs.token_ids)
        effective = ov.effective_embedding(bridge, pairs.token_ids) if cfg.embedding != "raw" else None
        antonym_of = np.array([pairs.antonym_index(i) for i in range(len(pairs.words))])
        maps, eigs = {}, {}
        for row in rows:
            l, h = row["layer"], row["head"]
            if "ov" in families:
                use_raw = cfg.embedding == "raw" or (cfg.embedding == "auto" and l == 0)
                token_map = ov.ov_token_map(bridge, l, h, raw if use_raw else effective, pairs.token_ids)
                maps[row["head_id"]] = token_map
                row.update(ov.tally_scores(token_map, antonym_of), ov_embedding="raw" if use_raw else "ee")
            if "eigen" in families:
                eigs[row["head_id"]] = ov.ov_eigenvalues(bridge.W_V[l, h], bridge.W_O[l, h])
                row.update(ov.eigen_scores(eigs[row["head_id"]]))
        extras.update(maps=maps, eigenvalues=eigs)
    if families & {"semantic", "qk", "prediction"} or any((cfg.steer_head, cfg.cluster_head, cfg.semantic_head)):
        from analyze.qk_probes import qk_side_probes

        extras.update(qk_side_probes(bridge, name, rows, families, categories, cfg, brown_prompts, brown_frequent,
                                     tokenizer))
    if "ablation" in families:
        from analyze.ablation import antonym_chunks, mean_ablation_deltas
        from analyze.knockout import mean_head_outputs

        bos = tokenizer.bos_token_id if bridge.cfg.default_prepend_bos else None
        chunks = antonym_chunks(pairs.token_ids[: pairs.n_pairs], pairs.token_ids[pairs.n_pairs:],
                                bridge.cfg.n_ctx, bos)
        brown = torch.as_tensor(brown_prompts(max(len(c) for c in chunks)))  # means at every chunk position
        deltas = mean_ablation_deltas(bridge, chunks, 0 if bos is None else 1, mean_head_outputs(bridge, brown))
        for row in rows:
            row["ablation_delta_loss"] = deltas[row["layer"], row["head"]]
    return rows, extras


def run_probes(model_spec: str, families: set[str], pairs_path, cfg: ProbeConfig, out: Path, nltk_data=None,
               cache_dir=None, device=None, progress: bool = True, categories_path=None) -> pd.DataFrame:
    from analyze.extract import analysis_prompts
    from analyze.probe_report import write_probe_report
    from analyze.words import load_categories, load_pairs
    from train.checkpoints import load_model
    from train.data import frequent_tokens, tokenize_brown
    from train.tokenizer import load_gpt2_tokenizer

    tokenizer = load_gpt2_tokenizer()
    pairs = load_pairs(pairs_path, tokenizer)
    categories = load_categories(categories_path, tokenizer)
    if cfg.qk_tokens not in ("brown", "categories"):
        raise ValueError(f"qk_tokens must be brown or categories, got {cfg.qk_tokens!r}")
    specs = resolve_models(model_spec)
    for spec_name in (cfg.steer_head, cfg.cluster_head, cfg.semantic_head):
        if spec_name and parse_head_id(spec_name)[0] not in {s.name for s in specs}:
            raise ValueError(f"head {spec_name} is not in {model_spec} (models: {', '.join(s.name for s in specs)})")

    def brown_frequent(n: int) -> np.ndarray:
        return frequent_tokens(tokenize_brown(0.2, nltk_data, cache_dir)[1], n)

    rows, extras, timings = [], {}, {}
    for spec in tqdm(specs, desc="models", disable=not progress or len(specs) < 2):
        started = time.perf_counter()
        bridge = load_model(spec.source, device)
        _check_vocab(bridge, spec)
        def brown_prompts(length: int, n: int | None = None) -> np.ndarray:
            return analysis_prompts(n or cfg.prompts, length, cfg.prompt_seed, 0.2, nltk_data, cache_dir).tokens

        model_rows, model_extras = probe_model(bridge, spec.name, families, pairs, cfg, brown_prompts, tokenizer,
                                               categories, brown_frequent)
        rows += model_rows
        extras[spec.name] = model_extras
        timings[spec.name] = round(time.perf_counter() - started, 2)
        log.info("probed %s (%d heads) in %.1f s", spec.name, len(model_rows), timings[spec.name])
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "probes.csv", index=False)
    import transformer_lens

    (out / "probes.json").write_text(json.dumps({
        "model": model_spec, "probes": sorted(families), "pairs": str(pairs_path or "analyze/data/antonyms.txt"),
        "n_pairs": pairs.n_pairs, "config": asdict(cfg), "seconds_per_model": timings,
        "versions": {"torch": torch.__version__, "transformer_lens": getattr(transformer_lens, "__version__", "?")},
    }, indent=2))
    _write_head_extras(extras, out, tokenizer)
    write_probe_report(frame, extras, pairs, cfg, out, categories, tokenizer)
    return frame


def _write_head_extras(extras: dict, out: Path, tokenizer) -> None:
    """steering.csv, token_clusters.csv and upstream_ablation.csv of the heads named in the config."""
    for model_extras in extras.values():
        if "steering" in model_extras:
            pd.DataFrame(model_extras["steering"]).to_csv(out / "steering.csv", index=False)
        if "upstream_ablation" in model_extras:
            pd.DataFrame(model_extras["upstream_ablation"]).to_csv(out / "upstream_ablation.csv", index=False)
        if "token_clusters" in model_extras:
            ids, labels, clusters = model_extras["token_clusters"]
            pd.DataFrame({"token": [tokenizer.decode([int(t)]) for t in ids], "token_id": ids, "cluster": clusters,
                          "category": labels}).to_csv(out / "token_clusters.csv", index=False)


def _check_vocab(bridge, spec: ModelSpec) -> None:
    if bridge.cfg.d_vocab != 50_257:
        raise ValueError(f"{spec.source} has a vocabulary of {bridge.cfg.d_vocab}; the probes' word lists are "
                         f"GPT-2 tokens (50,257)")
