"""The probe families, one entry each: name, columns, source seed, what it needs, and the functions that compute
and report it. The registry drives the ``--probes`` help, the report's sections and the README's probe table
(``python -m analyze.probes.registry`` prints it; a test fails when the README's copy differs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str  # the definition, with the seed equation or sentence it follows
    chance: str  # what an unstructured head scores: the null to read a value against


@dataclass(frozen=True)
class ProbeFamily:
    name: str
    source: str  # "standard", "seed 000", ...
    summary: str
    columns: tuple[Column, ...]
    compute: Callable  # (ProbeInputs) -> FamilyOutput
    needs: tuple[str, ...] = ()  # e.g. "word pairs", "categories", "layer 0"
    report: Callable | None = None  # (ReportInputs) -> list[Section]
    notes: tuple[str, ...] = field(default_factory=tuple)  # readings taken where the seed is ambiguous


def families() -> dict[str, ProbeFamily]:
    """Every family in report order (imported lazily: each module defines ``FAMILY``)."""
    from analyze.probes import ablation, eigen, layer0, ov, patterns, prediction, qk, semantic

    ordered = [patterns, layer0, ov, eigen, ablation, semantic, qk, prediction]
    return {m.FAMILY.name: m.FAMILY for m in ordered}


def family_names() -> tuple[str, ...]:
    return tuple(families())


def cli_help() -> str:
    return "all, or a comma list of: " + ", ".join(f"{f.name} ({f.source})" for f in families().values())


def markdown_table() -> str:
    """The README's probe table: one row per column, grouped by family."""
    lines = ["| family | column | definition | chance / null | source |", "| --- | --- | --- | --- | --- |"]
    for fam in families().values():
        for i, col in enumerate(fam.columns):
            name = f"`{fam.name}`" if i == 0 else ""
            source = fam.source if i == 0 else ""
            lines.append(f"| {name} | `{col.name}` | {col.meaning} | {col.chance} | {source} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
