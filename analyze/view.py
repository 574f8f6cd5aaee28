"""The report pages' head view in a notebook (Jupyter, VS Code), without a server or a network:

>>> from analyze.view import open_run
>>> run = open_run("runs/phrenology/demo")      # a phrenology, probes or compare run directory
>>> run.head("m03.L0H5")                         # displays its pattern on a held-out prompt, tokens on both axes
>>> run.head("m03.L0H5", prompt=2).pattern       # the [query, key] array itself

A run is read from the data its ``report.html`` carries (the same view the page draws), so a notebook shows
exactly what the page shows. ``_repr_html_`` returns a PNG heatmap (matplotlib) and the head's facts.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyze.core.page import decode_unit, read_page_data
from train.errors import UserError


class ViewError(UserError, ValueError):
    """A run or head that cannot be shown; the message says what is there instead."""


@dataclass
class HeadView:
    head_id: str
    pattern: np.ndarray  # [query, key]
    tokens: list[str]
    facts: dict  # cluster, model, scores: what the page says about the head
    source: str  # which prompt set

    def figure(self):
        from analyze.core.figures import plt

        n = len(self.pattern)
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        shown = np.where(np.tril(np.ones((n, n), dtype=bool)), self.pattern, np.nan)
        image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
        labels = [f"{i}:{t}" for i, t in enumerate(self.tokens[:n])]
        ax.set_xticks(range(0, n, max(1, n // 8)))  # key positions, horizontal; the tokens are the rows' labels
        ax.set_yticks(range(n), labels, fontsize=7)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel("key position")
        ax.set_ylabel("query")
        ax.set_title(f"{self.head_id} on {self.source}", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, label="attention")
        fig.tight_layout()
        return fig

    def _repr_png_(self) -> bytes:
        from analyze.core.figures import plt

        fig = self.figure()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        plt.close(fig)
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        png = base64.b64encode(self._repr_png_()).decode()
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_short(v))}</td></tr>"
                       for k, v in self.facts.items())
        return (f"<div class=toyheads-head><h4>{html.escape(self.head_id)}</h4>"
                f"<div style='display:flex;gap:1em;align-items:flex-start'>"
                f"<img alt='{html.escape(self.head_id)} pattern' src='data:image/png;base64,{png}'>"
                f"<table>{rows}</table></div></div>")


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class RunView:
    """A finished run's page data: ``head(id, prompt=0)`` → ``HeadView``; ``heads`` lists the ids."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        page = self.path / "report.html" if self.path.is_dir() else self.path
        if not page.exists():
            raise ViewError(f"{page} does not exist; run python -m analyze phrenology|probes|compare first")
        self.data = read_page_data(page)
        self.kind = self.data["kind"]

    @property
    def heads(self) -> list[str]:
        d = self.data
        if self.kind == "phrenology":
            return [h["id"] for h in d["heads"]]
        if self.kind == "probes":
            return [r["head_id"] for r in d["rows"]]
        return [h["id"] for h in d["toy"]["heads"] + d["theirs"]["heads"]]

    def head(self, head_id: str, prompt: int = 0, kind: str = "brown") -> HeadView:
        """One head on one of the page's prompts (probes pages: ``kind`` brown or repeat)."""
        if head_id not in self.heads:
            raise ViewError(f"no head {head_id!r} in {self.path} ({len(self.heads)} heads, e.g. {self.heads[0]})")
        d = self.data
        if self.kind == "phrenology":
            info = next(h for h in d["heads"] if h["id"] == head_id)
            encoded, tokens, source = d["patterns"][head_id], [p["tokens"] for p in d["prompts"]], "held-out prompt"
            facts = {k: info[k] for k in ("model", "cluster", "description")}
        elif self.kind == "probes":
            row = next(r for r in d["rows"] if r["head_id"] == head_id)
            encoded = d["samples"][head_id][kind]
            tokens, source = d["sample_tokens"][row["model"]][kind], f"{kind} prompt"
            facts = {c["name"]: row[c["name"]] for c in d["columns"] if c["direction"] and row.get(c["name"]) is not None}
        else:
            side = "toy" if any(h["id"] == head_id for h in d["toy"]["heads"]) else "theirs"
            info = next(h for h in d[side]["heads"] if h["id"] == head_id)
            encoded, tokens, source = d[side]["patterns"][head_id], d[side]["prompts"], "prompt"
            facts = {k: v for k, v in info.items() if k not in ("x", "y", "id")}
        if not 0 <= prompt < len(encoded):
            raise ViewError(f"prompt {prompt} is not on the page: it keeps prompts 0..{len(encoded) - 1} per head")
        n = len(tokens[prompt])
        return HeadView(head_id, decode_unit(encoded[prompt], (n, n)), tokens[prompt], facts, f"{source} {prompt}")


def open_run(path: str | Path) -> RunView:
    return RunView(path)
