"""The options every command shares, as one object built once from the command line and passed down: where NLTK's
Brown corpus is, the cache folder, the device and whether to draw progress bars."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunEnv:
    nltk_data: Path | None = None  # None: NLTK's own search path (train/corpus.py)
    cache_dir: Path | None = None  # None: .cache/ under the working folder or $TOYHEADS_HOME (train/paths.py)
    device: str | None = None  # None: CUDA when present
    progress: bool = True

    @classmethod
    def from_args(cls, args) -> "RunEnv":
        """From an argparse namespace with ``--nltk-data``, ``--cache-dir``, ``--device`` and ``--no-progress``."""
        device = getattr(args, "device", None)
        return cls(getattr(args, "nltk_data", None), getattr(args, "cache_dir", None),
                   None if device in (None, "auto") else device, not getattr(args, "no_progress", False))
