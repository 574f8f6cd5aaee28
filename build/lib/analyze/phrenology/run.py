"""Reading a phrenology run directory: the one place that knows its file names and layouts.

The pipeline's steps, the knockout study, the report and ``analyze compare`` all read a run through
``PhrenologyRun``; arrays are loaded once per reader.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from analyze.core.heads import model_of

FILES = {  # what each step leaves behind (the ones later steps and compare read)
    "extract": ("attention.npz", "prompts.jsonl", "heads.csv"),
    "autoencoder": ("aic.csv", "codes.npy", "autoencoder.pt", "chosen_bottleneck.json"),
    "cluster": ("resolution_sweep.csv", "clusters.csv"),
}


class PhrenologyRun:
    def __init__(self, path: Path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, *steps: str) -> bool:
        """True when every file of these steps is present."""
        return all(self.file(f).exists() for s in steps for f in FILES[s])

    # --- extract ---
    @cached_property
    def _attention(self) -> dict:
        with np.load(self.file("attention.npz")) as data:
            return {k: data[k] for k in data.files}

    @property
    def patterns(self) -> np.ndarray:
        """[head, prompt, query, key] of the fleet's heads."""
        return self._attention["patterns"]

    @property
    def head_ids(self) -> list[str]:
        return [str(h) for h in self._attention["head_ids"]]

    @property
    def models(self) -> np.ndarray:
        """The model of every head, e.g. ``m03``.  → [head]"""
        return np.array([model_of(h) for h in self.head_ids])

    @property
    def artificial(self) -> tuple[np.ndarray, list[str]]:
        return self._attention["artificial"], [str(a) for a in self._attention["artificial_ids"]]

    @cached_property
    def prompts(self) -> list[dict]:
        """One dict per prompt: ``prompt``, ``doc``, ``tokens``, ``words``, ``text``."""
        with self.file("prompts.jsonl").open() as f:
            return [json.loads(line) for line in f]

    def prompt_tokens(self, n: int | None = None) -> np.ndarray:
        """[prompt, n_ctx] token ids of the first ``n`` prompts."""
        return np.array([p["tokens"] for p in self.prompts[:n]])

    def prompt_words(self, n: int) -> list[list[str]]:
        return [p["words"] for p in self.prompts[:n]]

    @cached_property
    def heads(self) -> pd.DataFrame:
        return pd.read_csv(self.file("heads.csv"))

    # --- autoencoder ---
    @cached_property
    def codes(self) -> np.ndarray:
        """[head, prompt, bottleneck] codes of the chosen autoencoder."""
        return np.load(self.file("codes.npy"))

    def autoencoder(self):
        from analyze.phrenology.autoencoder import PatternAutoencoder

        return PatternAutoencoder.load(self.file("autoencoder.pt"))

    @cached_property
    def chosen_bottleneck(self) -> dict:
        return json.loads(self.file("chosen_bottleneck.json").read_text())

    @cached_property
    def aic_table(self) -> pd.DataFrame:
        return pd.read_csv(self.file("aic.csv"))

    # --- cluster ---
    @cached_property
    def sweep(self) -> pd.DataFrame:
        return pd.read_csv(self.file("resolution_sweep.csv"))

    @cached_property
    def best(self) -> pd.Series:
        """The sweep row of the chosen γ (analyze.phrenology.cluster.best_row: highest F, ties to the smaller γ)."""
        from analyze.phrenology.cluster import best_row

        return pd.Series(best_row(self.sweep.to_dict("records")))

    @cached_property
    def clusters(self) -> pd.DataFrame:
        """``head_id``, ``cluster``."""
        return pd.read_csv(self.file("clusters.csv"))

    def cluster_of(self) -> dict[str, int]:
        return dict(zip(self.clusters.head_id, self.clusters.cluster))

    # --- stability, knockout ---
    @cached_property
    def stability(self) -> pd.DataFrame:
        return pd.read_csv(self.file("stability.csv"))

    @cached_property
    def knockout(self) -> pd.DataFrame:
        return pd.read_csv(self.file("knockout.csv"))

    @cached_property
    def knockout_prompt(self) -> dict:
        return json.loads(self.file("knockout_prompt.json").read_text())

    @cached_property
    def null_verdict(self) -> dict:
        """The shuffled-heads null's verdict on the chosen clustering (``stability``)."""
        return json.loads(self.file("null_verdict.json").read_text())

    # --- projections, report ---
    @cached_property
    def embedding(self) -> pd.DataFrame:
        """``head_id``, ``method`` (pca, tsne, umap), ``x``, ``y``, ``artificial``."""
        return pd.read_csv(self.file("embedding.csv"))

    @cached_property
    def pca_table(self) -> pd.DataFrame:
        """``component``, ``explained_variance_ratio``."""
        return pd.read_csv(self.file("pca.csv"))

    @cached_property
    def findings(self) -> dict:
        """The report's findings: ``shared_clusters`` and the ``null_verdict``."""
        return json.loads(self.file("findings.json").read_text())

    @cached_property
    def config(self) -> dict:
        """The run's ``config.json``: the phrenology config, the fleet and its fingerprint."""
        return json.loads(self.file("config.json").read_text())
