"""Train a fleet: N models that differ only in seed, one after another, resumable after a kill.

Layout of a fleet dir::

    fleet.json          config, seeds, split hash, library versions, per-model status and final losses
    split.json          the train / held-out Brown documents (analysis prompts come from the held-out ones)
    model_00/           config.json, model.safetensors, metrics.csv, last.ckpt (Lightning, for resuming)
    ...
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import platform
import time
from pathlib import Path

import lightning as L
import torch
from tqdm.auto import tqdm

from train.checkpoints import atomic_write, read_fleet_record, save_toy_model, write_json
from train.config import FleetConfig
from train.data import tokenize_brown
from train.module import BrownWindows, FleetMember

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["step", "epoch", "train_loss", "val_loss", "tokens_per_s"]


class FleetMismatch(ValueError):
    """The fleet dir holds a fleet trained with another config; we refuse to mix the two."""


def resolve_device(device: str, precision: str) -> tuple[str, str]:
    """``auto`` → CUDA with bf16 autocast when a GPU is present, else CPU fp32."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda was asked for but no CUDA GPU is visible")
    if precision == "auto":
        precision = "bf16-mixed" if device == "cuda" else "32-true"
    return device, precision


def library_versions() -> dict[str, str]:
    import lightning
    import transformer_lens
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
            "transformer_lens": getattr(transformer_lens, "__version__", "?"),
            "transformers": transformers.__version__}


