"""A trained fleet as analysis input: found, checked (one config, finished models), and loaded lazily."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tqdm.auto import tqdm

from analyze.core.spec import ModelSpec, default_device, fingerprint
from train.checkpoints import CheckpointError, load_toy_bridge, read_checked_weights, read_toy_config
from train.config import FleetConfig
from train.files import lock_holder
from train.paths import checkpoints_dir
from train.errors import UserError
from train.record import RECORD_FILE, FleetRecord, ModelEntry, Status


class FleetError(UserError, ValueError):
    """The fleet cannot be analysed (missing, empty, unfinished, mixed configs); the message says what to do."""


def latest_fleet(root: Path | None = None) -> Path:
    """The fleet under ``root`` (default: ``checkpoints/`` of the working folder or $TOYHEADS_HOME) whose fleet.json
    was written last."""
    root = checkpoints_dir() if root is None else Path(root)
    records = sorted(root.glob(f"*/{RECORD_FILE}"), key=lambda p: p.stat().st_mtime)
    if not records:
        raise FleetError(f"no fleet under {root}; train one first: python -m train fleet --config configs/tiny.yaml")
    return records[-1].parent

KEEP_BRIDGE_BYTES = 2 << 30  # bridges a Fleet keeps for the steps after the first


class Fleet:
    """The finished models of a fleet, in index order, with the facts every analysis needs.

    A fleet with unfinished or failed models is refused unless ``allow_partial``; ``missing`` then names them so
    that reports can say which models the analysis lacks.
    """

    def __init__(self, path: Path, nltk_data=None, cache_dir=None, device: str | None = None,
                 allow_partial: bool = False):
        self.path, self.nltk_data, self.cache_dir, self.device = Path(path), nltk_data, cache_dir, device
        if self.path.exists() and not self.path.is_dir():
            raise FleetError(f"{self.path} is a file, not a fleet dir (a fleet dir holds fleet.json and model_XX/)")
        if not self.path.is_dir():
            raise FleetError(f"fleet dir {self.path} does not exist; train one with: python -m train fleet")
        try:
            self.record = FleetRecord.read(self.path)
        except CheckpointError as err:
            raise FleetError(str(err)) from err
        self.config = FleetConfig(**self.record.config)
        gone = [m for m in self.record.models
                if m.status == Status.DONE and not (self.path / m.dir / "model.safetensors").exists()]
        for m in gone:  # deleted after training: as good as never trained (train fleet --out retrains it)
            m.status, m.error = Status.PENDING, "its folder or weights are missing"
        self.missing = [m for m in self.record.models if m.status != Status.DONE]
        training = lock_holder(self.path) if self.missing else None
        if self.missing and not allow_partial:
            if training is not None:
                raise FleetError(f"fleet {self.path} is still training (pid {training}): "
                                 f"{len(self.record.models) - len(self.missing)} of {len(self.record.models)} models "
                                 f"done; wait for it to finish, or pass --allow-partial to analyse the finished "
                                 f"models only")
            raise FleetError(f"fleet {self.path} is not finished: {describe_missing(self.missing)}; "
                             f"{advice(self.path, self.missing)}, or pass --allow-partial to analyse the "
                             f"finished models only")
        self.models = self.record.done
        self._bridges: dict = {}  # index in fleet → bridge (``bridge``)
        if not self.models:
            raise FleetError(f"fleet {self.path} has no finished model; {advice(self.path, self.missing)}")
        science = self.config.science_dict()
        for m in self.models:
            stored = FleetConfig(**read_toy_config(self.path / m.dir)["fleet_config"]).science_dict()
            if stored != science:
                keys = sorted(k for k in science if stored.get(k) != science[k])
                raise FleetError(f"fleet {self.path} mixes configs: {m.dir} differs from fleet.json in "
                                 f"{', '.join(keys)}; analyse fleets of one config")
            try:  # read once here, before any output is written; the bridges then load without a second check
                read_checked_weights(self.path / m.dir / "model.safetensors")
            except CheckpointError as err:
                raise FleetError(str(err)) from err

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    @property
    def missing_names(self) -> list[str]:
        return [m.name for m in self.missing]

    @property
    def n_ctx(self) -> int:
        return self.config.n_ctx

    @property
    def heldout_fraction(self) -> float:
        return self.config.heldout_fraction

    def specs(self) -> list[ModelSpec]:
        return [ModelSpec(m.name, str(self.path / m.dir), "toy") for m in self.models]

    def fingerprint(self) -> str:
        """A hash of the finished models' weights (and the data split): changes when any model's weights do,
        so cached analysis steps and runs that read this fleet are redone."""
        weights = fingerprint(self.specs())
        return hashlib.sha256(json.dumps([self.record.split_sha256 or "", weights]).encode()).hexdigest()[:16]

    def bridge(self, index_in_fleet: int):
        """Model ``index_in_fleet``'s TransformerBridge (weights checked finite when the fleet was opened).

        Kept for the steps after the first that asks (a phrenology run reads every model twice) while the kept
        models' weights stay under ``KEEP_BRIDGE_BYTES``: the paper's 9 models are 1 GB; a larger fleet loads the
        models beyond that again."""
        if index_in_fleet not in self._bridges:
            bridge = load_toy_bridge(self.specs()[index_in_fleet].source, self.device or default_device(),
                                     check_finite=False)
            size = sum(t.numel() * t.element_size() for t in bridge.state_dict().values())
            if (len(self._bridges) + 1) * size > KEEP_BRIDGE_BYTES:
                return bridge
            self._bridges[index_in_fleet] = bridge
        return self._bridges[index_in_fleet]

    def bridges(self, progress: bool = False):
        """Yield ``(name, bridge)`` one model at a time."""
        for i, name in enumerate(tqdm(self.names, desc="models", disable=not progress, leave=False)):
            yield name, self.bridge(i)

    @staticmethod
    def tokenizer():
        from train.tokenizer import load_gpt2_tokenizer

        return load_gpt2_tokenizer()


def describe_missing(missing: list[ModelEntry]) -> str:
    return ", ".join(f"{m.dir} ({m.status.value}{f': {m.error}' if m.error else ''})" for m in missing)


def advice(path: Path, missing: list[ModelEntry]) -> str:
    """A command that works: unfinished models resume with ``train fleet --out``; failed ones need a new config."""
    if any(m.status != Status.FAILED for m in missing):
        return f"finish it with: python -m train fleet --out {path}"
    return "failed models do not recover on a rerun (same data, same divergence); train a new fleet with another config"

