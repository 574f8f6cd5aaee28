"""The Attention Phrenology pipeline (Attention Phrenology) on a fleet: steps in order, each cached under its own key.

A step's key hashes the config fields it reads, the keys of the steps whose files it reads and, for steps
that run the models, the fleet's fingerprint. A step whose key is unchanged is skipped, so e.g. changing
``knockout_head`` redoes only ``knockout`` and ``report``, and a rerun after a crash resumes at the first
unfinished step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from analyze.core.figures import FigureQueue
from analyze.core.fleet import Fleet
from analyze.phrenology import autoencoder, cluster, distances, extract, knockout, projections, report, stability
from analyze.phrenology.config import PhrenologyConfig
from analyze.phrenology.context import StepContext

log = logging.getLogger(__name__)

AE_FIELDS = ("seed", "bottlenecks", "ae_hidden", "ae_epochs", "ae_batch_size", "ae_lr", "ae_heldout", "criterion")
SWEEP_FIELDS = ("seed", "knn_k", "knn_weighted", "n_gammas", "gamma_min", "gamma_max")


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], None]
    reads: tuple[str, ...] = ()  # config fields
    after: tuple[str, ...] = ()  # steps whose files it reads
    models: bool = False  # runs the fleet's models
    figures: bool = False  # reads other steps' figures: they are all written before it runs


STEPS = (
    Step("extract", extract.step, ("prompts", "prompt_seed"), models=True),
    Step("distances", distances.step, (), ("extract",)),
    Step("embeddings", projections.step_embeddings, ("seed", "umap_neighbors", "umap_min_dist", "tsne_perplexity"),
         ("extract",)),
    Step("pca", projections.step_pca, ("seed", "pca_components", "pca_prompts"), ("extract",)),
    Step("first_token", projections.step_first_token, ("seed", "first_token_prompts"), ("extract",)),
    Step("autoencoder", autoencoder.step, AE_FIELDS, ("extract",)),
    Step("cluster", cluster.step, SWEEP_FIELDS, ("extract", "autoencoder")),
    Step("knockout", knockout.step, ("seed", "knockout_head", "knockout_prompt", "knockout_position",
                                     "knockout_prompts", "knockout_tokens"), ("extract", "cluster"), models=True),
    Step("stability", stability.step, SWEEP_FIELDS + ("stability_replicates", "null_replicates", "null_gammas"),
         ("autoencoder", "cluster")),
    Step("report", report.step, tuple(PhrenologyConfig.__dataclass_fields__),
         ("extract", "distances", "embeddings", "pca", "first_token", "autoencoder", "cluster", "knockout",
          "stability"), figures=True),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def step_keys(cfg: PhrenologyConfig, fleet_fingerprint: str, partial: tuple[str, ...] = ()) -> dict[str, str]:
    """Each step's cache key (module docstring)."""
    keys: dict[str, str] = {}
    values = asdict(cfg)
    for s in STEPS:
        parts = [s.name, {f: values[f] for f in s.reads}, [keys[a] for a in s.after],
                 fleet_fingerprint if s.models else "", list(partial) if s.name == "report" else []]
        keys[s.name] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return keys


class StepMarkers:
    """Step markers in ``out/steps/``; a marker holds the key its outputs were made with."""

    def __init__(self, out: Path, keys: dict[str, str], force: bool):
        self.dir, self.keys, self.force = out / "steps", keys, force
        self.seconds: dict[str, float] = {}

    def done(self, name: str) -> bool:
        marker = self.dir / f"{name}.json"
        return not self.force and marker.exists() and json.loads(marker.read_text())["key"] == self.keys[name]

    def mark(self, name: str, seconds: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seconds[name] = round(seconds, 2)
        (self.dir / f"{name}.json").write_text(json.dumps({"key": self.keys[name], "seconds": round(seconds, 2)}))


def run_phrenology(fleet: Fleet, cfg: PhrenologyConfig, out: Path, force: bool = False, write_csv: bool = False,
                   progress: bool = True) -> dict[str, float]:
    """Run every step whose outputs are missing or stale; return seconds per step run now. Holds ``out/.lock``:
    a second run on the same folder is refused instead of interleaving its files."""
    from train.files import dir_lock

    with dir_lock(out, "analyze phrenology"):
        return _run_phrenology(fleet, cfg, out, force, write_csv, progress)


def _run_phrenology(fleet: Fleet, cfg: PhrenologyConfig, out: Path, force: bool, write_csv: bool,
                    progress: bool) -> dict[str, float]:
    fingerprint = fleet.fingerprint()
    markers = StepMarkers(out, step_keys(cfg, fingerprint, tuple(fleet.missing_names)), force)
    (out / "config.json").write_text(json.dumps({"phrenology": asdict(cfg), "fleet": str(fleet.path),
                                                 "fleet_fingerprint": fingerprint,
                                                 "missing_models": fleet.missing_names}, indent=2))
    ran: set[str] = set()
    drawing: list[tuple[str, float, list]] = []  # steps run, their figures still being drawn: not yet marked
    with FigureQueue(background=True) as figures:
        ctx = StepContext(fleet, cfg, out, progress, write_csv, figures)
        for s in STEPS:
            if markers.done(s.name) and not ran & set(s.after):  # redone inputs make a cached step stale
                log.info("step %s: cached", s.name)
                continue
            if s.figures:  # the report embeds every figure
                drawing = mark_drawn(markers, drawing, wait=True)
            started = time.perf_counter()
            log.info("step %s ...", s.name)
            s.run(ctx)
            ran.add(s.name)
            drawing.append((s.name, time.perf_counter() - started, figures.handed_over()))
            log.info("step %s: %.1f s", s.name, drawing[-1][1])
            drawing = mark_drawn(markers, drawing)
        mark_drawn(markers, drawing, wait=True)
    return markers.seconds


def mark_drawn(markers: StepMarkers, drawing: list[tuple[str, float, list]], wait: bool = False) -> list:
    """Mark the steps whose figures are all written (every one, once written, with ``wait``); return the rest.

    A step is marked only when all its files exist, figures included, so a run cut short redoes it."""
    rest = []
    for name, seconds, futures in drawing:
        if wait or all(f.done() for f in futures):
            FigureQueue.wait(futures)  # raises a figure's error
            markers.mark(name, seconds)
        else:
            rest.append((name, seconds, futures))
    return rest
