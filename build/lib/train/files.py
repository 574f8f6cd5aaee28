"""Writing outputs so that nothing half-written looks complete: atomic files and folders, strict JSON.

Every output of the project (fleet records, metrics, checkpoints, analysis tables, converted models) is written
through here: to a temporary name in the same folder, then renamed, which is atomic on one filesystem.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from train.errors import UserError


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


class DirLocked(UserError, RuntimeError):
    """Another process holds the output folder; the message names it and its pid."""


@contextlib.contextmanager
def dir_lock(out: Path, what: str):
    """An exclusive lock on ``out/.lock`` while ``what`` writes there; the OS releases it if the process dies
    (kill -9). A second run on the same folder is refused in one line instead of interleaving its files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid, _, holder = handle.read().strip().partition(" ")
            raise DirLocked(f"another {holder or what} run (pid {pid or '?'}) is writing {out}; wait for it to finish "
                            f"or pass another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {what}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_holder(out: Path) -> int | None:
    """The pid holding ``out/.lock``, or None when nobody does (a finished or killed run leaves it free)."""
    path = Path(out) / ".lock"
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip().split(" ")[0]
            return int(pid) if pid.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None

