"""Regenerate ``docs/head_formation.md``: when a fleet's seeds grow their heads, from the records the fleet wrote
while training.

``python -m docs.head_formation [--fleet checkpoints/demo9] [--k 2] [--induction checkpoints/induction]``

Runs (or reuses) the fleet's phrenology for its final clusters, then ``analyze formation``; with ``--induction``, also
``analyze formation`` on a two-layer fleet of ``configs/induction.yaml`` and its induction onset against Aoyama et
al.'s (2025) prediction. Copies the figures to ``docs/head_formation/`` and writes the document with every number it
states.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis import cpu_name
from train.paths import checkpoints_dir, runs_dir

DOC = Path(__file__).parent / "head_formation.md"
FIGURES = Path(__file__).parent / "head_formation"
NAMES = {"self": "self", "prev_token": "previous token", "first_token": "first token",
         "duplicate_token": "duplicate token", "induction": "induction"}


def run(fleet_path: Path, k: float):
    from analyze.compare.pipeline import phrenology_run
    from analyze.core.fleet import Fleet
    from analyze.core.models import run_name
    from analyze.formation import FormationJob, run_formation
    from analyze.phrenology import PhrenologyConfig

    fleet = Fleet(fleet_path)
    phrenology = runs_dir() / "phrenology" / run_name(fleet.path)
    phrenology_run(fleet, PhrenologyConfig(), phrenology, progress=True)
    job = FormationJob(runs_dir() / "formation" / run_name(fleet.path), k, phrenology)
    return fleet, job, run_formation(fleet, job)


def run_induction(fleet_path: Path, k: float):
    from analyze.core.fleet import Fleet
    from analyze.core.models import run_name
    from analyze.formation import FormationJob, run_formation

    fleet = Fleet(fleet_path, allow_partial=True)
    job = FormationJob(runs_dir() / "formation" / run_name(fleet.path), k)
    return fleet, job, run_formation(fleet, job)


def aoyama_onset_tokens(batch_size: int, n_ctx: int) -> float:
    """Aoyama et al. (2025): induction heads appear after about 10^5.7 · √(batch × context) training tokens."""
    return 10 ** 5.7 * np.sqrt(batch_size * n_ctx)


def induction_onsets(result, batch_size: int, n_ctx: int) -> pd.DataFrame:
    """Per seed: the step its first head crosses the induction threshold, that head, the tokens trained by then,
    their ratio to Aoyama's prediction, the best final induction score, and the held-out loss events (plateau
    ends, rises) within one record of the onset."""
    from train.formation import SCORES

    predicted = aoyama_onset_tokens(batch_size, n_ctx)
    t = SCORES.index("induction")
    first = result.emergence.set_index(["model", "type"])
    rows = []
    for model, steps in result.steps.items():
        hit, prev = first.loc[(model, "induction")], first.loc[(model, "prev_token")]
        near = result.coincidences[(result.coincidences.model == model) & (result.coincidences.type == "induction")]
        tokens = hit["step"] * batch_size * n_ctx
        rows.append({"model": model, "previous-token step": prev["step"], "induction step": hit["step"],
                     "head": hit["head"], "tokens": tokens, "tokens / predicted": tokens / predicted,
                     "final best induction score": float(result.scores[model][-1, :, t].max()),
                     "best induction score at any step": float(result.scores[model][:, :, t].max()),
                     "lowest held-out loss at step": int(steps[int(np.argmin(result.loss[model]))]),
                     "loss event at onset": ", ".join(f"{r.kind} {r.start}–{r.end}" for r in near.itertuples())
                     or "none"})
    return pd.DataFrame(rows)


def induction_command(fleet) -> str:
    """The train command of the two-layer fleet: the configs/induction*.yaml its config departs from least, and
    the keys where it departs."""
    from train.config import load_config

    cfg = fleet.config
    keys = [k for k in cfg.science_dict() if k not in ("seed", "n")] + ["record_per_octave"]

    def departures(path):
        base = load_config(path)
        return [f"{k}={getattr(cfg, k)}" for k in keys if getattr(cfg, k) != getattr(base, k)]

    configs = sorted((Path(__file__).parents[1] / "configs").glob("induction*.yaml"))
    path = min(configs, key=lambda p: len(departures(p)))
    return (f"python -m train fleet --config configs/{path.name} --n {cfg.n} --seed {cfg.seed} --out "
            f"checkpoints/{fleet.path.name} {' '.join(departures(path))}".rstrip() + "\n")


def induction_section(fleet, job, result) -> str:
    """The two-layer fleet's part of the document: did the induction bump appear, when, against the formula."""
    cfg = fleet.config
    onsets = induction_onsets(result, cfg.batch_size, cfg.n_ctx)
    predicted = aoyama_onset_tokens(cfg.batch_size, cfg.n_ctx)
    grown = onsets.dropna(subset=["induction step"])
    trained = cfg.total_steps() * cfg.batch_size * cfg.n_ctx
    before = int((grown["previous-token step"] <= grown["induction step"]).sum())
    bumps = int((grown["loss event at onset"] != "none").sum())
    verdict = (f"{len(grown)} of {len(onsets)} seeds grew an induction head (an induction score ≥ {job.k:g} × the "
               f"uniform head's {result.thresholds['induction'] / job.k:.3f}, on repeated random tokens), at steps "
               f"{', '.join(f'{s:,.0f}' for s in grown['induction step'])}: "
               f"{', '.join(f'{r:.2g}' for r in grown['tokens / predicted'])} × the predicted "
               f"{predicted:.2g} tokens. {before} of {len(grown)} had grown a previous-token head by then, the order "
               f"Hoogland et al. (2024) find; {bumps} of {len(grown)} show a held-out loss plateau ending or a rise "
               f"within one record of the onset." if len(grown) else
               f"No seed grew an induction head in {trained:.2g} tokens ({trained / predicted:.2g} × the predicted "
               f"onset): the best induction score of any head at any record is "
               f"{onsets['best induction score at any step'].max():.3f}, against a threshold of "
               f"{result.thresholds['induction']:.3f}.")
    prev = onsets.dropna(subset=["previous-token step"])
    prev_clause = (f" {len(prev)} of {len(onsets)} seeds grew a previous-token head (steps "
                   f"{', '.join(f'{x:,.0f}' for x in prev['previous-token step'])}), the first half of an induction "
                   f"circuit." if len(prev) else " No seed grew a previous-token head either.")
    data = cfg.train_windows * cfg.n_ctx
    overfit = (f" The held-out loss is lowest at steps {', '.join(f'{x:,.0f}' for x in onsets['lowest held-out loss at step'])}"
               f" and rises after: the fleet sees its {cfg.train_windows:,} windows ({data:.2g} tokens) "
               f"{cfg.epochs} times, and Brown has few more to give, so past the first epochs it memorises rather "
               f"than learns." if (onsets["lowest held-out loss at step"] < cfg.total_steps() * 0.8).any() else "")
    verdict = verdict + prev_clause + overfit
    missing = (f" {len(fleet.missing)} of the fleet's {cfg.n} models had not finished "
               f"when this page was written and {'is' if len(fleet.missing) == 1 else 'are'} left out."
               if fleet.missing else "")
    return f"""Trained in {train_minutes(fleet):.0f} min on {cpu_name()}, in {fleet.record.precision}. The fleet: {len(onsets)} seed{'s' if len(onsets) != 1 else ''} of a two-layer config at batch {cfg.batch_size}
({cfg.n_layers} attention-only layers, {cfg.n_heads} heads, n_ctx {cfg.n_ctx}, d_model {cfg.d_model}), each trained
{cfg.total_steps():,} steps ({trained:.2g} tokens), heads recorded at {len(next(iter(result.steps.values())))} steps
({cfg.record_per_octave} per doubling).{missing} Aoyama et al. (2025) predict the induction onset at
10^5.7 · √({cfg.batch_size} × {cfg.n_ctx}) = {predicted:.2g} tokens.

{verdict}

{table(onsets)}

Every head's scores (blue: layer 0, orange: layer 1; dashed: {job.k:g} × the uniform head's score):

![induction fleet score curves](head_formation/induction_curves.png)

![induction fleet held-out loss](head_formation/induction_loss.png)

What the GPU config would take: `configs/induction.yaml` (batch 64, d_model 128, 3.3e7 tokens) costs 39.6 MFLOP a
token (1.3e15 FLOP a seed), 1.7 h a seed on this project's 2-core CPUs and 15 h for 9 seeds; on one GPU, minutes
a seed (an estimate: no GPU has run it). It reads
the same 40,000 Brown windows, 13 times, so it meets the same limit of distinct text; a larger corpus is the next
thing to try.
"""


