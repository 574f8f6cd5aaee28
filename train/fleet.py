"""Train a fleet: N models that differ only in seed, one after another, resumable after a kill.

Layout of a fleet dir::

    fleet.json          config, seeds, split hash, library versions, per-model status and final losses
    split.json          the train / held-out Brown documents (analysis prompts come from the held-out ones)
    model_00/           config.json, model.safetensors, metrics.csv, last.ckpt (Lightning, for resuming),
                        heads.npz (heads recorded while training: train/formation.py)
    ...
"""

from __future__ import annotations

import csv
import logging
import platform
import time
from pathlib import Path

import lightning as L
import torch
from tqdm.auto import tqdm

from train.checkpoints import save_toy_model, usable_checkpoint
from train.config import ConfigError, FleetConfig
from train.data import tokenize_brown
from train.errors import UserError
from train.formation import HeadRecorder
from train.files import DirLocked, atomic_write, dir_lock, write_json
from train.hardware import keep_freed_memory_in_heap, members_per_step, resolve_device
from train.group import GroupCheckpointIO, checkpoint_step
from train.module import BrownWindows, FleetGroup
from train.record import RECORD_FILE, FleetRecord, ModelEntry, Status, model_dir_name

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["step", "epoch", "train_loss", "val_loss", "tokens_per_s"]


class FleetMismatch(UserError, ValueError):
    """The fleet dir holds a fleet trained with another config; we refuse to mix the two."""


def library_versions() -> dict[str, str]:
    from importlib import metadata

    return {"python": platform.python_version(), "torch": torch.__version__,
            **{name: metadata.version(name) for name in ("lightning", "transformer-lens", "transformers")}}


class TrainingInterrupted(UserError):
    """Ctrl-C during training: the models are marked interrupted and resume on a rerun (exit 130, as a shell
    reports a SIGINT)."""

    label, exit_code = "interrupted", 130


FleetLocked = DirLocked  # another ``train fleet`` holds the fleet dir


def fleet_lock(out: Path):
    """An exclusive lock on ``out/.lock`` for the whole run; released by the OS if the process dies (kill -9)."""
    return dir_lock(out, "train fleet")


