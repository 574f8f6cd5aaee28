"""Numbers pinned before a refactor, so a change that moves code can show it changes no result.

``check_pinned(name, values)`` compares a flat ``{key: number or string}`` dict with ``tests/pinned/<name>.json``.
Run the tests with ``TOYHEADS_REPIN=1`` to write the files anew; do so only for an intended change of results,
and say in the commit which numbers moved and why.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

PINNED = Path(__file__).resolve().parent


def check_pinned(name: str, values: dict, rtol: float = 0.0, atol: float = 0.0) -> None:
    path = PINNED / f"{name}.json"
    values = {str(k): (v if isinstance(v, str) else float(v)) for k, v in values.items()}
    if os.environ.get("TOYHEADS_REPIN"):
        path.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
        return
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
