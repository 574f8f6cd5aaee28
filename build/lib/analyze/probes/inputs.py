"""What every probe family is handed for one model, and what it hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


class NotApplicable(Exception):
    """A probe family that cannot apply to this model; the message is the reason recorded for its NaN columns."""


@dataclass
class FamilyOutput:
    """Per-head columns (layer-major, NaN where the family does not apply), extras for the report, and the
    reason behind every column left NaN for the whole model."""

    columns: dict[str, Any] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class ProbeInputs:
    """One model under probe: the bridge, its tokenizer and word lists, and the prompts the families share.

    ``brown_prompts(length, n=None)``: held-out Brown prompts [n, length] in this model's tokens;
    ``brown_frequent(n)``: its n most frequent training-text tokens. ``memo`` holds results several families use
    (e.g. the repeated-token patterns), computed once.
    """

    bridge: Any
    name: str
    tokenizer: Any
    cfg: Any
    words: Any  # analyze.probes.words.WordLists
    bos_id: int | None
    brown_prompts: Callable[..., np.ndarray]
    brown_frequent: Callable[[int], np.ndarray]
    layers: tuple[int, ...] | None = None  # the layers to probe (None: all); other heads' columns stay NaN
    progress: bool = False  # bars inside a family's long loops (ablation and qk on a deep model take minutes)
    memo: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return self.bridge.cfg.n_layers

    @property
    def n_heads(self) -> int:
        return self.bridge.cfg.n_heads

    @property
    def n_total(self) -> int:
        return self.n_layers * self.n_heads

    @property
    def prompt_len(self) -> int:
        return min(self.cfg.max_seq_len, self.bridge.cfg.n_ctx)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    def nan_column(self) -> np.ndarray:
        return np.full(self.n_total, np.nan)

    @property
    def probed_layers(self) -> tuple[int, ...]:
        return tuple(range(self.n_layers)) if self.layers is None else tuple(self.layers)

    def heads(self):
        """``(row, layer, head)`` for every head of the probed layers, layer-major."""
        for layer in self.probed_layers:
            for head in range(self.n_heads):
                yield layer * self.n_heads + head, layer, head

    def head_weights(self, layer: int, head: int):
        """One head's matrices (analyze.core.embeddings.HeadWeights), the model's weight stacks read once."""
        from analyze.core.embeddings import StackedWeights

        return self.cached("stacked_weights", lambda: StackedWeights(self.bridge)).head(layer, head)

    def layer_weights(self, layer: int):
        """Every head's matrices of one layer, with a leading head axis (``StackedWeights.layer``)."""
        from analyze.core.embeddings import StackedWeights

        return self.cached("stacked_weights", lambda: StackedWeights(self.bridge)).layer(layer)


@dataclass
class ReportInputs:
    """What a family's report sections read: the scores, each model's extras, and where figures go."""

    frame: Any  # pandas DataFrame, one row per head
    extras: dict  # {model name: {extra name: value}}
    out: Any  # Path of the run directory
    cfg: Any
    words: Any  # word lists of the (first) model
    tokenizer: Any
    columns: dict = field(default_factory=dict)  # every registered Column by name (registry.columns())

    def top_heads(self, *names: str) -> tuple[str, list[str]]:
        """The first of the columns ``names`` that the frame has, and the top heads by it in its own direction."""
        from analyze.probes.columns import rank_heads

        name = next(n for n in names if n in self.frame)
        return name, list(rank_heads(self.frame, self.columns[name], self.cfg.top_heads).head_id)

    def merged(self, key: str) -> dict:
        """``extras[model][key]`` dicts of every model merged into one (keyed by head id)."""
        return {k: v for e in self.extras.values() for k, v in (e.get(key) or {}).items()}
