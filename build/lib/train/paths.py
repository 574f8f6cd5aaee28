"""Where outputs go by default: ``checkpoints/``, ``runs/`` and ``.cache/`` under ``$TOYHEADS_HOME`` when set, else
under the current working directory (as nanoGPT and scikit-learn's examples write beside the user). Never under the
installed package: after ``pip install .`` that is inside the Python installation.

Read at call time, not import time, so a process that changes directory (or a test that sets the variable) gets
the folder it is in.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("TOYHEADS_HOME") or Path.cwd())


def checkpoints_dir() -> Path:
    return home() / "checkpoints"


def runs_dir() -> Path:
    return home() / "runs"


def cache_dir() -> Path:
    return home() / ".cache"
