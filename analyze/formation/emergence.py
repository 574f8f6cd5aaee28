"""When heads form: the math of ``analyze formation`` on recorded score curves, pure arrays and frames.

A head *shows* a type at a step when its score of that type is at least ``k`` times the score of a head spread
evenly over the keys it sees (``chance_values``; the uniform values of ``analyze.probes.columns``). A seed grows
the type at the first step any of its heads shows it (Olsson et al. 2022 date induction heads the same way, by a
score crossing). A head *took its final type* at the first step from which it shows that type at every later
record. The anchors ask whether seeds grow their heads at the same time and in the same order (PolyPythias), and
whether the head that ends in a role was the first to fill it (Tigges et al. 2024 find it can change).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TYPES = ("self", "prev_token", "first_token", "duplicate_token", "induction")  # the scores with a chance value


def chance_values(n_ctx: int) -> dict[str, float]:
    """Each type's score for a causal head spread evenly over the keys it sees, on ``n_ctx``-token prompts."""
    from analyze.probes.columns import uniform_offset, uniform_repeat_half, uniform_self

    facts = {"n": n_ctx, "n_repeat": n_ctx}
    return {"self": uniform_self(facts), "prev_token": uniform_offset(facts), "first_token": uniform_offset(facts),
            "duplicate_token": uniform_repeat_half(facts), "induction": uniform_repeat_half(facts)}


def first_crossing(steps: np.ndarray, curve: np.ndarray, threshold: float) -> int | None:
    """The first recorded step where ``curve`` ≥ ``threshold``; None if it never does."""
    hit = np.flatnonzero(np.asarray(curve) >= threshold)
    return int(steps[hit[0]]) if len(hit) else None


def final_onset(steps: np.ndarray, curve: np.ndarray, threshold: float) -> int | None:
    """The first step from which ``curve`` stays ≥ ``threshold`` to the last record; None if it ends below."""
    above = np.asarray(curve) >= threshold
    if not above[-1]:
        return None
    below = np.flatnonzero(~above)
    return int(steps[below[-1] + 1]) if len(below) else int(steps[0])


