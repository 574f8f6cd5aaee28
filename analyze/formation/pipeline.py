"""``python -m analyze formation``: when each seed of a fleet grows its heads, from the records its models wrote
while training (``train.formation``), and whether the heads that end in a phrenology cluster were the first to
fill that role.

Writes into ``--out``: curves.csv (one row per head and recorded step: every score and the held-out loss),
emergence.csv (model × type: the first step and head, and whether that head keeps the type to the end),
summary.csv (per type: median and spread over seeds), order.csv, pairwise_order.csv (per pair of types: in how many
seeds growing both the first comes earlier), loss_events.csv and coincidences.csv (plateaus and rises of the
held-out loss, and the types that appear at their edges), backtrack.csv (the final clusters traced back), figures, config.json and report.html.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analyze.core.heads import head_ids, parse_head_id
from analyze.formation import emergence as em
from train.errors import UserError

log = logging.getLogger(__name__)


class NoRecords(UserError, ValueError):
    """A fleet whose models wrote no head records while training."""


@dataclass
class FormationJob:
    """The one config of a formation run."""

    out: Path
    k: float = 2.0  # a head shows a type at k × the type's uniform-head score
    phrenology_dir: Path | None = None  # the final clusters (clusters.csv); None: no back-tracking
    plateau_share: float = 0.25  # a plateau drops less than this share of the steepest drop per doubling so far

    def __post_init__(self) -> None:
        from train.config import ConfigError

        if not self.k > 1:
            raise ConfigError(f"--k must be above 1 (a multiple of the uniform head's score), got {self.k}")
        if not 0 < self.plateau_share < 1:
            raise ConfigError(f"plateau_share must be in (0, 1), got {self.plateau_share}")


@dataclass
class Formation:
    """Everything a formation run computed (the frames it writes)."""

    steps: dict[str, np.ndarray]
    loss: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]  # model → [step, head, score] (train.formation.SCORES order)
    patterns: dict[str, np.ndarray]  # model → [step, head, q, k]
    head_names: list[str]
    thresholds: dict[str, float]
    emergence: pd.DataFrame
    summary: pd.DataFrame
    order: pd.DataFrame
    pairs: pd.DataFrame  # per pair of types, the seeds growing both and which came first (em.pairwise_order)
    events: pd.DataFrame
    coincidences: pd.DataFrame
    backtrack: pd.DataFrame
    clusters: dict[str, int]


def read_records(fleet) -> dict:
    """Every finished model's records, or one line saying which models have none and how records are made."""
    from train.formation import RECORD_FILE, HeadRecord

    paths = {m.name: fleet.path / m.dir / RECORD_FILE for m in fleet.models}
    lacking = [name for name, p in paths.items() if not p.exists()]
    if lacking:
        which = "its models" if len(lacking) == len(paths) else f"{', '.join(lacking)}"
        off = " (it was trained with record_heads=false)" if not fleet.config.record_heads else ""
        raise NoRecords(f"fleet {fleet.path} has no head records for {which}{off}: model_XX/{RECORD_FILE} is "
                        f"written while a fleet trains; train one that records them with python -m train fleet "
                        f"--config CONFIG --out NEW_DIR (recording is on by default)")
    records = {name: HeadRecord.read(p) for name, p in paths.items()}
    steps = {name: r.steps.tolist() for name, r in records.items()}
    if len({tuple(s) for s in steps.values()}) > 1:
        log.warning("the models were recorded at different steps; each is read at its own")
    return records


def read_clusters(phrenology_dir: Path, head_ids: list[str]) -> dict[str, int]:
    """``clusters.csv`` of a phrenology run on this fleet (head_id → cluster), checked to cover its heads."""
    from train.config import ConfigError

    path = Path(phrenology_dir) / "clusters.csv"
    if not path.exists():
        raise ConfigError(f"{path} does not exist; run python -m analyze phrenology --fleet FLEET --out "
                          f"{phrenology_dir} first, or leave --phrenology-dir out to skip the back-tracking")
    frame = pd.read_csv(path)
    clusters = dict(zip(frame["head_id"], frame["cluster"].astype(int)))
    missing = [h for h in head_ids if h not in clusters]
    if missing:
        raise ConfigError(f"{path} is not a phrenology run of this fleet: it lacks {len(missing)} of its heads "
                          f"(e.g. {missing[0]})")
    return clusters


