"""One flat config for a fleet run: model shape, data sample, optimiser, run settings.

The defaults are the Attention Phrenology paper's config (§2.1.1–2.1.2); where the paper is
silent, the authors' public code (edkins/universality, training/) fixed the value, and the comment says so.
YAML files in ``configs/`` hold only overrides; ``key=value`` on the command line overrides them again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from train.errors import UserError


# Fields that do not change what is trained: a fleet may be resumed with other values.
RUNTIME_FIELDS = ("device", "loss_chunk", "fused_adamw", "checkpoint_every_n_steps", "log_every_n_steps",
                  "members_per_step", "record_heads", "record_per_octave", "record_prompts", "record_repeat_prompts")


class ConfigError(UserError, ValueError):
    """A config the user wrote is invalid (unknown key, bad value); the CLI prints it as one line."""


@dataclass
class FleetConfig:
    # --- model (paper §2.1.1) ---
    n_layers: int = 1
    n_heads: int = 8
    n_ctx: int = 16  # the paper's context window; training windows are n_ctx + 1 tokens
    d_model: int = 256
    d_head: int = 64
    d_mlp: int = 2048
    act_fn: str = "solu_ln"  # SoLU followed by a LayerNorm, as TransformerLens's "solu_ln"
    normalization_type: str | None = "LN"
    attn_only: bool = False
    init_mode: str = "gpt2"  # TransformerLens default: N(0, 0.8/sqrt(d_model))

    # --- data (paper §2.1.2; details from the authors' training/corpus.py) ---
    train_windows: int = 30_000  # random windows drawn from the training sentences
    val_windows: int = 1_024  # drawn from the held-out sentences, the same for every model
    heldout_fraction: float = 0.2  # authors: first 80% of brown.sents() trains, the rest is held out
    data_seed: int | None = None  # None: each model samples its windows with its own seed, as the authors did
    val_seed: int = 9_991

    # --- optimiser (authors' code; the paper says only "AdamW") ---
    epochs: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98

    # --- run ---
    seed: int = 990  # model i gets seed + i; authors: 990..998
    n: int = 9
    checkpoint_every_n_steps: int = 100  # a killed run loses at most this many steps
    log_every_n_steps: int = 10
    fused_adamw: bool = True  # same update as the for-loop AdamW up to float rounding, much faster
    loss_chunk: int | None = None  # positions unembedded at a time (train/loss.py); None: measured default; 0: plain
    members_per_step: int | None = None  # models trained together as one batched model (train/group.py); None: auto
    device: str = "auto"  # auto: CUDA when present, else CPU
    precision: str = "auto"  # auto: bf16-mixed where the hardware runs bf16 natively (train/hardware.py), else 32-true

    # --- heads recorded while training (train/formation.py); they change nothing that is trained ---
    record_heads: bool = True  # model_XX/heads.npz: patterns, pattern scores and held-out loss at log-spaced steps
    record_per_octave: int = 2  # recorded steps per doubling of the step count (plus step 0 and epoch ends)
    record_prompts: int = 128  # held-out Brown windows the patterns and the loss are recorded on
    record_repeat_prompts: int = 64  # repeated random-token prompts (duplicate-token and induction scores)

    def __post_init__(self) -> None:
        positive = ["n_layers", "n_heads", "n_ctx", "d_model", "d_head", "train_windows", "val_windows",
                    "epochs", "batch_size", "n", "checkpoint_every_n_steps", "log_every_n_steps", "record_per_octave",
                    "record_prompts", "record_repeat_prompts"]
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or self.weight_decay < 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError(f"need lr > 0, weight_decay >= 0 and betas in [0, 1); got lr={self.lr}, "
                              f"weight_decay={self.weight_decay}, beta1={self.beta1}, beta2={self.beta2}")
        if not 0 < self.heldout_fraction < 1:
            raise ConfigError(f"heldout_fraction must be in (0, 1), got {self.heldout_fraction}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.members_per_step is not None and (not isinstance(self.members_per_step, int) or self.members_per_step < 1):
            raise ConfigError(f"members_per_step must be null (auto) or a positive int, got {self.members_per_step!r}")
        if self.loss_chunk is not None and (not isinstance(self.loss_chunk, int) or self.loss_chunk < 0):
            raise ConfigError(f"loss_chunk must be null (auto), 0 (plain loss) or a positive int, got {self.loss_chunk!r}")
        if self.precision not in ("auto", "32-true", "bf16-mixed"):
            raise ConfigError(f"precision must be auto, 32-true or bf16-mixed, got {self.precision!r}")

    # ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def science_dict(self) -> dict[str, Any]:
        """The fields that decide which models get trained (used to refuse resuming a different fleet)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}

    def model_seed(self, index: int) -> int:
        return self.seed + index

    def window_seed(self, index: int) -> int:
        return self.model_seed(index) if self.data_seed is None else self.data_seed

    def steps_per_epoch(self) -> int:
        return -(-self.train_windows // self.batch_size)

    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch()

    def tl_config(self, index: int) -> dict[str, Any]:
        """TransformerLens native-model config for fleet member ``index`` (vocab: GPT-2's 50,257)."""
        return dict(
            n_layers=self.n_layers, n_heads=self.n_heads, n_ctx=self.n_ctx, d_model=self.d_model,
            d_head=self.d_head, d_mlp=None if self.attn_only else self.d_mlp, act_fn=self.act_fn,
            normalization_type=self.normalization_type, attn_only=self.attn_only, init_mode=self.init_mode,
            d_vocab=50_257, seed=self.model_seed(index), positional_embedding_type="standard",
            default_prepend_bos=False,  # training windows have no BOS (authors' corpus.py)
        )


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Check a YAML value against the field's default type; ints may stand for floats."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, float) and isinstance(value, str):
        try:  # YAML 1.1 reads 3e-3 (no dot) as a string; 3.0e-3 as a float. Both are numbers here.
            return float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    if type(value) is not type(default):
        raise ConfigError(f"{name} must be {type(default).__name__}, got {value!r}")
    return value


def _field_names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def apply_overrides(cfg: FleetConfig, overrides: dict[str, Any]) -> FleetConfig:
    """Return a new config with ``overrides`` applied; unknown keys are an error."""
    known = sorted(f.name for f in fields(cfg))
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        import difflib

        hints = [f"{k} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(k, known, 1)) else k
                 for k in unknown]
        raise ConfigError(f"unknown config key(s) {', '.join(hints)}; known keys: {', '.join(known)}")
    values = {k: _coerce(k, v, getattr(cfg, k)) for k, v in overrides.items()}
    return dataclasses.replace(cfg, **values)


def parse_cli_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "epochs=1"]`` → dict, values typed by YAML."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
    return out


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None, cls=None,
                base: dict[str, Any] | None = None):
    """Defaults of ``cls`` (default: the paper's ``FleetConfig``), or a stored config ``base``, then the YAML file's
    overrides, then ``overrides``."""
    cls = cls or FleetConfig
    cfg = cls() if base is None else apply_overrides(cls(), {k: v for k, v in base.items() if k in _field_names(cls)})
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(f"{where}: not valid YAML ({problem})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must be a flat mapping of key: value")
        cfg = apply_overrides(cfg, loaded)
    return apply_overrides(cfg, overrides or {})


def job_config(cls, path: str | Path | None, items: list[str], flags: dict[str, Any], base: dict | None = None):
    """The one way every command builds its job's config: ``cls``'s defaults (or a stored config ``base``), then the
    YAML file ``path``, then the ``key=value`` items, then the named flags. ``flags`` maps a config field to its
    flag's value; None means the flag was not given."""
    overrides = parse_cli_overrides(items)
    overrides.update({field: value for field, value in flags.items() if value is not None})
    return load_config(path, overrides, cls=cls, base=base)
