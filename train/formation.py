"""Heads recorded while a fleet trains, so ``analyze formation`` can ask when each seed grows its heads.

A fleet otherwise keeps only its last checkpoint, and every analysis reads final weights. Olsson et al. (2022) and
Hoogland et al. (2024) watch heads form through training; PolyPythias compares that across seeds. Here every model
writes ``model_XX/heads.npz`` with, at log-spaced steps (``record_steps``: ``record_per_octave`` steps per doubling,
step 0 and every epoch's end):

- each head's mean attention pattern on fixed held-out Brown windows, the same for every model;
- its pattern scores (``SCORES``, formulas in ``train.head_scores``): self, previous token and first token on those
  windows, duplicate token and induction on repeated random tokens, and the positional pattern's decay (layer 0);
- the held-out loss on those windows (all ``n_ctx + 1`` tokens of each).

The prompts are the ones ``python -m analyze probes`` uses at its defaults' seeds (held-out windows from seed
9992, repeated tokens from seed 0), so a score recorded at a step equals the probe run on that step's weights.

A killed run resumes with the records up to its checkpoint and computes the rest again: the file ends as an
uninterrupted run's. A model that started training before recording existed (an older fleet) records nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch

from train.config import FleetConfig
from train.files import atomic_write

log = logging.getLogger(__name__)

RECORD_FILE = "heads.npz"
SCORES = ("self", "prev_token", "first_token", "duplicate_token", "induction", "pos_decay")
BROWN_SEED, REPEAT_SEED = 9992, 0  # the probes' default seeds (analyze.probes.config.ProbeConfig)


def record_steps(cfg: FleetConfig) -> list[int]:
    """Step 0, ``record_per_octave`` log-spaced steps per doubling, and every epoch's last step."""
    total, per_epoch = cfg.total_steps(), cfg.steps_per_epoch()
    steps = {0, total, *(e * per_epoch for e in range(1, cfg.epochs + 1))}
    k = 0
    while (step := round(2 ** (k / cfg.record_per_octave))) <= total:
        steps.add(step)
        k += 1
    return sorted(steps)


@dataclass(frozen=True)
class RecordPrompts:
    """The fixed inputs every model is recorded on."""

    brown: np.ndarray  # [prompt, n_ctx + 1] held-out windows: patterns on the first n_ctx tokens, loss on all
    repeat: np.ndarray  # [prompt, n_ctx] random tokens repeated once (duplicate-token and induction scores)
    positional: np.ndarray  # [5, n_ctx] one token repeated: layer 0's positional pattern (``positional_metrics``)


def record_prompts(cfg: FleetConfig, nltk_data=None, cache_dir=None) -> RecordPrompts:
    from train.data import frequent_tokens, sample_windows, tokenize_brown
    from train.head_scores import destination_ids, ordinary_tokens, repeated_random_tokens
    from train.tokenizer import load_gpt2_tokenizer

    _, train_text, heldout = tokenize_brown(cfg.heldout_fraction, nltk_data, cache_dir)
    tokenizer = load_gpt2_tokenizer()
    pool = ordinary_tokens(frequent_tokens(train_text, len(np.unique(train_text.tokens))), tokenizer)
    return RecordPrompts(
        brown=sample_windows(heldout, cfg.record_prompts, cfg.n_ctx + 1, BROWN_SEED),
        repeat=repeated_random_tokens(cfg.record_repeat_prompts, cfg.n_ctx, REPEAT_SEED, pool),
        positional=np.array([[t] * cfg.n_ctx for t in destination_ids(tokenizer)]))


@dataclass
class HeadRecord:
    """One model's records, step-major. ``patterns`` are the mean patterns on the Brown windows."""

    steps: np.ndarray  # [step] int64
    val_loss: np.ndarray  # [step] float64
    scores: np.ndarray  # [step, head, score] float32, score order SCORES
    patterns: np.ndarray  # [step, head, query, key] float32
    seconds: float = 0.0  # time spent recording, summed over runs (``bench.formation`` reads it)

    @classmethod
    def empty(cls, n_heads: int, n_ctx: int) -> "HeadRecord":
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, n_heads, len(SCORES)), np.float32),
                   np.zeros((0, n_heads, n_ctx, n_ctx), np.float32))

    @classmethod
    def read(cls, path: Path) -> "HeadRecord":
        with np.load(path) as f:
            if tuple(f["score_names"]) != SCORES:
                raise ValueError(f"{path} records scores {tuple(f['score_names'])}, expected {SCORES}")
            return cls(f["steps"], f["val_loss"], f["scores"], f["patterns"], float(f["seconds"]))

    def write(self, path: Path) -> None:
        def save(tmp: Path) -> None:
            with tmp.open("wb") as f:
                np.savez(f, steps=self.steps, val_loss=self.val_loss, scores=self.scores, patterns=self.patterns,
                         seconds=self.seconds, score_names=np.array(SCORES))

        atomic_write(Path(path), save)

    def up_to(self, step: int) -> "HeadRecord":
        keep = self.steps <= step
        return HeadRecord(self.steps[keep], self.val_loss[keep], self.scores[keep], self.patterns[keep],
                          self.seconds)

    def add(self, step: int, val_loss: float, scores: np.ndarray, patterns: np.ndarray) -> None:
        self.steps = np.append(self.steps, step)
        self.val_loss = np.append(self.val_loss, val_loss)
        self.scores = np.concatenate([self.scores, scores[None].astype(np.float32)])
        self.patterns = np.concatenate([self.patterns, patterns[None].astype(np.float32)])


