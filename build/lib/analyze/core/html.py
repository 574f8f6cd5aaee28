"""A self-contained HTML report: figures embedded as base64 PNGs, tables as HTML, readable offline."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444} h2{margin-top:2em;border-bottom:1px solid #ccc}
img{max-width:100%;border:1px solid #eee} table{border-collapse:collapse;font-size:12px;margin:1em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right} pre{background:#f6f6f6;padding:1em;overflow:auto}
.note{color:#555;font-size:14px} .warn{background:#fff3cd;border:1px solid #e0c36c;padding:.5em 1em}
.scroll{overflow-x:auto;max-width:100%}
"""


@dataclass
class Section:
    """One part of a report: a title and any of text (HTML), figures ([(path, caption)]) and tables."""

    title: str
    text: str = ""
    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)


def image_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" data-file="{html.escape(Path(path).name)}" src="data:image/png;base64,{data}">'


def table_html(frame: pd.DataFrame, max_rows: int = 40) -> str:
    shown = frame.head(max_rows)
    more = f"<p class=note>{len(frame) - max_rows} more rows in the CSV.</p>" if len(frame) > max_rows else ""
    return shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="NaN") + more


def render_sections(sections: list[Section]) -> str:
    """Sections as HTML: a heading, the text, the figures (inline PNG) and the tables (scrolling sideways when
    wide)."""
    parts = []
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{section.text}</p>")
        for fig, caption in section.figures:
            parts.append(f"<figure>{image_tag(fig, caption)}<figcaption class=note>{html.escape(caption)}"
                         f"</figcaption></figure>")
        for frame in section.tables:
            parts.append(f"<div class=scroll>{table_html(frame)}</div>")
    return "\n".join(parts)


def write_report(path: Path, title: str, sections: list[Section], config: dict, warning: str = "") -> Path:
    """Write the report; ``warning`` (HTML) is shown in a box under the title, e.g. models missing from a run."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if warning:
        parts.append(f"<p class=warn>{warning}</p>")
    parts.append(render_sections(sections))
    parts.append(f"<h2>Run configuration</h2><pre>{html.escape(json.dumps(config, indent=2, default=str))}</pre>")
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts))
    return Path(path)