def train_minutes(fleet) -> float:
    """The fleet's training time: its models' seconds in their last runs (a resumed model counts only its last)."""
    return sum(m.train_seconds_last_run or 0.0 for m in fleet.models) / 60


def table(frame: pd.DataFrame) -> str:
    """A frame as a markdown table (pandas' ``to_markdown``), missing values shown as "–"."""
    def whole(v):  # a step stored as float beside NaN is still a step: 11585, not 1.16e+04
        return int(v) if isinstance(v, float) and v.is_integer() else v

    cells = frame.astype(object).where(frame.notna(), None).map(whole)
    return cells.to_markdown(index=False, floatfmt=".3g", missingval="–")


def emergence_grid(result) -> pd.DataFrame:
    grid = result.emergence.pivot(index="type", columns="model", values="step").reindex(list(NAMES))
    grid.index = [NAMES[t] for t in grid.index]
    return grid.reset_index(names="type")


def type_clause(r, result, n: int) -> str:
    """One head type's timing across seeds: spread, whether it lasts to the end, whether it comes late, and
    whether it comes as the held-out loss leaves a plateau."""
    rows = result.emergence[(result.emergence.type == r.type) & result.emergence.step.notna()]
    steps = next(iter(result.steps.values()))
    ending = int((rows.heads_showing_at_end > 0).sum())
    text = (f"{NAMES[r.type]} heads in {r.seeds_grown} of {n} seeds within {r.spread_octaves:.1f} doublings of "
            f"the step count (steps {r.first:g}–{r.last:g}, median {r.median:g})")
    if ending <= r.seeds_grown / 2:
        text = f"{text}, a passing stage: {ending} of those seeds still {'has' if ending == 1 else 'have'} one at the end"
    if r.first >= steps[-2]:
        text = f"{text}, only at the run's last records: still forming when it ends"
    hits = result.coincidences[(result.coincidences.type == r.type) & (result.coincidences.kind == "plateau")]
    if hits.model.nunique() >= r.seeds_grown / 2:
        span = hits.groupby(["start", "end"]).model.nunique().idxmax()
        text = (f"{text}, as the held-out loss leaves its plateau of steps {span[0]}–{span[1]} (in "
                f"{hits.model.nunique()} of those seeds within one record)")
    return text


