"""``fleet.json`` as a typed record: what a fleet dir holds and how far each model got.

The one module that reads and writes it. The trainer, the Ray launcher, the analysis (``analyze.core.fleet``) and
the tests' hand-built fleets all go through ``FleetRecord``; nothing else spells a status string or a model dir.
The JSON layout is unchanged from the dict it replaces, so fleets trained before it read as they are.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.checkpoints import CheckpointError, member_name
from train.files import write_json

RECORD_FILE = "fleet.json"


class Status(str, enum.Enum):
    """Where one model stands. A str enum: it is written to JSON as its value and compares equal to it."""

    PENDING = "pending"          # not started, or stopped because its group stopped for another member
    RUNNING = "running"          # a trainer holds it now (or was killed -9 while it did)
    DONE = "done"                # trained to the end; model.safetensors is written
    FAILED = "failed"            # its loss went non-finite: a rerun would diverge the same way, so it is not retried
    ERROR = "error"              # the run raised; a rerun retries it
    INTERRUPTED = "interrupted"  # Ctrl-C; a rerun resumes it

    @property
    def settled(self) -> bool:
        """Nothing more to train: done, or failed for good."""
        return self in (Status.DONE, Status.FAILED)


def model_dir_name(index: int) -> str:
    """The dir of fleet member ``index`` inside its fleet dir (``model_03``)."""
    return f"model_{index:02d}"


@dataclass
class ModelEntry:
    """One model's line of ``fleet.json``: its seed and status, and the last run's figures once it ran."""

    index: int
    seed: int
    status: Status = Status.PENDING
    error: str | None = None
    steps: int | None = None
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    resumed_from_step: int | None = None
    train_seconds_last_run: float | None = None
    trained_with: list[int] | None = None
    precision: str | None = None

    def __post_init__(self):
        self.status = Status(self.status)

    @property
    def dir(self) -> str:
        return model_dir_name(self.index)

    @property
    def name(self) -> str:
        """The short name (``m03``) that prefixes this model's head ids."""
        return member_name(self.index)

    def update(self, **fields: Any) -> None:
        for key, value in fields.items():
            if key not in ENTRY_FIELDS:
                raise TypeError(f"ModelEntry has no field {key!r}")
            setattr(self, key, Status(value) if key == "status" else value)

    def to_dict(self) -> dict[str, Any]:
        out = {"index": self.index, "dir": self.dir, "seed": self.seed}
        for f in dataclasses.fields(self):
            if f.name not in out:
                value = getattr(self, f.name)
                out[f.name] = value.value if isinstance(value, Status) else value
        return out


ENTRY_FIELDS = {f.name for f in dataclasses.fields(ModelEntry)}


@dataclass
class FleetRecord:
    """The whole of ``fleet.json``: the config the fleet was trained with and one ``ModelEntry`` per seed."""

    config: dict[str, Any]
    models: list[ModelEntry]
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    split_sha256: str | None = None
    versions: dict[str, str] | None = None
    device: str | None = None
    precision: str | None = None
    members_per_step: int | None = None

    @classmethod
    def new(cls, config: dict[str, Any], seeds: list[int]) -> FleetRecord:
        return cls(config=config, models=[ModelEntry(index=i, seed=s) for i, s in enumerate(seeds)])

    @property
    def n(self) -> int:
        return len(self.models)

    @property
    def seeds(self) -> list[int]:
        return [m.seed for m in self.models]

    def with_status(self, *statuses: Status) -> list[ModelEntry]:
        return [m for m in self.models if m.status in statuses]

    @property
    def done(self) -> list[ModelEntry]:
        return self.with_status(Status.DONE)

    @property
    def unsettled(self) -> list[ModelEntry]:
        """The models a rerun trains: everything not done and not failed for good."""
        return [m for m in self.models if not m.status.settled]

    def to_dict(self) -> dict[str, Any]:
        head = {"created": self.created, "config": self.config, "n": self.n, "seeds": self.seeds,
                "models": [m.to_dict() for m in self.models]}
        rest = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in head}
        return {**head, **{k: v for k, v in rest.items() if v is not None}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Path | str = RECORD_FILE) -> FleetRecord:
        try:
            models = [ModelEntry(**{k: v for k, v in m.items() if k != "dir"}) for m in data["models"]]
            top = {k: v for k, v in data.items() if k not in ("n", "seeds", "models")}
            return cls(models=models, **top)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{source} is not a fleet record this version can read ({err})") from err

    @classmethod
    def read(cls, fleet_dir: str | Path) -> FleetRecord:
        path = Path(fleet_dir) / RECORD_FILE
        if not path.exists():
            raise CheckpointError(f"{fleet_dir} is not a fleet (no {RECORD_FILE}); train one with: "
                                  f"python -m train fleet")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path} is corrupt: {err}") from err
        return cls.from_dict(data, path)

    def write(self, fleet_dir: str | Path) -> None:
        write_json(Path(fleet_dir) / RECORD_FILE, self.to_dict())


def load_fleet(fleet_dir: str | Path, device: str = "cpu") -> list:
    """Bridges for every finished model of a fleet, in index order (failed or unfinished ones are skipped)."""
    from train.checkpoints import load_toy_bridge

    fleet_dir = Path(fleet_dir)
    return [load_toy_bridge(fleet_dir / m.dir, device) for m in FleetRecord.read(fleet_dir).done]
