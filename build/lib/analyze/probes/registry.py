"""The probe families, one entry each: name, columns, source seed, what it needs, and the functions that compute
and report it. The registry drives the ``--probes`` help, the report's sections and the probe table of docs/probes.md
(``python -m analyze.probes.registry`` prints it; a test fails when that copy differs).
"""

from __future__ import annotations

from analyze.probes.columns import HIGHER, LOWER, Column, ProbeFamily, rank_heads  # noqa: F401 - re-exported


def families() -> dict[str, ProbeFamily]:
    """Every family in report order (imported lazily: each module defines ``FAMILY``)."""
    from analyze.probes import ablation, eigen, layer0, ov, patterns, prediction, qk, semantic

    ordered = [patterns, layer0, ov, eigen, ablation, semantic, qk, prediction]
    return {m.FAMILY.name: m.FAMILY for m in ordered}


def family_names() -> tuple[str, ...]:
    return tuple(families())


def columns() -> dict[str, Column]:
    """Every column of every family, by name."""
    return {c.name: c for fam in families().values() for c in fam.columns}


def column(name: str) -> Column:
    try:
        return columns()[name]
    except KeyError:
        raise ValueError(f"no probe column {name!r}") from None


def best_heads(frame, name: str, top: int | None = None):
    """``frame``'s heads ranked by column ``name`` in its own direction (analyze.probes.columns.rank_heads)."""
    return rank_heads(frame, column(name), top)


def cli_help() -> str:
    return "all, or a comma list of: " + ", ".join(f"{f.name} ({f.source})" for f in families().values())


def markdown_table() -> str:
    """The probe table of docs/probes.md: one row per column, grouped by family."""
    lines = ["| family | column | definition | more of the effect | chance / null | source |",
             "| --- | --- | --- | --- | --- | --- |"]
    for fam in families().values():
        for i, col in enumerate(fam.columns):
            name = f"`{fam.name}`" if i == 0 else ""
            source = fam.source if i == 0 else ""
            arrow = {HIGHER: "higher", LOWER: "**lower**", None: "— (descriptive)"}[col.direction]
            lines.append(f"| {name} | `{col.name}` | {col.meaning} | {arrow} | {col.chance} | {source} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