@torch.no_grad()
def all_patterns(model: torch.nn.Module, tokens: np.ndarray, device) -> np.ndarray:
    """Every head's pattern of a ``NativeModel``, read from its attention modules' outputs.
    tokens [prompt, pos] → [layer * head, prompt, query, key]"""
    from train.model import final_hidden

    captured = []
    hooks = [block.attn.register_forward_hook(lambda module, args, out: captured.append(out[1].float()))
             for block in model.layers]
    try:
        final_hidden(model, torch.as_tensor(tokens, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return torch.cat(captured, dim=1).transpose(0, 1).cpu().numpy()  # [batch, head...] per layer → heads first


def head_scores(model: torch.nn.Module, prompts: RecordPrompts, n_heads: int, device) -> tuple[np.ndarray, np.ndarray]:
    """``(scores [head, score], mean Brown patterns [head, query, key])`` of one model's weights."""
    from train.head_scores import MASKS, detection_score, positional_metrics

    brown_tokens = prompts.brown[:, :-1]
    brown = all_patterns(model, brown_tokens, device)
    repeat = all_patterns(model, prompts.repeat, device)
    positional = all_patterns(model, prompts.positional, device)[:n_heads].mean(axis=1)  # layer 0: [head, q, k]
    columns = {s: detection_score(brown, MASKS[s](brown_tokens)) for s in ("self", "prev_token", "first_token")}
    columns |= {s: detection_score(repeat, MASKS[s](prompts.repeat)) for s in ("duplicate_token", "induction")}
    decay = np.full(len(brown), np.nan)
    decay[:n_heads] = [positional_metrics(p)["pos_decay"] for p in positional]
    columns["pos_decay"] = decay
    return np.stack([columns[s] for s in SCORES], axis=1), brown.mean(axis=1)


class HeadRecorder(L.Callback):
    """Records every member of a ``FleetGroup`` at the steps of ``record_steps`` into ``dirs[k]/heads.npz``."""

    def __init__(self, cfg: FleetConfig, indices: list[int], dirs: list[Path], nltk_data=None, cache_dir=None):
        self.cfg, self.indices, self.dirs = cfg, list(indices), [Path(d) for d in dirs]
        self.nltk_data, self.cache_dir = nltk_data, cache_dir
        self.schedule = set(record_steps(cfg))
        self.records: list[HeadRecord | None] = []

    def on_train_start(self, trainer, pl_module) -> None:
        from train.model import build_native_model

        step = trainer.global_step
        self.records = []
        for index, d in zip(self.indices, self.dirs):
            path = d / RECORD_FILE
            if path.exists():
                self.records.append(HeadRecord.read(path).up_to(step))
            elif step == 0:
                self.records.append(HeadRecord.empty(self.cfg.n_layers * self.cfg.n_heads, self.cfg.n_ctx))
            else:  # trained before recording existed: a record from here on would look complete but is not
                log.info("%s started training without head records; none are recorded for it", d.name)
                self.records.append(None)
        if not any(r is not None for r in self.records):
            return
        self.prompts = record_prompts(self.cfg, self.nltk_data, self.cache_dir)
        self.scratch = build_native_model(self.cfg.tl_config(self.indices[0]), initialise=False).to(pl_module.device)
        self.record(step, pl_module)  # the resume step itself, if the kill came between its checkpoint and record

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.record(trainer.global_step, pl_module)

    def record(self, step: int, pl_module) -> None:
        todo = [k for k, r in enumerate(self.records) if r is not None and step not in r.steps]
        if step not in self.schedule or not todo:
            return
        started = time.perf_counter()
        device = pl_module.device
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            losses = pl_module.member_val_losses(torch.as_tensor(self.prompts.brown, device=device)).cpu().numpy()
            for k in todo:
                self.scratch.load_state_dict(pl_module.member_state_dict(k))
                scores, patterns = head_scores(self.scratch, self.prompts, self.cfg.n_heads, device)
                self.records[k].add(step, float(losses[k]), scores, patterns)
        share = (time.perf_counter() - started) / len(todo)
        for k in todo:
            self.records[k].seconds += share
            self.records[k].write(self.dirs[k] / RECORD_FILE)