def pair_phrase(p) -> str:
    """One row of ``pairwise_order`` as the order most of its seeds show: "self before previous token in 4 of 4"."""
    if p.first_earlier >= p.first_later:
        return f"{NAMES[p.first]} before {NAMES[p.second]} in {p.first_earlier} of {p.seeds_with_both}"
    return f"{NAMES[p.second]} before {NAMES[p.first]} in {p.first_later} of {p.seeds_with_both}"


def answer(result) -> str:
    """The two sentences: do seeds grow their heads at the same time, and in the same order, with the spread."""
    grown = result.summary[result.summary.seeds_grown > 0].sort_values("median")
    n = int(result.summary.seeds.max())
    if grown.empty:
        return f"None of the {n} seeds grows a head of any type by its last record."
    timing = "; ".join(type_clause(r, result, n) for r in grown.itertuples())
    pairs = result.pairs[result.pairs.seeds_with_both >= 2]
    n_orders = result.order["order"].nunique()
    if pairs.empty:
        order = (f"No two types appear together in two or more seeds, so the order cannot be compared; the fleet "
                 f"shows {n_orders} distinct orders.")
    else:
        agree = (pairs[["first_earlier", "first_later"]].max(axis=1).sum()) / pairs.seeds_with_both.sum()
        said = ", ".join(pair_phrase(p) + (f" ({p.same_record} at one record)" if p.same_record else "")
                         for p in pairs.itertuples())
        verdict = "the same order" if agree >= 0.8 else "different orders"
        order = (f"Where a seed grows two types it grows them in {verdict} ({said} seeds growing both; "
                 f"{agree:.0%} of such pairs agree), and the fleet's {n_orders} distinct orders"
                 + (" come mostly from which types a seed grows, not from their order." if agree >= 0.8 else "."))
    return f"Seeds grow {timing}. {order}"


def first_heads_kept(result) -> pd.DataFrame:
    """Per type: in how many seeds the first head of the type still shows it at the end (Tigges et al. 2024: the
    head filling a role can change), and how many heads per seed show it then."""
    grown = result.emergence.dropna(subset=["step"])
    rows = [{"type": NAMES[t], "seeds grown": len(g), "first head still shows it at the end": int(g.first_head_at_end.sum()),
             "heads showing it at the end (median per seed)": float(g.heads_showing_at_end.median())}
            for t, g in grown.groupby("type", sort=False)]
    return pd.DataFrame(rows)