def first_head(steps: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[int | None, int | None]:
    """The first step any head's curve reaches ``threshold`` and that head (the lowest index on a tie);
    (None, None) if none ever does. scores: [step, head] of one type."""
    firsts = [(first_crossing(steps, scores[:, h], threshold), h) for h in range(scores.shape[1])]
    known = [(step, h) for step, h in firsts if step is not None]
    return min(known) if known else (None, None)


def emergence(scores: dict[str, np.ndarray], steps: dict[str, np.ndarray], head_names: list[str],
              thresholds: dict[str, float]) -> pd.DataFrame:
    """One row per (model, type): the step its first head shows the type (NaN if none ever does), that head,
    whether it still shows the type at the last record (False: the role passed to another head or was lost), and
    how many heads show the type at the last record.

    scores: model → [step, head, type] in ``TYPES`` order; steps: model → [step]; head_names: "L0H3" per head.
    """
    rows = []
    for model, s in scores.items():
        for t, name in enumerate(TYPES):
            step, head = first_head(steps[model], s[:, :, t], thresholds[name])
            rows.append({"model": model, "type": name, "step": np.nan if step is None else step,
                         "head": None if head is None else head_names[head],
                         "first_head_at_end": None if head is None else bool(s[-1, head, t] >= thresholds[name]),
                         "heads_showing_at_end": int(sum(s[-1, h, t] >= thresholds[name] for h in range(s.shape[1])))})
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per type: how many seeds grew it, and the median, quartiles and range of their steps."""
    rows = []
    for name in TYPES:
        steps = table.loc[table["type"] == name, "step"].dropna().to_numpy()
        n = int(table.loc[table["type"] == name, "model"].nunique())
        q = np.percentile(steps, [0, 25, 50, 75, 100]) if len(steps) else [np.nan] * 5
        rows.append({"type": name, "seeds_grown": len(steps), "seeds": n, "first": q[0], "q25": q[1],
                     "median": q[2], "q75": q[3], "last": q[4],
                     "spread_octaves": float(np.log2((q[4] + 1) / (q[0] + 1))) if len(steps) else np.nan})
    return pd.DataFrame(rows)


def orders(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: the types it grew, earliest first ("a = b" when they appear at one record), and how many
    distinct orders the fleet shows."""
    rows = []
    for model, group in table.dropna(subset=["step"]).groupby("model", sort=True):
        by_step = group.sort_values(["step", "type"]).groupby("step", sort=True)["type"].apply(" = ".join)
        rows.append({"model": model, "order": " < ".join(by_step.tolist())})
    return pd.DataFrame(rows, columns=["model", "order"])


def pairwise_order(table: pd.DataFrame) -> pd.DataFrame:
    """For each pair of types: in how many seeds that grow both the first comes earlier, at the same record, or
    later. A seed that lacks a type says nothing of its order, so this asks "same order?" apart from "same
    types?", which the distinct orders of ``orders`` mix."""
    steps = table.pivot(index="model", columns="type", values="step")
    rows = []
    for i, a in enumerate(TYPES):
        for b in TYPES[i + 1:]:
            if a not in steps or b not in steps:
                continue
            both = steps[[a, b]].dropna()
            if both.empty:
                continue
            rows.append({"first": a, "second": b, "seeds_with_both": len(both),
                         "first_earlier": int((both[a] < both[b]).sum()), "same_record": int((both[a] == both[b]).sum()),
                         "first_later": int((both[a] > both[b]).sum())})
    return pd.DataFrame(rows, columns=["first", "second", "seeds_with_both", "first_earlier", "same_record",
                                       "first_later"])


def loss_events(steps: np.ndarray, loss: np.ndarray, plateau_share: float = 0.25) -> pd.DataFrame:
    """Plateaus and rises of a held-out loss curve recorded at log-spaced steps.

    The drop per doubling of the step count between consecutive records is the curve's slope on the plot's log
    axis. A *rise* is an interval where the loss goes up; a *plateau* is a run of intervals, after the curve's
    steepest drop so far has begun, whose drop is below ``plateau_share`` of that steepest drop (an early interval
    before any descent is not a plateau, only a slow start). One row per event: kind, start and end steps.
    """
    steps, loss = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
    octaves = np.log2((steps[1:] + 1) / (steps[:-1] + 1))
    rate = (loss[:-1] - loss[1:]) / octaves  # nats per doubling
    rows, run_start, steepest = [], None, 0.0
    for i, r in enumerate(rate):
        if r < 0:
            rows.append({"kind": "rise", "start": int(steps[i]), "end": int(steps[i + 1]), "rate": float(r)})
        slow = steepest > 0 and r < plateau_share * steepest
        if slow and run_start is None:
            run_start = i
        if not slow and run_start is not None:
            rows.append({"kind": "plateau", "start": int(steps[run_start]), "end": int(steps[i]),
                         "rate": float(rate[run_start:i].mean())})
            run_start = None
        steepest = max(steepest, r)
    if run_start is not None and run_start < len(rate) - 1:  # a plateau that lasts to the end is convergence
        rows.append({"kind": "final plateau", "start": int(steps[run_start]), "end": int(steps[-1]),
                     "rate": float(rate[run_start:].mean())})
    return pd.DataFrame(rows, columns=["kind", "start", "end", "rate"])


def coincidences(events: pd.DataFrame, table: pd.DataFrame, steps: np.ndarray) -> pd.DataFrame:
    """Type emergences of one model within one record of a plateau's end or inside a rise: the kind of
    coincidence a phase change makes (the loss drops again as a head forms). A plateau lasting to the last record
    is the run converging, not a change, and is left out."""
    steps = np.asarray(steps)
    rows = []
    for _, event in events[events["kind"] != "final plateau"].iterrows():  # the end of training is no change
        end = int(np.searchsorted(steps, event["end"]))
        window = steps[max(end - 1, 0)], steps[min(end + 1, len(steps) - 1)]
        lo, hi = (event["start"], event["end"]) if event["kind"] == "rise" else window
        for _, row in table.dropna(subset=["step"]).iterrows():
            if lo <= row["step"] <= hi:
                rows.append({"kind": event["kind"], "start": event["start"], "end": event["end"],
                             "type": row["type"], "step": int(row["step"]), "head": row["head"]})
    return pd.DataFrame(rows, columns=["kind", "start", "end", "type", "step", "head"])


def cluster_types(final_scores: np.ndarray, clusters: np.ndarray, thresholds: dict[str, float]) -> dict[int, str]:
    """Each final cluster's type: the type whose cluster-mean score is the largest multiple of its threshold,
    when that mean reaches the threshold; else "none". final_scores: [head, type] in ``TYPES`` order."""
    limits = np.array([thresholds[t] for t in TYPES])
    out = {}
    for c in np.unique(clusters):
        ratio = final_scores[clusters == c].mean(axis=0) / limits
        out[int(c)] = TYPES[int(np.argmax(ratio))] if ratio.max() >= 1 else "none"
    return out


def backtrack(scores: dict[str, np.ndarray], steps: dict[str, np.ndarray], head_names: list[str],
              clusters: dict[str, int], thresholds: dict[str, float]) -> pd.DataFrame:
    """For every head of a typed final cluster: when it took its final type, when its model first showed that type
    and in which head, and whether that was this head. clusters: "m00.L0H3" → final cluster."""
    finals = np.stack([scores[m][-1, h] for m in scores for h in range(len(head_names))])
    ids = [f"{m}.{name}" for m in scores for name in head_names]
    known = [i for i, h in enumerate(ids) if h in clusters]
    types = cluster_types(finals[known], np.array([clusters[ids[i]] for i in known]), thresholds)
    rows = []
    for model, s in scores.items():
        for h, name in enumerate(head_names):
            head = f"{model}.{name}"
            if head not in clusters or types[clusters[head]] == "none":
                continue
            kind = types[clusters[head]]
            t = TYPES.index(kind)
            first_step, first = first_head(steps[model], s[:, :, t], thresholds[kind])
            onset = final_onset(steps[model], s[:, h, t], thresholds[kind])
            rows.append({"cluster": clusters[head], "type": kind, "head_id": head, "model": model,
                         "final_type_from": np.nan if onset is None else onset,
                         "model_first_step": np.nan if first_step is None else first_step,
                         "model_first_head": None if first is None else f"{model}.{head_names[first]}",
                         "was_first": first == h})
    return pd.DataFrame(rows, columns=["cluster", "type", "head_id", "model", "final_type_from", "model_first_step",
                                       "model_first_head", "was_first"])