def formation(records: dict, n_layers: int, n_heads: int, n_ctx: int, job: FormationJob,
              clusters: dict[str, int] | None = None) -> Formation:
    """The analysis of the module docstring, from records in memory."""
    from train.formation import SCORES

    type_columns = [SCORES.index(t) for t in em.TYPES]
    head_names = [f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)]
    chance = em.chance_values(n_ctx)
    thresholds = {t: job.k * chance[t] for t in em.TYPES}
    steps = {m: r.steps for m, r in records.items()}
    typed = {m: r.scores[:, :, type_columns] for m, r in records.items()}
    table = em.emergence(typed, steps, head_names, thresholds)
    events, hits = [], []
    for model, r in records.items():
        found = em.loss_events(r.steps, r.val_loss, job.plateau_share)
        events.append(found.assign(model=model))
        hits.append(em.coincidences(found, table[table["model"] == model], r.steps).assign(model=model))
    backtrack = (em.backtrack(typed, steps, head_names, clusters, thresholds) if clusters
                 else pd.DataFrame(columns=["cluster", "type", "head_id", "model", "final_type_from",
                                            "model_first_step", "model_first_head", "was_first"]))
    return Formation(steps, {m: r.val_loss for m, r in records.items()}, {m: r.scores for m, r in records.items()},
                     {m: r.patterns for m, r in records.items()}, head_names, thresholds, table, em.summarise(table),
                     em.orders(table), em.pairwise_order(table), pd.concat(events, ignore_index=True),
                     pd.concat(hits, ignore_index=True), backtrack, clusters or {})


def curves_frame(result: Formation) -> pd.DataFrame:
    """One row per head and recorded step: model, head_id, layer, head, step, val_loss and every score."""
    from train.formation import SCORES

    parts = []
    for model, s in result.scores.items():
        n_steps, n_heads = s.shape[:2]
        frame = pd.DataFrame(s.reshape(n_steps * n_heads, -1), columns=list(SCORES))
        frame.insert(0, "model", model)
        ids = [f"{model}.{name}" for name in result.head_names]  # rows are step-major: every head of a step
        parsed = [parse_head_id(hid) for hid in ids]
        frame.insert(1, "head_id", ids * n_steps)
        frame.insert(2, "layer", [layer for _, layer, _ in parsed] * n_steps)
        frame.insert(3, "head", [head for _, _, head in parsed] * n_steps)
        frame.insert(4, "step", np.repeat(result.steps[model], n_heads))
        frame.insert(5, "val_loss", np.repeat(result.loss[model], n_heads))
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def run_formation(fleet, job: FormationJob, progress: bool = True) -> Formation:
    """Read the fleet's records (and clusters), compute, and write the outputs of the module docstring."""
    import json

    from train.files import dir_lock

    records = read_records(fleet)
    cfg = fleet.config
    clusters = None
    if job.phrenology_dir is not None:
        ids = [hid for m in records for hid in head_ids(m, cfg.n_layers, cfg.n_heads)]
        clusters = read_clusters(job.phrenology_dir, ids)
    result = formation(records, cfg.n_layers, cfg.n_heads, cfg.n_ctx, job, clusters)
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    with dir_lock(out, "analyze formation"):
        curves_frame(result).to_csv(out / "curves.csv", index=False)
        files = {"emergence": "emergence", "summary": "summary", "order": "order", "pairs": "pairwise_order",
                 "events": "loss_events", "coincidences": "coincidences", "backtrack": "backtrack"}
        for name, file in files.items():
            getattr(result, name).to_csv(out / f"{file}.csv", index=False)
        (out / "config.json").write_text(json.dumps(
            {"fleet": str(fleet.path), "job": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(job).items()},
             "thresholds": result.thresholds, "models": list(records)}, indent=2))
        from analyze.formation.report import write_formation_report

        write_formation_report(result, fleet, job, out)
    return result
