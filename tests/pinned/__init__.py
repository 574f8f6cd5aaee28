"""Numbers pinned before a refactor, so a change that moves code can show it changes no result.

``check_pinned(name, values)`` compares a flat ``{key: number or string}`` dict with
``tests/pinned/<name>.<cpu>.json``, pinned on a CPU of that kind (vendor, family, model). Some of these numbers sit
on knife edges (argmax tallies of near-tied logits of ~1e3, slopes over sharp patterns), so another CPU's float
kernels move them: the planted probe scores pinned on an AMD EPYC (family 25 model 1) differ on an Intel Xeon
(model 207) with the same code and libraries. A CPU kind with no pinned file skips the check and says so. Run the
tests with ``TOYHEADS_REPIN=1`` to write this CPU's files; do so only for an intended change of results, or on a
new CPU kind with the code the pins guard, and say in the commit which numbers moved and why.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

PINNED = Path(__file__).resolve().parent


def cpu_kind() -> str:
    """``GenuineIntel-6-207``: vendor, family and model from /proc/cpuinfo (``unknown`` elsewhere)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()[:12]
        fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
    except OSError:
        return "unknown"
    get = lambda key: fields.get(key) or "?"  # noqa: E731
    return f"{get('vendor_id')}-{get('cpu family')}-{get('model')}"


def check_pinned(name: str, values: dict, rtol: float = 0.0, atol: float = 0.0) -> None:
    path = PINNED / f"{name}.{cpu_kind()}.json"
    values = {str(k): (v if isinstance(v, str) else float(v)) for k, v in values.items()}
    if os.environ.get("TOYHEADS_REPIN"):
        path.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
        return
    if not path.exists():
        kinds = sorted(p.name.removeprefix(f"{name}.").removesuffix(".json") for p in PINNED.glob(f"{name}.*.json"))
        pytest.skip(f"{name}: no numbers pinned on this CPU kind ({cpu_kind()}; pinned on {', '.join(kinds)})")
    pinned = json.loads(path.read_text())
    assert values.keys() == pinned.keys(), f"{name}: keys differ: {sorted(set(values) ^ set(pinned))[:10]}"
    moved = []
    for key, want in pinned.items():
        got = values[key]
        if isinstance(want, str) or isinstance(got, str):
            same = got == want
        elif math.isnan(want) or math.isnan(got):
            same = math.isnan(want) and math.isnan(got)
        else:
            same = abs(got - want) <= atol + rtol * abs(want)
        if not same:
            moved.append(f"{key}: {got!r}, pinned {want!r}")
    assert not moved, f"{name}: {len(moved)} of {len(pinned)} numbers moved: " + "; ".join(moved[:8])
