"""What a cluster of heads does, in words a reader can check: where its mean pattern puts attention, against a
uniform head, and whether every model of the fleet grew one (the project's first question).

Pure functions: patterns in, numbers and sentences out. The uniform values are the registry's
(analyze.probes.columns): a causal head spread evenly over the visible keys puts H_n / n on itself and
(H_n − 1) / n on the previous token or on token 0, averaged over queries.
"""

from __future__ import annotations

import numpy as np

from analyze.probes.columns import uniform_offset, uniform_self

KINDS = {"self": "self-attending", "prev": "previous-token", "first": "first-token"}
NOTHING_ACROSS_SEEDS = "Nothing to compare across seeds: the fleet has fewer than 2 finished models."
SHARED_RATIO = 3.0  # a shared head "does one thing" when its kind's mass is at least this many times uniform


def position_masses(pattern: np.ndarray) -> dict[str, float]:
    """Mean attention, over queries, on the query itself, the previous token and token 0 (queries ≥ 1 for the
    last two, as the probes' ``prev_token`` and ``first_token``).  pattern [q, k] → {kind: mass}"""
    n = len(pattern)
    q = np.arange(n)
    return {"self": float(pattern[q, q].mean()), "prev": float(pattern[q[1:], q[1:] - 1].mean()),
            "first": float(pattern[1:, 0].mean())}


def uniform_masses(n: int) -> dict[str, float]:
    facts = {"n": n}
    return {"self": uniform_self(facts), "prev": uniform_offset(facts), "first": uniform_offset(facts)}


def dominant_kind(pattern: np.ndarray) -> tuple[str, float, float]:
    """The kind of position the pattern favours most against a uniform head: ``(kind, mass, mass / uniform)``."""
    masses, uniform = position_masses(pattern), uniform_masses(len(pattern))
    kind = max(masses, key=lambda k: masses[k] / uniform[k])
    return kind, masses[kind], masses[kind] / uniform[kind]


def describe(pattern: np.ndarray) -> str:
    """One line: the dominant kind with its mass and its ratio to a uniform head (or "diffuse")."""
    kind, mass, ratio = dominant_kind(pattern)
    if ratio < 1.5:
        return f"diffuse: no position above 1.5× a uniform head (best: {KINDS[kind]}, {ratio:.1f}×)"
    return f"{KINDS[kind]}: {mass:.2f} of attention, {ratio:.1f}× a uniform head"


def shared_clusters(patterns: np.ndarray, clusters: np.ndarray, models: np.ndarray) -> list[dict]:
    """Clusters that hold a head of every model, with what their heads do, strongest first.

    patterns [head, prompt, q, k]; clusters, models [head]. Each entry: ``cluster``, ``kind``, ``mass`` (the
    weakest member model's mean mass on that kind: every model's head does it at least this much), ``ratio``
    (that over uniform), ``per_model`` ({model: its member heads' best mass}), ``heads``.
    """
    every = set(models)
    out = []
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        if set(models[members]) != every:
            continue
        kind, _, _ = dominant_kind(patterns[members].mean(axis=(0, 1)))
        per_head = {i: position_masses(patterns[i].mean(axis=0))[kind] for i in members}
        per_model = {str(m): max(per_head[i] for i in members if models[i] == m) for m in sorted(every)}
        weakest = min(per_model.values())
        out.append({"cluster": int(c), "kind": kind, "mass": weakest,
                    "ratio": weakest / uniform_masses(patterns.shape[-1])[kind], "per_model": per_model,
                    "heads": [int(i) for i in members]})
    return sorted(out, key=lambda d: -d["ratio"])


def finding_sentence(shared: list[dict], n_models: int) -> str:
    """The fleet's finding in a sentence or two: the clusters holding a head of every model, with the range of
    their heads' mass on their kind of position and its multiple of a uniform head's; the strongest such cluster
    is named even when its weakest model stays below ``SHARED_RATIO``× (and that is said). One model has no other
    seed to share a head with: that is said instead of a cross-seed finding."""
    if n_models < 2:
        return NOTHING_ACROSS_SEEDS
    if not shared:
        return f"No cluster holds a head of every one of the {n_models} models."
    parts = []
    for s in shared:
        masses = list(s["per_model"].values())
        uniform = s["mass"] / s["ratio"]
        lo, hi = min(masses), max(masses)
        verdict = (f"every one ≥ {SHARED_RATIO:g}×" if lo / uniform >= SHARED_RATIO else
                   f"the weakest below {SHARED_RATIO:g}×")
        parts.append(f"cluster {s['cluster']} holds a {KINDS[s['kind']]} head of every model, putting {lo:.2f}–{hi:.2f} "
                     f"of its attention there ({lo / uniform:.1f}–{hi / uniform:.1f}× a uniform head; {verdict})")
    strong = [p for p, s in zip(parts, shared) if s["ratio"] >= 2.0] or parts[:1]
    return f"All {n_models} models grew the same kind of head: " + "; ".join(strong) + "."