class MetricsCSV(L.Callback):
    """Writes one member's ``metrics.csv`` (step, epoch, train_loss, val_loss, tokens_per_s); trims rows past a
    resume point. ``index`` is the member's fleet index (its val loss is logged as ``val_loss_<index>``),
    ``position`` its place in the group; tokens_per_s counts this member's tokens."""

    def __init__(self, path: Path, tokens_per_step: int, every_n_steps: int, index: int, position: int):
        self.path, self.tokens_per_step, self.every = Path(path), tokens_per_step, every_n_steps
        self.index, self.position = index, position
        self.rows: list[dict] = []

    def on_train_start(self, trainer, pl_module) -> None:
        if self.path.exists():
            with self.path.open() as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= trainer.global_step]
            self._validate_missed_epoch(trainer, pl_module)
        self._mark = (time.perf_counter(), trainer.global_step)

    def _validate_missed_epoch(self, trainer, pl_module) -> None:
        """A run killed after the checkpoint at an epoch's last step but before that epoch's validation resumes
        past the validation (Lightning restarts at the next epoch). The weights are still those of the epoch's
        end, so its val loss is computed now and its row written."""
        step, per_epoch = trainer.global_step, trainer.num_training_batches
        if step == 0 or per_epoch in (0, float("inf")) or step % per_epoch:
            return
        if any(r["val_loss"] not in ("", None) and int(r["step"]) == step for r in self.rows):
            return
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in trainer.datamodule.val_dataloader():
                batch = batch.to(pl_module.device)
                total += float(pl_module.member_val_losses(batch)[self.position]) * len(batch)
                count += len(batch)
        self._append(step, step // per_epoch - 1, val_loss=total / count)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every and not trainer.is_last_batch:
            return
        now, (then, then_step) = time.perf_counter(), self._mark
        speed = (step - then_step) * self.tokens_per_step / max(now - then, 1e-9)
        self._mark = (now, step)
        losses = pl_module.last_losses
        self._append(step, trainer.current_epoch, train_loss=None if losses is None else float(losses[self.position]),
                     tokens_per_s=round(speed, 1))

    def on_validation_end(self, trainer, pl_module) -> None:
        name = f"val_loss_{self.index}"
        if trainer.sanity_checking or name not in trainer.callback_metrics:
            return
        self._append(trainer.global_step, trainer.current_epoch, val_loss=float(trainer.callback_metrics[name]))

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
    """Advances one fleet-wide progress bar (steps of all models, with ETA); a group step counts once per member."""

    def __init__(self, bar: tqdm | None, indices: list[int]):
        self.bar, self.indices = bar, list(indices)
        self.start_step = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_step = trainer.global_step  # > 0 when resumed from a checkpoint
        if self.bar is not None:
            self.bar.update(trainer.global_step * len(self.indices))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.bar is None:  # a Ray worker: the driver draws the bar
            return
        self.bar.update(len(self.indices))
        if trainer.global_step % 10 == 0 and "train_loss" in trainer.callback_metrics:
            models = self.indices[0] if len(self.indices) == 1 else f"{self.indices[0]}-{self.indices[-1]}"
            self.bar.set_postfix(model=models, loss=f"{float(trainer.callback_metrics['train_loss']):.3f}")


def open_fleet(cfg: FleetConfig, out: Path) -> FleetRecord:
    """Read the fleet record at ``out``, or start a new one; refuse a fleet trained with another config."""
    if (out / RECORD_FILE).exists():
        record = FleetRecord.read(out)
        stored = {k: record.config.get(k) for k in cfg.science_dict()}
        diff = {k: (stored[k], v) for k, v in cfg.science_dict().items() if stored[k] != v}
        if diff:
            changes = ", ".join(f"{k}: {a!r} there, {b!r} asked" for k, (a, b) in sorted(diff.items()))
            raise FleetMismatch(f"{out} holds a fleet trained with another config ({changes}); "
                                f"pass another --out or the same config")
        record.config = cfg.to_dict()  # runtime fields (device, checkpoint frequency) may change
        for entry in record.with_status(Status.DONE):
            if not (out / entry.dir / "model.safetensors").exists():  # deleted since: train it again
                log.warning("%s is marked done but its weights are missing; it is trained again", entry.dir)
                entry.update(status=Status.PENDING, steps=None, final_train_loss=None, final_val_loss=None,
                             resumed_from_step=None, train_seconds_last_run=None, trained_with=None)
        return record
    out.mkdir(parents=True, exist_ok=True)
    return FleetRecord.new(cfg.to_dict(), [cfg.model_seed(i) for i in range(cfg.n)])


def train_fleet(cfg: FleetConfig, out: str | Path, nltk_data=None, cache_dir=None,
                progress: bool = True) -> FleetRecord:
    """Train (or resume) every unfinished model of the fleet at ``out``; return the fleet record.

    The run holds ``out/.lock``: a second run on the same dir is refused while this one lives.
    """
    out = Path(out)
    check_disk_space(cfg, out)
    with fleet_lock(out):
        return _train_fleet(cfg, out, nltk_data, cache_dir, progress)


CHECKPOINT_BYTES_PER_PARAM = 16  # model.safetensors (fp32: 4) + last.ckpt (weights and Adam's two moments: 12)


def parameter_count(cfg: FleetConfig, vocab: int = 50_257) -> int:
    """Parameters of one model of ``cfg`` (embedding, positions, unembedding, attention and MLP weights)."""
    d, heads = cfg.d_model, cfg.n_heads * cfg.d_head
    attention = 4 * d * heads + 3 * heads + d
    mlp = 0 if cfg.attn_only else 2 * d * cfg.d_mlp + cfg.d_mlp + d
    return vocab * d * 2 + vocab + cfg.n_ctx * d + cfg.n_layers * (attention + mlp + 4 * d)


def check_disk_space(cfg: FleetConfig, out: Path) -> None:
    """Refuse a fleet whose checkpoints would not fit on the disk of ``out``, before anything is written."""
    import shutil

    done = len([p for p in out.glob("model_*/model.safetensors")]) if out.exists() else 0
    per_model = CHECKPOINT_BYTES_PER_PARAM * parameter_count(cfg)
    needed = max(0, cfg.n - done) * per_model
    existing = next(p for p in [out, *out.parents] if p.exists())
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise ConfigError(f"a fleet of {cfg.n} models needs about {needed / 1e9:,.0f} GB for its checkpoints "
                          f"({per_model / 1e6:,.0f} MB a model), and the disk of {existing} has {free / 1e9:,.0f} GB "
                          f"free; ask for fewer models (--n) or another --out")


def prepare_fleet(cfg: FleetConfig, out: Path, nltk_data, cache_dir) -> tuple[FleetRecord, str, str, int]:
    """Open the fleet record, check and record the split, and resolve device, precision and members per step:
    ``(record, device, precision, members_per_step)``. Shared by the in-process and the Ray launcher."""
    record = open_fleet(cfg, out)
    device, precision = resolve_device(cfg.device, cfg.precision)
    if cfg.precision == "auto" and record.device == device and record.precision not in (None, precision):
        # auto measures the CPU; a resumed fleet keeps the precision it started in, so it resumes bit-identically
        log.info("precision=auto: keeping %s, the precision %s started in", record.precision, out)
        precision = record.precision
    split, _, _ = tokenize_brown(cfg.heldout_fraction, nltk_data, cache_dir)
    if record.split_sha256 not in (None, split.sha256):
        raise FleetMismatch(f"{out} was trained on another Brown split (sha256 {record.split_sha256[:12]}, "
                            f"now {split.sha256[:12]}); the corpus or tokenizer changed")
    write_json(out / "split.json", {"sha256": split.sha256, **split.to_dict()})
    record.split_sha256, record.versions = split.sha256, library_versions()
    record.device, record.precision = device, precision
    for entry in record.with_status(Status.FAILED):
        log.warning("model %d failed earlier (%s); it is not retrained", entry.index, entry.error)
    record.members_per_step = members_per_step(cfg, device, len(record.unsettled))
    record.write(out)
    return record, device, precision, record.members_per_step


def _train_fleet(cfg: FleetConfig, out: Path, nltk_data, cache_dir, progress: bool) -> FleetRecord:
    record, device, precision, per_step = prepare_fleet(cfg, out, nltk_data, cache_dir)
    bar = tqdm(total=cfg.n * cfg.total_steps(), desc=f"fleet {out.name}", unit="step", disable=not progress,
               dynamic_ncols=True)
    bar.update(cfg.total_steps() * (record.n - len(record.unsettled)))
    while True:
        pending = record.unsettled
        if not pending:
            break
        group = next_group(pending, per_step, out)
        for entry in group:
            entry.update(status=Status.RUNNING, error=None)
        record.write(out)
        try:
            results = train_members(cfg, [e.index for e in group], out, device, precision, bar, nltk_data,
                                    cache_dir)
        except BaseException as err:  # never leave "running" behind; "error" models are retried by a rerun
            # Ctrl-C: Lightning catches the KeyboardInterrupt, shuts down and raises SystemExit(1) instead
            interrupted = isinstance(err, (KeyboardInterrupt, SystemExit))
            for entry in group:
                entry.update(status=Status.INTERRUPTED if interrupted else Status.ERROR,
                             error=None if interrupted else f"{type(err).__name__}: {err}")
            record.write(out)
            if interrupted:
                raise TrainingInterrupted(
                    f"interrupted while training {', '.join(e.dir for e in group)}; rerun the same command (or "
                    f"python -m train fleet --out {out}) to resume from the last checkpoint") from None
            raise
        for entry, result in zip(group, results):
            entry.update(**result)
        record.write(out)
        if not any(entry.status.settled for entry in group):
            raise RuntimeError(f"models {[e.index for e in group]} stopped before the end without failing")
    bar.close()
    return record


def next_group(pending: list[ModelEntry], per_step: int, out: Path) -> list[ModelEntry]:
    """The first pending model and the next pending ones at the same training step, up to ``per_step``: members
    trained together must share their progress (each resumes from its own last.ckpt)."""
    first_step = checkpoint_step(out / pending[0].dir)
    group = [pending[0]]
    for entry in pending[1:]:
        if len(group) == per_step:
            break
        if checkpoint_step(out / entry.dir) == first_step:
            group.append(entry)
    return group


def train_members(cfg: FleetConfig, indices: list[int], out: Path, device: str, precision: str, bar: tqdm | None,
                  nltk_data, cache_dir, extra_callbacks=()) -> list[dict]:
    """Fit the fleet members ``indices`` as one ``FleetGroup`` (one member: a group of one) with Lightning,
    resuming from their ``last.ckpt`` if a previous run was killed; one result dict per member (``ModelEntry``
    fields). The in-process loop and the Ray launcher's tasks both train through here."""
    if device == "cpu":
        keep_freed_memory_in_heap()
    dirs = [out / model_dir_name(i) for i in indices]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.model_seed(indices[0]), workers=True, verbose=False)
    module, data = FleetGroup(cfg.to_dict(), indices), BrownWindows(cfg.to_dict(), indices, nltk_data, cache_dir)
    # the checkpoint callback's own path is unused: GroupCheckpointIO writes each member's model_XX/last.ckpt
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=dirs[0], save_last=True, save_top_k=0,
                                                     every_n_train_steps=cfg.checkpoint_every_n_steps)
    metrics = [MetricsCSV(d / "metrics.csv", cfg.batch_size * cfg.n_ctx, cfg.log_every_n_steps, i, k)
               for k, (i, d) in enumerate(zip(indices, dirs))]
    progress = FleetProgress(bar, indices)
    recorder = [HeadRecorder(cfg, indices, dirs, nltk_data, cache_dir)] if cfg.record_heads else []
    trainer = L.Trainer(
        accelerator=device, devices=1, precision=precision, max_epochs=cfg.epochs, logger=False,
        callbacks=[checkpoint, *metrics, progress, *recorder, *extra_callbacks],
        plugins=[GroupCheckpointIO(cfg.to_dict(), indices, dirs)],
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        log_every_n_steps=cfg.log_every_n_steps, reload_dataloaders_every_n_epochs=1, deterministic=True,
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=resume_point(dirs))
    seconds = round(time.perf_counter() - started, 1)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    finished = not module.nonfinite and trainer.global_step == cfg.total_steps()
    if finished:
        trainer.save_checkpoint(dirs[0] / "last.ckpt")  # the final state, so a finished model can train further
    results = []
    for k, (index, model_dir) in enumerate(zip(indices, dirs)):
        last = module.last_losses
        result = {"steps": trainer.global_step, "final_train_loss": None if last is None else float(last[k]),
                  "final_val_loss": metrics.get(f"val_loss_{index}"), "resumed_from_step": progress.start_step,
                  "train_seconds_last_run": seconds, "trained_with": [int(i) for i in indices], "precision": precision}
        if index in module.nonfinite:
            message = (f"non-finite loss at step {module.nonfinite[index]}; last good checkpoint kept in "
                       f"{model_dir / 'last.ckpt'}")
            log.error("model %d: %s", index, message)
            results.append({**result, "status": Status.FAILED, "error": message})
        elif finished:
            save_toy_model(model_dir, module.member_state_dict(k), cfg.tl_config(index), cfg.to_dict(), index)
            results.append({**result, "status": Status.DONE, "error": None})
        else:  # its group stopped for another member: it resumes from its last checkpoint in the next group
            results.append({**result, "status": Status.PENDING, "error": None})
    return results


def resume_point(dirs: list[Path]) -> Path | None:
    """The checkpoint a group resumes from (GroupCheckpointIO reads every member's), or None to start afresh. The
    members were grouped at one step (``next_group``): all have a complete checkpoint or none has. A checkpoint
    cut short is moved aside by ``usable_checkpoint``, which says so; that member then trains alone from step 0."""
    usable = [usable_checkpoint(d, log) for d in dirs]
    if all(p is None for p in usable):
        return None
    if any(p is None for p in usable):
        raise RuntimeError(f"members {[d.name for d in dirs]} were grouped but not all have a checkpoint")
    return usable[0]