def anchors(result, cfg) -> str:
    """The anchors' findings beside this fleet's numbers, and where the toy setting differs."""
    summary = result.summary.set_index("type")
    kept = first_heads_kept(result).set_index("type")
    grown = summary[summary.seeds_grown > 0]
    tight = grown[grown.spread_octaves <= 1.0]
    hits = result.coincidences[result.coincidences.kind == "plateau"]
    per_type = hits.groupby("type").model.nunique().sort_values(ascending=False)
    sudden = (f"Here the nearest thing is heads appearing within one record of the end of a held-out loss plateau "
              f"({' and '.join(f'{NAMES[t]} heads in {k} of {len(result.scores)} seeds' for t, k in per_type.items())}):"
              f" the loss flattens, then drops again as the heads form."
              if len(hits) else "Here no head type appears at the end of a loss plateau.")
    pairs = result.pairs[result.pairs.seeds_with_both >= 2]
    stages = "; ".join(f"{pair_phrase(p)} seeds" for p in pairs.itertuples())
    same_time = (f"{', '.join(NAMES[t] for t in tight.index)} heads appear within one doubling of the step count "
                 f"across the seeds that grow them" if len(tight) else "no type appears within one doubling across "
                 "seeds")
    changed = [f"{t}: {int(r['first head still shows it at the end'])} of {int(r['seeds grown'])}"
               for t, r in kept.iterrows()]
    tokens = cfg.total_steps() * cfg.batch_size * cfg.n_ctx
    return f"""- Olsson et al. (2022) see induction heads form in a sudden phase change, marked by a bump in the loss. A
  one-layer model cannot form them. {sudden}
- Hoogland et al. (2024) find discrete developmental stages in a two-layer attention-only model, previous-token heads
  before induction heads. The one-layer fleet has an order too: {stages or "no two types appear together"}.
- PolyPythias (2025) and Tigges et al. (2024) find components appear at similar token counts across seeds: here
  {same_time}. Tigges et al. also find that the head filling a role can change. Here the first head of a type still
  shows it at the end in {"; ".join(changed)} seeds.
- The toy setting differs: {cfg.n_layers} layer{"s" if cfg.n_layers != 1 else ""}, {cfg.n_ctx}-token windows of
  Brown, {tokens:,} training tokens in {cfg.total_steps()} steps, and a 50,257-token unembedding that takes most
  of the compute. Pythia's checkpoints span 300 billion tokens, and effects that need depth or long contexts cannot
  appear here."""


def backtrack_summary(result) -> pd.DataFrame:
    b = result.backtrack
    if b.empty:
        return pd.DataFrame(columns=["cluster", "type", "heads", "seeds", "median step of final type",
                                     "first of its model"])
    rows = []
    for (c, t), g in b.groupby(["cluster", "type"]):
        rows.append({"cluster": c, "type": NAMES[t], "heads": len(g), "seeds": g.model.nunique(),
                     "median step of final type": float(g.final_type_from.median()),
                     "first of its model": f"{int(g.was_first.sum())} of {len(g)}"})
    return pd.DataFrame(rows)


NO_INDUCTION_RUN = """`configs/induction.yaml` is a two-layer attention-only fleet with n_ctx 64, trained to 3.3e7 tokens, past Aoyama
et al.'s (2025) predicted induction onset of about 10^5.7 · √(batch × context) = 3.2e7 tokens at batch 64 and
context 64. Its heads are recorded the same way (the induction score is read on repeated random tokens). No run of
it is on this page: pass `--induction FLEET` to add one.
"""


