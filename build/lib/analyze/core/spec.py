"""What names a model to analyse (``ModelSpec``) and the fingerprint of its weights: the small shared part of the
model resolver (``analyze.core.models``) and the fleet (``analyze.core.fleet``), which import it and not each other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from train.checkpoints import CheckpointError


@dataclass(frozen=True)
class ModelSpec:
    """One model to analyse: its short name (the head-id prefix), where it is, and what kind it is."""

    name: str
    source: str
    kind: str  # "toy" | "hf"


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


_HASHED: dict[tuple, str] = {}  # (path, size, mtime_ns) → sha256 of the bytes, so one process hashes a file once


def file_sha256(path: Path) -> str:
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHED:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                digest.update(block)
        _HASHED[key] = digest.hexdigest()
    return _HASHED[key]


def weight_files(spec: ModelSpec) -> list[Path]:
    """The files that hold a model's weights (a toy dir's model.safetensors, an HF dir's *.safetensors/*.bin)."""
    path = Path(spec.source)
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not files:
        raise CheckpointError(f"{path} holds no weight file (*.safetensors or *.bin)")
    return files


def fingerprint(specs: list[ModelSpec]) -> str:
    """A hash of the bytes of every weight file of ``specs`` (and their names): equal exactly when the weights
    are, whatever the files' dates or paths. Runs record it; a run is reused only while it still matches."""
    from concurrent.futures import ThreadPoolExecutor

    from analyze.core.parallel import worker_count

    files = {spec.name: weight_files(spec) for spec in specs}
    every = [f for group in files.values() for f in group]
    with ThreadPoolExecutor(worker_count()) as pool:  # hashlib lets go of the GIL: 9 toy models, 0.93 -> 0.5 s
        digest = dict(zip(every, pool.map(file_sha256, every)))
    parts = [[spec.name] + [digest[f] for f in files[spec.name]] for spec in specs]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
