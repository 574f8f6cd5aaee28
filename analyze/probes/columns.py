"""The types every probe family declares itself with: a ``Column`` (its definition, which way is "more of the
effect", and the value a head with no structure gets) and a ``ProbeFamily``.

This module imports nothing from the package, so the families, the registry and the reports can all import it
without a cycle (SAELens keeps its registry types apart the same way).

Directions: ``HIGHER`` — a larger value is more of the effect (previous-token mass, antonym tally);
``LOWER`` — a smaller value is (``semantic_score`` is a KL, ``ov_top_eig_real`` is negative for antonym heads,
``pos_decay`` negative for decaying heads); ``None`` — a descriptive column that ranks nothing (which embedding
fed a map, a class label, a scale-dependent singular value). Everything that names a "best" or "top" head
reads the direction from here (``rank_heads``); nothing hard-codes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Union

HIGHER, LOWER = "higher", "lower"

# The facts a chance value depends on, recorded per model in probes.json ("chance_facts"):
#   n          length of the Brown prompts the pattern scores read
#   n_repeat   length of the repeated-random-token prompts
#   n_words    words in the OV word map (both halves of the antonym pairs)
#   d_head     the model's head dimension
#   bag_size   tokens per prediction-attention bag
Facts = dict
Chance = Union[float, Callable[[Facts], float], None]


def harmonic(n: int) -> float:
    return sum(1.0 / k for k in range(1, int(n) + 1))


def uniform_self(f: Facts) -> float:
    """A causal head spread evenly over the visible keys: query q (1-based) puts 1/q on itself; mean over q."""
    return harmonic(f["n"]) / f["n"]


def uniform_offset(f: Facts) -> float:
    """Mass on one fixed earlier key (previous token, first token) of a uniform causal head: (H_n − 1)/n."""
    return (harmonic(f["n"]) - 1) / f["n"]


def uniform_repeat_half(f: Facts) -> float:
    """Mass of a uniform head on the one matching key in the second half of a repeated sequence."""
    n = f["n_repeat"]
    return (harmonic(n) - harmonic(n // 2)) / n


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str  # the definition, with the seed equation or sentence it follows
    chance: str  # what an unstructured head scores, in words (the "chance / null" column of docs/probes.md)
    direction: str | None = HIGHER  # HIGHER, LOWER, or None for a descriptive column
    null: Chance = None  # the same chance as a number, or a function of the run's facts; None: not defined

    def __post_init__(self) -> None:
        if self.direction not in (HIGHER, LOWER, None):
            raise ValueError(f"column {self.name}: direction must be {HIGHER!r}, {LOWER!r} or None")

    @property
    def ranks(self) -> bool:
        return self.direction is not None

    def chance_value(self, facts: Facts | None = None) -> float | None:
        """The chance value for a model with these facts (None where undefined or a fact is missing)."""
        if self.null is None or isinstance(self.null, (int, float)):
            return None if self.null is None else float(self.null)
        try:
            value = float(self.null(facts or {}))
        except (KeyError, ZeroDivisionError, TypeError):
            return None
        return value if math.isfinite(value) else None

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` shows more of the effect than ``b``."""
        return a < b if self.direction == LOWER else a > b


@dataclass(frozen=True)
class ProbeFamily:
    name: str
    source: str  # "standard", "the antonym-heads post", ...
    summary: str
    columns: tuple[Column, ...]
    compute: Callable  # (ProbeInputs) -> FamilyOutput
    needs: tuple[str, ...] = ()  # e.g. "word pairs", "categories", "layer 0"
    report: Callable | None = None  # (ReportInputs) -> list[Section]
    notes: tuple[str, ...] = field(default_factory=tuple)  # readings taken where the seed is ambiguous

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def rank_heads(frame, column: Column, top: int | None = None):
    """Rows of ``frame`` (one per head) from most to least of ``column``'s effect, NaN last; ``top`` keeps the
    first rows. A descriptive column (no direction) cannot rank heads and raises."""
    if not column.ranks:
        raise ValueError(f"{column.name} is descriptive: it has no direction to rank heads by")
    ranked = frame.sort_values(column.name, ascending=column.direction == LOWER, na_position="last", kind="stable")
    return ranked if top is None else ranked.head(top)