def write_doc(fleet, job, result, elapsed: float, induction: str = NO_INDUCTION_RUN,
              induction_train: str = "", induction_fleet: str = "") -> None:
    cfg = fleet.config
    steps = next(iter(result.steps.values()))
    events = result.events
    plateaus = events[events.kind == "plateau"]
    hits = result.coincidences
    rises = events[events.kind == "rise"]
    coincide = (f"{len(hits)} type appearances fall at a plateau's end or inside a rise of the held-out loss "
                f"({', '.join(sorted(set(NAMES[t] for t in hits['type'])))})" if len(hits) else
                "no type appears at a plateau's end or inside a rise of the held-out loss")
    induction_flag = f" --induction checkpoints/{induction_fleet}" if induction_fleet else ""
    b = result.backtrack
    took_over = int((~b.was_first.astype(bool)).sum()) if len(b) else 0
    text = f"""# When do heads form? Head formation across seeds

Regenerate with:

```
python -m train fleet --config configs/demo.yaml --n {len(result.scores)} --out checkpoints/{fleet.path.name}
{induction_train}python -m docs.head_formation --fleet checkpoints/{fleet.path.name} --k {job.k:g}{induction_flag}
```

`docs.head_formation` runs the fleet's phrenology (for the final clusters) and `python -m analyze formation`; it took
{elapsed / 60:.1f} min; the fleet's training took {train_minutes(fleet):.0f} min on {cpu_name()}, in {fleet.record.precision}. The fleet: {len(result.scores)} seeds ({cfg.seed}–{cfg.seed + len(result.scores) - 1}) of
`{fleet.path.name}` ({cfg.n_layers} layer, {cfg.n_heads} heads, n_ctx {cfg.n_ctx}, d_model {cfg.d_model}, Brown),
{cfg.total_steps()} steps each, heads recorded at {len(steps)} log-spaced steps (0, 1, 2, 3, 4, 6, 8, … and each
epoch's end) on {cfg.record_prompts} held-out windows.

## The answer

{answer(result)}

A seed *grows* a type at the first recorded step where one of its heads scores at least {job.k:g} × what a head
spread evenly over the keys scores (the thresholds: {", ".join(f"{NAMES[t]} {v:.3f}" for t, v in
result.thresholds.items())}). Steps are recorded at {cfg.record_per_octave} per doubling, so a step is known to within a
factor of about {2 ** (1 / cfg.record_per_octave):.2g}.

## Emergence (type × seed: the first step)

{table(emergence_grid(result))}

Across seeds:

{table(result.summary.rename(columns={"spread_octaves": "spread (doublings)"}))}

Each seed's order (earliest first; "=" when two types appear at one record):

{table(result.order)}

![score curves](head_formation/fig_curves.png)

![emergence timeline](head_formation/fig_timeline.png)

## The held-out loss

{len(plateaus)} plateau{'s' if len(plateaus) != 1 else ''} and {len(rises)} rise{'s' if len(rises) != 1 else ''}
across the seeds' curves (a plateau: a drop per doubling of the step count below a quarter of the steepest drop so
far); {coincide}.

![held-out loss](head_formation/fig_loss.png)

## The final clusters traced back

For each final phrenology cluster whose heads show a type at the end: when its heads took that type for good (the
first step from which they show it at every later record), and whether each was the first head of its model to
show it. {took_over} of {len(b)} heads that end in a typed cluster were not their model's first head of that type:
a seed ends with several heads of one type, and only one of them can be its first.

{table(backtrack_summary(result))}

Does the first head of a type keep it? Per type, the seeds whose first head of the type still shows it at the last
record:

{table(first_heads_kept(result))}

Same order? Each pair of types, in the seeds that grow both:

{table(result.pairs.assign(first=result.pairs["first"].map(NAMES), second=result.pairs["second"].map(NAMES)))}

## Beside the anchors

{anchors(result, cfg)}

## Where induction can form

{induction}"""
    DOC.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.head_formation", description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=checkpoints_dir() / "demo9")
    parser.add_argument("--k", type=float, default=2.0)
    parser.add_argument("--induction", type=Path, help="a fleet of configs/induction.yaml (finished models only)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    fleet, job, result = run(args.fleet, args.k)
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name in ("fig_curves.png", "fig_timeline.png", "fig_loss.png"):
        shutil.copy(job.out / name, FIGURES / name)
    induction, command = NO_INDUCTION_RUN, ""
    if args.induction:
        ind_fleet, ind_job, ind_result = run_induction(args.induction, args.k)
        shutil.copy(ind_job.out / "fig_curves.png", FIGURES / "induction_curves.png")
        shutil.copy(ind_job.out / "fig_loss.png", FIGURES / "induction_loss.png")
        induction = induction_section(ind_fleet, ind_job, ind_result)
        command = induction_command(ind_fleet)
    write_doc(fleet, job, result, time.perf_counter() - started, induction, command,
              args.induction.name if args.induction else "")
    print(answer(result))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
