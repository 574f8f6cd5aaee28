"""Interactive report pages: one self-contained HTML file per run, explorable offline.

A page is a view over data the pipeline already wrote. Python gathers that data into one JSON object (patterns
quantised to bytes, a few prompts per head), and the page carries, inline and once each: plotly.js (the charts),
``static/heads.js`` (the small script that links the views: hover a head, click it, pick a query token) and
``static/heads.css``. Nothing is fetched: the file opens from ``file://`` with no network, unlike viewers that
load their code from a CDN. Static sections (figures as PNG, tables) follow the interactive part.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from analyze.core.html import Section, render_sections

STATIC = Path(__file__).parent / "static"


def encode_unit(values: np.ndarray) -> str:
    """Values in [0, 1] (attention weights) as base64 bytes, round(255 v): 1/510 is far below what a heatmap
    shows, and a 16 × 16 pattern costs 344 characters instead of ~1,800 as JSON numbers."""
    q = np.round(np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0, 1) * 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode()


def encode_scaled(values: np.ndarray, bits: int = 8) -> dict:
    """Any finite values (logits, map entries) over their own range: ``{"b64", "lo", "hi", "bits"}``. ``bits=4``
    packs two values a byte (16 levels: enough for a heatmap's colours, half the size; the probes page's OV maps,
    the largest data it carries)."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64)).ravel()
    lo, hi = float(v.min()), float(v.max())
    unit = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    if bits == 8:
        return {"b64": encode_unit(unit), "lo": lo, "hi": hi, "bits": 8}
    if bits != 4:
        raise ValueError(f"bits must be 8 or 4, got {bits}")
    q = np.round(unit * 15).astype(np.uint8)
    q = np.concatenate([q, np.zeros(len(q) % 2, dtype=np.uint8)])
    packed = (q[0::2] << 4) | q[1::2]
    return {"b64": base64.b64encode(packed.tobytes()).decode(), "lo": lo, "hi": hi, "bits": 4, "n": int(len(v))}


def decode_scaled(enc: dict) -> np.ndarray:
    """Inverse of ``encode_scaled`` (flat)."""
    raw = np.frombuffer(base64.b64decode(enc["b64"]), dtype=np.uint8)
    if enc.get("bits", 8) == 4:
        unit = np.stack([raw >> 4, raw & 15], axis=1).ravel()[: enc["n"]] / 15.0
    else:
        unit = raw / 255.0
    return enc["lo"] + unit * (enc["hi"] - enc["lo"])


def decode_unit(text: str, shape) -> np.ndarray:
    """Inverse of ``encode_unit`` (for tests and notebooks)."""
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(shape) / 255.0


def _finite(obj):
    """JSON has no NaN: NaN and ±inf become null, numpy scalars and arrays plain values."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def page_json(data: dict) -> str:
    """The page's data as JSON that can sit inside a <script> element ("</" would end it)."""
    return json.dumps(_finite(data), allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def frame_json(frame, title: str, note: str = "") -> dict:
    """A DataFrame as a page table (``framedTable`` in heads.js): title, note, columns and rows, NaN as null."""
    return {"title": title, "note": note, "columns": list(frame.columns),
            "rows": frame.astype(object).where(frame.notna(), None).values.tolist()}


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_page(path: Path, title: str, data: dict, intro: str = "", sections: list[Section] = (),
               config: dict | None = None, warning: str = "") -> Path:
    """Write one page: title, ``intro`` (HTML: findings, verdicts), the interactive views that ``heads.js``
    builds from ``data`` (``data["kind"]`` names the page), then the static ``sections`` and the config."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{(STATIC / 'heads.css').read_text()}</style>",
        f"<script>{plotly_js()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if warning:
        parts.append(f"<p class=warn>{warning}</p>")
    if intro:
        parts.append(f"<div class=intro>{intro}</div>")
    parts.append("<div id='app'></div>")
    parts.append(render_sections(list(sections)))
    if config is not None:
        parts.append("<details><summary>Run configuration</summary><pre>"
                     f"{html.escape(json.dumps(_finite(config), indent=2, default=str))}</pre></details>")
    parts.append(f"<script type='application/json' id='page-data'>{page_json(data)}</script>")
    parts.append(f"<script>{(STATIC / 'heads.js').read_text()}</script></body></html>")
    Path(path).write_text("\n".join(parts))
    return Path(path)


def read_page_data(path: Path) -> dict:
    """The JSON data a page was built from (for tests and for reuse)."""
    text = Path(path).read_text()
    start = text.index("<script type='application/json' id='page-data'>") + len(
        "<script type='application/json' id='page-data'>")
    return json.loads(text[start:text.index("</script>", start)].replace("<\\/", "</"))
