"""``python -m analyze probes``: every requested probe family on every model, one row per head in ``probes.csv``.

The same probes run on toy checkpoints and pretrained models, so their heads can be compared on equal terms.
Each family (analyze/probes/registry.py) gets the model and its inputs and returns columns; a family that
cannot apply to a model (too few single-token words, a missing hook in an architecture) leaves its columns NaN
and says why in ``probes.json`` and the report, instead of stopping the run.
"""

from __future__ import annotations

import json
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
from analyze.probes.registry import columns as registered_columns
from analyze.probes.registry import family_names
from analyze.probes.registry import families as registered_families
from analyze.probes.words import WordLists, load_word_lists
from train.env import RunEnv
from train.files import atomic_write, write_json
from train.config import ConfigError

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


def chance_facts(inputs: ProbeInputs, words: WordLists) -> dict:
    """What the registry's chance values depend on for this model (analyze.probes.columns)."""
    return {"n": inputs.prompt_len, "n_repeat": inputs.prompt_len, "n_words": 2 * words.pairs.n_pairs,
            "d_head": int(inputs.bridge.cfg.d_head), "bag_size": inputs.cfg.bag_size}


def probe_model(bridge, spec: ModelSpec, families: list[str], cfg: ProbeConfig, words: WordLists, tokenizer,
                nltk_data=None, cache_dir=None, layers: list[int] | None = None,
                progress: bool = False) -> tuple[pd.DataFrame, dict, dict]:
    """All requested families on the heads of ``layers`` (default: all) of one model: ``(rows, extras, notes)``;
    notes map column → why it is NaN. ``extras["seconds"]`` holds each family's time."""
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
            raise ConfigError(f"qk_token_count {n} is larger than the {vocab:,}-token vocabulary")
        text = tokenize_brown(heldout, nltk_data, cache_dir, own_tokenizer)[1]
        return frequent_tokens(text, n if n is not None else len(np.unique(text.tokens)))

    inputs = ProbeInputs(bridge, spec.name, tokenizer, cfg, words, bos.id, brown_prompts, brown_frequent,
                         None if layers is None else tuple(layers), progress=progress)
    ids = head_ids(spec.name, inputs.n_layers, inputs.n_heads)
    frame = pd.DataFrame({"head_id": ids, "model": spec.name, "layer": [i // inputs.n_heads for i in range(len(ids))],
                          "head": [i % inputs.n_heads for i in range(len(ids))]})
    extras, notes, seconds = {}, {}, {}
    registry = registered_families()
    bar = tqdm(families, desc=f"probes of {spec.name}", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        family = registry[name]
        started = time.perf_counter()
        try:
            needs_check(family, words, cfg)
            result = family.compute(inputs)
        except NotApplicable as err:
            result = FamilyOutput({c.name: inputs.nan_column() for c in family.columns},
                                  notes={c.name: str(err) for c in family.columns})
        seconds[name] = round(time.perf_counter() - started, 2)
        for column, values in result.columns.items():
            frame[column] = values
        extras.update(result.extras)
        notes.update(result.notes)
    extras.update(named_head_extras(inputs))
    extras["bos"] = bos.record()
    extras["seconds"] = seconds
    extras["chance_facts"] = chance_facts(inputs, words)
    extras["shape"] = {"n_layers": inputs.n_layers, "n_heads": inputs.n_heads}
    extras["ov_words"] = list(words.pairs.words)
    frame = frame[frame.layer.isin(inputs.probed_layers)].reset_index(drop=True)
    return frame, extras, notes


def probe_run_record(model_spec: str, families, cfg: ProbeConfig, fingerprint: str, layers: list[int] | None) -> dict:
    """What decides whether a probe run can be reused: the model's weights, the families, config and layers."""
    return {"model": str(model_spec), "fingerprint": fingerprint, "probes": list(families),
            "config": _config_record(cfg), "layers": None if layers is None else list(layers)}


def reusable_probe_run(out: Path, families, cfg: ProbeConfig, fingerprint: str, layers: list[int] | None) -> bool:
    """True when ``out`` holds a finished probe run of the same weights and config that covers these families
    and layers."""
    try:
        record = json.loads((out / "probes.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if not (out / "probes.csv").exists() or record.get("fingerprint") != fingerprint:
        return False
    if record.get("config") != _config_record(cfg) or not set(families) <= set(record.get("probes", [])):
        return False
    done = record.get("layers")
    return done is None or (layers is not None and set(layers) <= set(done))


def run_probes(model_spec: str, cfg: ProbeConfig, out: Path, env: RunEnv = RunEnv(), *,
               families: set[str] | list[str] | None = None, pairs_path=None, categories_path=None,
               allow_partial: bool = False, layers: list[int] | None = None) -> pd.DataFrame:
    """Probe every model ``model_spec`` names (the heads of ``layers``, default all); write probes.csv,
    probes.json (with the weights' fingerprint, the config, the layers and each family's seconds), figures and
    report.html. Holds ``out/.lock`` while it writes there."""
    from train.files import dir_lock

    with dir_lock(out, "analyze probes"):
        return _run_probes(model_spec, families or family_names(), pairs_path, cfg, out, env.nltk_data,
                           env.cache_dir, env.device, env.progress, categories_path, allow_partial, layers)


def _run_probes(model_spec, families, pairs_path, cfg, out, nltk_data, cache_dir, device, progress, categories_path,
                allow_partial, layers) -> pd.DataFrame:
    from analyze.core.models import check_layers, model_config
    from analyze.core.spec import fingerprint

    order = [f for f in registered_families() if f in set(families)]
    specs = resolve_models(model_spec, allow_partial=allow_partial, cache_dir=cache_dir)
    for key in NAMED:
        named = getattr(cfg, key)
        if named and model_of(named) not in {s.name for s in specs}:
            raise ConfigError(f"head {named} is not in {model_spec} (models: {', '.join(s.name for s in specs)})")
    if layers is not None:
        for spec in specs:
            check_layers(layers, model_config(spec)["n_layers"], spec.name)
    frames, extras, notes, timings, model_records = [], {}, {}, {}, {}
    words = tokenizer = None
    for spec in tqdm(specs, desc="models", disable=not progress or len(specs) < 2):
        started = time.perf_counter()
        tokenizer = load_tokenizer(spec)
        words = load_word_lists(tokenizer, pairs_path, categories_path)
        bridge = load_model(spec, device)
        loaded = time.perf_counter()
        frame, model_extras, model_notes = probe_model(bridge, spec, order, cfg, words, tokenizer, nltk_data,
                                                       cache_dir, layers, progress)
        frames.append(frame)
        extras[spec.name], notes[spec.name] = model_extras, model_notes
        timings[spec.name] = {"load_s": round(loaded - started, 2), "probe_s": round(time.perf_counter() - loaded, 2),
                              "family_s": model_extras["seconds"]}
        model_records[spec.name] = {"source": spec.source, "kind": spec.kind, "bos": model_extras["bos"],
                                    "words": words.record(), "chance_facts": model_extras["chance_facts"]}
        log.info("probed %s (%d heads) in %.1f s", spec.name, len(frame), time.perf_counter() - started)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.concat(frames, ignore_index=True)
    atomic_write(out / "probes.csv", lambda path: frame.to_csv(path, index=False))
    write_json(out / "probes.json", {  # written last: its presence says the run finished
        **probe_run_record(model_spec, order, cfg, fingerprint(specs), layers),
        "seconds_per_model": timings, "models": model_records,
        "not_applicable": {m: n for m, n in notes.items() if n},
        "versions": {"torch": torch.__version__, "transformer_lens": metadata.version("transformer-lens"),
                     "transformers": metadata.version("transformers")},
    })
    _write_named_head_csvs(extras, out, tokenizer)
    from analyze.probes.report import write_probe_report

    write_probe_report(ReportInputs(frame, extras, out, cfg, words, tokenizer, registered_columns()),
                       {m: n for m, n in notes.items() if n})
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
