"""Writing outputs so that nothing half-written looks complete: atomic files and folders, strict JSON.

Every output of the project (fleet records, metrics, checkpoints, analysis tables, converted models) is written
through here: to a temporary name in the same folder, then renamed, which is atomic on one filesystem.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` onto ``path``: readers never see a half-written file.

    The file gets the mode an ordinary ``open()`` would give it (0666 minus the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_dir(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_dir)`` then rename the folder onto ``path`` (replacing a stale one): readers see the whole
    folder or none, as ``atomic_write`` does for a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def strict_json(obj: Any) -> Any:
    """``obj`` with NaN and ±inf floats replaced by None: JSON has no NaN (``JSON.parse`` rejects it)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON (NaN → null), written atomically."""
    text = json.dumps(strict_json(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"
    atomic_write(path, lambda p: p.write_text(text))