class MetricsCSV(L.Callback):
    """Writes ``metrics.csv`` (step, epoch, train_loss, val_loss, tokens_per_s); trims rows past a resume point."""

    def __init__(self, path: Path, tokens_per_step: int, every_n_steps: int):
        self.path, self.tokens_per_step, self.every = Path(path), tokens_per_step, every_n_steps
        self.rows: list[dict] = []

    def on_train_start(self, trainer, pl_module) -> None:
        if self.path.exists():
            with self.path.open() as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= trainer.global_step]
        self._mark = (time.perf_counter(), trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every and not trainer.is_last_batch:
            return
        now, (then, then_step) = time.perf_counter(), self._mark
        speed = (step - then_step) * self.tokens_per_step / max(now - then, 1e-9)
        self._mark = (now, step)
        loss = trainer.callback_metrics.get("train_loss")
        self._append(step, trainer.current_epoch, train_loss=None if loss is None else float(loss),
                     tokens_per_s=round(speed, 1))

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
            return
        self._append(trainer.global_step, trainer.current_epoch, val_loss=float(trainer.callback_metrics["val_loss"]))

    def _append(self, step, epoch, train_loss=None, val_loss=None, tokens_per_s=None) -> None:
        self.rows.append({"step": step, "epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                          "tokens_per_s": tokens_per_s})

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
                writer.writeheader()
                writer.writerows({k: "" if r[k] is None else r[k] for k in METRIC_COLUMNS} for r in self.rows)

        atomic_write(self.path, write)


class FleetProgress(L.Callback):
    """Advances one fleet-wide progress bar (steps of all models, with ETA)."""

    def __init__(self, bar: tqdm, index: int):
        self.bar, self.index = bar, index
        self.start_step = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_step = trainer.global_step  # > 0 when resumed from a checkpoint
        self.bar.update(trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.bar.update(1)
        if trainer.global_step % 10 == 0 and "train_loss" in trainer.callback_metrics:
            self.bar.set_postfix(model=self.index, loss=f"{float(trainer.callback_metrics['train_loss']):.3f}")


def open_fleet(cfg: FleetConfig, out: Path) -> dict:
    """Read the fleet record at ``out``, or start a new one; refuse a fleet trained with another config."""
    if (out / "fleet.json").exists():
        record = read_fleet_record(out)
        stored = {k: record["config"].get(k) for k in cfg.science_dict()}
        diff = {k: (stored[k], v) for k, v in cfg.science_dict().items() if stored[k] != v}
        if diff:
            changes = ", ".join(f"{k}: {a!r} there, {b!r} asked" for k, (a, b) in sorted(diff.items()))
            raise FleetMismatch(f"{out} holds a fleet trained with another config ({changes}); "
                                f"pass another --out or the same config")
        record["config"] = cfg.to_dict()  # runtime fields (device, checkpoint frequency) may change
        return record
    out.mkdir(parents=True, exist_ok=True)
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": cfg.to_dict(), "n": cfg.n, "seeds": [cfg.model_seed(i) for i in range(cfg.n)],
        "models": [{"index": i, "dir": f"model_{i:02d}", "seed": cfg.model_seed(i), "status": "pending"}
                   for i in range(cfg.n)],
    }


def train_fleet(cfg: FleetConfig, out: str | Path, nltk_data=None, cache_dir=None, progress: bool = True) -> dict:
    """Train (or resume) every unfinished model of the fleet at ``out``; return the fleet record."""
    out = Path(out)
    record = open_fleet(cfg, out)
    device, precision = resolve_device(cfg.device, cfg.precision)
    split, _, _ = tokenize_brown(cfg.heldout_fraction, nltk_data, cache_dir)
    if record.get("split_sha256", split.sha256) != split.sha256:
        raise FleetMismatch(f"{out} was trained on another Brown split (sha256 {record['split_sha256'][:12]}, "
                            f"now {split.sha256[:12]}); the corpus or tokenizer changed")
    write_json(out / "split.json", {"sha256": split.sha256, **split.to_dict()})
    record.update(split_sha256=split.sha256, versions=library_versions(), device=device, precision=precision)
    write_json(out / "fleet.json", record)

    bar = tqdm(total=cfg.n * cfg.total_steps(), desc=f"fleet {out.name}", unit="step", disable=not progress,
               dynamic_ncols=True)
    for entry in record["models"]:
        if entry["status"] in ("done", "failed"):
            bar.update(cfg.total_steps())
            if entry["status"] == "failed":
                log.warning("model %d failed earlier (%s); delete %s to retry", entry["index"], entry.get("error"),
                            out / entry["dir"])
            continue
        entry["status"] = "running"
        write_json(out / "fleet.json", record)
        entry.update(_train_member(cfg, entry["index"], out / entry["dir"], device, precision, bar,
                                   nltk_data, cache_dir))
        write_json(out / "fleet.json", record)
    bar.close()
    return record


def _train_member(cfg: FleetConfig, index: int, model_dir: Path, device: str, precision: str, bar: tqdm,
                  nltk_data, cache_dir) -> dict:
    """Fit one model with Lightning, resuming from ``last.ckpt`` if a previous run was killed."""
    model_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.model_seed(index), workers=True, verbose=False)
    module = FleetMember(cfg.to_dict(), index)
    data = BrownWindows(cfg.to_dict(), index, nltk_data, cache_dir)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=model_dir, save_last=True, save_top_k=0,
                                                     every_n_train_steps=cfg.checkpoint_every_n_steps)
    progress = FleetProgress(bar, index)
    trainer = L.Trainer(
        accelerator=device, devices=1, precision=precision, max_epochs=cfg.epochs, logger=False,
        callbacks=[checkpoint, MetricsCSV(model_dir / "metrics.csv", cfg.batch_size * cfg.n_ctx,
                                          cfg.log_every_n_steps), progress],
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        log_every_n_steps=cfg.log_every_n_steps, reload_dataloaders_every_n_epochs=1, deterministic=True,
    )
    resume = model_dir / "last.ckpt"
    started = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=resume if resume.exists() else None)
    seconds = round(time.perf_counter() - started, 1)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    result = {"steps": trainer.global_step, "final_train_loss": metrics.get("train_loss"),
              "final_val_loss": metrics.get("val_loss"), "resumed_from_step": progress.start_step,
              "train_seconds_last_run": seconds}
    if module.nonfinite_step is not None:
        message = f"non-finite loss at step {module.nonfinite_step}; last good checkpoint kept in {resume}"
        log.error("model %d: %s", index, message)
        return {**result, "status": "failed", "error": message}
    trainer.save_checkpoint(resume)  # the final state, so a finished model can also be trained further
    save_toy_model(model_dir, module.model, cfg.tl_config(index), cfg.to_dict(), index)
    return {**result, "status": "done", "error": None}
