"""A trained fleet as analysis input: found, checked (one config, finished models), and loaded lazily."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tqdm.auto import tqdm

from train.checkpoints import load_model, read_fleet_record, read_toy_config
from train.config import FleetConfig
from train.corpus import PROJECT_ROOT


class FleetError(ValueError):
    """The fleet cannot be analysed (missing, empty, mixed configs); the message says what to do."""


def latest_fleet(root: Path = PROJECT_ROOT / "checkpoints") -> Path:
    """The fleet under ``root`` whose fleet.json was written last."""
    records = sorted(Path(root).glob("*/fleet.json"), key=lambda p: p.stat().st_mtime)
    if not records:
        raise FleetError(f"no fleet under {root}; train one first: python -m train fleet --config configs/tiny.yaml")
    return records[-1].parent


class FleetInputs:
    """The finished models of a fleet, in index order, with the facts every analysis needs."""

    def __init__(self, path: Path, nltk_data=None, cache_dir=None, device: str | None = None):
        self.path, self.nltk_data, self.cache_dir, self.device = Path(path), nltk_data, cache_dir, device
        if not self.path.is_dir():
            raise FleetError(f"fleet dir {self.path} does not exist; train one with: python -m train fleet")
        try:
            self.record = read_fleet_record(self.path)
        except Exception as err:  # noqa: BLE001 - reported as one line
            raise FleetError(str(err)) from err
        self.config = FleetConfig(**self.record["config"])
        done = [m for m in self.record["models"] if m["status"] == "done"]
        if not done:
            raise FleetError(f"fleet {self.path} has no finished model; finish it with: python -m train fleet "
                             f"--out {self.path}")
        science = self.config.science_dict()
        for m in done:
            stored = FleetConfig(**read_toy_config(self.path / m["dir"])["fleet_config"]).science_dict()
            if stored != science:
                keys = sorted(k for k in science if stored[k] != science[k])
                raise FleetError(f"fleet {self.path} mixes configs: {m['dir']} differs from fleet.json in "
                                 f"{', '.join(keys)}; analyse fleets of one config")
        self.models = done

    @property
    def names(self) -> list[str]:
        return [f"m{m['index']:02d}" for m in self.models]

    @property
    def n_ctx(self) -> int:
        return self.config.n_ctx

    @property
    def heldout_fraction(self) -> float:
        return self.config.heldout_fraction

    def fingerprint(self) -> str:
        """Changes when any model file changes, so cached analysis steps are redone."""
        parts = [self.record.get("split_sha256", "")]
        for m in self.models:
            weights = self.path / m["dir"] / "model.safetensors"
            parts.append(f"{m['dir']}:{weights.stat().st_size}:{weights.stat().st_mtime_ns}")
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]

    def bridge(self, index_in_fleet: int):
        return load_model(self.path / self.models[index_in_fleet]["dir"], self.device)

    def bridges(self, progress: bool = False):
        """Yield ``(name, bridge)`` one model at a time (a paper fleet of bridges would hold 9 × 110 MB)."""
        for i, name in enumerate(tqdm(self.names, desc="models", disable=not progress, leave=False)):
            yield name, self.bridge(i)

    @staticmethod
    def tokenizer():
        from train.tokenizer import load_gpt2_tokenizer

        return load_gpt2_tokenizer()
