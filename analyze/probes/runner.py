"""``python -m analyze probes``: every requested probe family on every model, one row per head in ``probes.csv``.

The same probes run on toy checkpoints and pretrained models, so their heads can be compared on equal terms.
Each family (analyze/probes/registry.py) gets the model and its inputs and returns columns; a family that
cannot apply to a model (too few single-token words, a missing hook in an architecture) leaves its columns NaN
and says why in ``probes.json`` and the report, instead of stopping the run.
"""

from __future__ import annotations

import logging
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from analyze.core.heads import head_ids, model_of
from analyze.core.models import ModelSpec, load_model, load_tokenizer, resolve_models
from analyze.probes.config import ProbeConfig
from analyze.probes.inputs import FamilyOutput, NotApplicable, ProbeInputs, ReportInputs
from analyze.probes.named_heads import NAMED, named_head_extras
from analyze.probes.registry import families as registered_families
from analyze.probes.words import WordLists, load_word_lists
from train.checkpoints import write_json

log = logging.getLogger(__name__)


def heldout_fraction_of(spec: ModelSpec) -> float:
    """The toy model's own split (its fleet config); pretrained models read the default split."""
    from train.checkpoints import read_toy_config
    from train.config import FleetConfig

    if spec.kind == "toy":
        return float(read_toy_config(spec.source)["fleet_config"].get("heldout_fraction", 0.2))
    return FleetConfig().heldout_fraction


def needs_check(family, words: WordLists, cfg: ProbeConfig) -> None:
    """Raise NotApplicable when a family's word list is too small to score."""
    if "word pairs" in family.needs and words.pairs.n_pairs < cfg.min_pairs:
        raise NotApplicable(f"only {words.pairs.n_pairs} antonym pairs are single tokens with a leading space for "
                            f"this tokenizer; a tally needs at least min_pairs = {cfg.min_pairs}")


def probe_model(bridge, spec: ModelSpec, families: list[str], cfg: ProbeConfig, words: WordLists, tokenizer,
                nltk_data=None, cache_dir=None) -> tuple[pd.DataFrame, dict, dict]:
    """All requested families on one model: ``(rows, extras, notes)``; notes map column → why it is NaN."""
    from analyze.core.prompts import analysis_prompts, bos_convention
    from train.data import frequent_tokens, tokenize_brown
    from train.tokenizer import is_gpt2

    heldout = heldout_fraction_of(spec)
    own_tokenizer = None if spec.kind == "toy" or is_gpt2(tokenizer) else tokenizer
    bos = bos_convention(spec.kind, tokenizer)

    def brown_prompts(length: int, n: int | None = None) -> np.ndarray:
        return analysis_prompts(n or cfg.prompts, length, cfg.prompt_seed, heldout, nltk_data, cache_dir,
                                own_tokenizer, bos.id).tokens

    def brown_frequent(n: int | None) -> np.ndarray:
        """The n most frequent training-text tokens (None: every token that occurs)."""
        vocab = bridge.cfg.d_vocab
        if n is not None and n > vocab:
            raise ValueError(f"qk_token_count {n} is larger than the {vocab:,}-token vocabulary")
        text = tokenize_brown(heldout, nltk_data, cache_dir, own_tokenizer)[1]
        return frequent_tokens(text, n if n is not None else len(np.unique(text.tokens)))

    inputs = ProbeInputs(bridge, spec.name, tokenizer, cfg, words, bos.id, brown_prompts, brown_frequent)
    ids = head_ids(spec.name, inputs.n_layers, inputs.n_heads)
    frame = pd.DataFrame({"head_id": ids, "model": spec.name, "layer": [i // inputs.n_heads for i in range(len(ids))],
                          "head": [i % inputs.n_heads for i in range(len(ids))]})
    extras, notes = {}, {}
    registry = registered_families()
    for name in families:
        family = registry[name]
        try:
            needs_check(family, words, cfg)
            result = family.compute(inputs)
        except NotApplicable as err:
            result = FamilyOutput({c.name: inputs.nan_column() for c in family.columns},
                                  notes={c.name: str(err) for c in family.columns})
        for column, values in result.columns.items():
            frame[column] = values
        extras.update(result.extras)
        notes.update(result.notes)
    extras.update(named_head_extras(inputs))
    extras["bos"] = bos.record()
    return frame, extras, notes


def run_probes(model_spec: str, families: set[str] | list[str], pairs_path, cfg: ProbeConfig, out: Path,
               nltk_data=None, cache_dir=None, device=None, progress: bool = True, categories_path=None,
               allow_partial: bool = False) -> pd.DataFrame:
    """Probe every model ``model_spec`` names; write probes.csv, probes.json, figures and report.html."""
    order = [f for f in registered_families() if f in set(families)]
    specs = resolve_models(model_spec, allow_partial=allow_partial, cache_dir=cache_dir)
    for key in NAMED:
        named = getattr(cfg, key)
        if named and model_of(named) not in {s.name for s in specs}:
            raise ValueError(f"head {named} is not in {model_spec} (models: {', '.join(s.name for s in specs)})")
    frames, extras, notes, timings, model_records = [], {}, {}, {}, {}
    words = tokenizer = None
    for spec in tqdm(specs, desc="models", disable=not progress or len(specs) < 2):
        started = time.perf_counter()
        tokenizer = load_tokenizer(spec)
        words = load_word_lists(tokenizer, pairs_path, categories_path)
        bridge = load_model(spec, device)
        loaded = time.perf_counter()
        frame, model_extras, model_notes = probe_model(bridge, spec, order, cfg, words, tokenizer, nltk_data, cache_dir)
        frames.append(frame)
        extras[spec.name], notes[spec.name] = model_extras, model_notes
        timings[spec.name] = {"load_s": round(loaded - started, 2), "probe_s": round(time.perf_counter() - loaded, 2)}
        model_records[spec.name] = {"source": spec.source, "kind": spec.kind, "bos": model_extras["bos"],
                                    "words": words.record()}
        log.info("probed %s (%d heads) in %.1f s", spec.name, len(frame), time.perf_counter() - started)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.concat(frames, ignore_index=True)
    frame.to_csv(out / "probes.csv", index=False)
    write_json(out / "probes.json", {
        "model": str(model_spec), "probes": order, "config": _config_record(cfg), "seconds_per_model": timings,
        "models": model_records, "not_applicable": {m: n for m, n in notes.items() if n},
        "versions": {"torch": torch.__version__, "transformer_lens": metadata.version("transformer-lens"),
                     "transformers": metadata.version("transformers")},
    })
    _write_named_head_csvs(extras, out, tokenizer)
    from analyze.probes.report import write_probe_report

    write_probe_report(ReportInputs(frame, extras, out, cfg, words, tokenizer), {m: n for m, n in notes.items() if n})
    return frame


def _config_record(cfg: ProbeConfig) -> dict:
    from dataclasses import asdict

    return asdict(cfg)


def _write_named_head_csvs(extras: dict, out: Path, tokenizer) -> None:
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
