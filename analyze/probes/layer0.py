"""Probe family ``layer0``: layer-0 heads by their positional pattern (Gibson's layer-0 post, "Decomposition of first layer
attention patterns").

The exponentiated attention score of layer-0 head splits into a part that depends only on the key's
position and a part that depends only on its token. The *positional pattern* is the softmax of the
position-only part: the pattern the head shows when every token of the sequence is the same. We compute
it exactly that way, on sequences repeating one destination token, averaged over a few common tokens.

Classes (Gibson's layer-0 post's table), tried in this order:
- ``duplicate_token``: attends to earlier copies of the current token (duplicate score ≥ 0.4).
- ``detokenization``: positional pattern concentrated on the last few tokens (≥ 50% of the mass on
  offsets 1–3, effective number of positions ≤ 4) and translation invariant (offset profile overlap ≥ 0.7).
- ``flat``: no positional preference: the last query's positional pattern is within total-variation distance
  0.1 of uniform over the positions it sees. Without this class a near-uniform head fell into ``contextual`` or
  ``other`` on the sign of a decay statistic that is noise for it.
- ``contextual``: spread over many positions (effective number ≥ 4) and clearly decaying with distance
  (Spearman correlation of weight with offset ≤ −0.5): the exponentially decaying bag-of-tokens average.
- ``other``.
"""

from __future__ import annotations

import numpy as np
import torch

from analyze.core.figures import plt, save_figure
from analyze.core.heads import head_id
from analyze.core.hooks import model_device, run_until
from analyze.probes.inputs import FamilyOutput, NotApplicable, ProbeInputs
from analyze.probes.columns import LOWER, Column, ProbeFamily
from train.head_scores import destination_ids, positional_metrics



@torch.no_grad()
def positional_patterns(bridge, destination_ids: list[int], length: int) -> np.ndarray:
    """Layer-0 patterns on sequences repeating one token, averaged over tokens.  → [head, query, key]"""
    tokens = torch.tensor([[t] * length for t in destination_ids], device=model_device(bridge))
    name = "blocks.0.attn.hook_pattern"
    pattern = run_until(bridge, tokens, [name])[name].float()  # [token, head, query, key]
    return pattern.mean(dim=0).cpu().numpy()


FLAT_TV, DECAY_MARGIN = 0.1, -0.5


def classify_layer0(metrics: dict[str, float], duplicate_score: float) -> str:
    """The rule in the module docstring."""
    if duplicate_score >= 0.4:
        return "duplicate_token"
    if (metrics["pos_recent_mass"] >= 0.5 and metrics["pos_spread"] <= 4
            and metrics["pos_translation_invariance"] >= 0.7):
        return "detokenization"
    if metrics["pos_nonuniformity"] < FLAT_TV:
        return "flat"
    if metrics["pos_spread"] >= 4 and metrics["pos_decay"] <= DECAY_MARGIN:
        return "contextual"
    return "other"


def compute(inputs: ProbeInputs) -> FamilyOutput:
    from analyze.probes.patterns import MASKS, brown_and_repeat_patterns, detection_score

    if 0 not in inputs.probed_layers:
        raise NotApplicable("layer 0 is not among the probed layers")
    p = brown_and_repeat_patterns(inputs)
    duplicate = detection_score(p["repeat"][:inputs.n_heads], MASKS["duplicate_token"](p["repeat_tokens"]))
    positional = positional_patterns(inputs.bridge, destination_ids(inputs.tokenizer), p["brown_tokens"].shape[1])
    names = ("pos_spread", "pos_recent_mass", "pos_translation_invariance", "pos_decay", "pos_nonuniformity")
    columns = {n: inputs.nan_column() for n in names}
    columns["layer0_class"] = np.full(inputs.n_total, np.nan, dtype=object)
    for h in range(inputs.n_heads):
        metrics = positional_metrics(positional[h])
        for n in names:
            columns[n][h] = metrics[n]
        columns["layer0_class"][h] = classify_layer0(metrics, float(duplicate[h]))
    return FamilyOutput(columns, extras={"positional": positional})


def positional_figure(positional: dict[str, np.ndarray], path):
    items = [(head_id(model, 0, h), p[h]) for model, p in positional.items() for h in range(len(p))][:24]
    cols = min(len(items), 8)
    rows = -(-len(items) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows), squeeze=False)
    for ax, (name, p) in zip(axes.flat, items):
        ax.imshow(p, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(name, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(items):]:
        ax.set_axis_off()
    return save_figure(fig, path)


def report(ri) -> list:
    from analyze.core.html import Section

    positional = {m: e["positional"] for m, e in ri.extras.items() if "positional" in e}
    if not positional:
        return []
    fig = positional_figure(positional, ri.out / "fig_positional_patterns.png")
    return [Section("Layer-0 positional patterns (Gibson's layer-0 post)",
                    figures=[(fig, "pattern on sequences of one repeated token; rows: query")])]


FAMILY = ProbeFamily(
    name="layer0", source="Gibson's layer-0 post",
    summary="positional pattern of layer-0 heads (the pattern when every token is the same) and a class",
    columns=(
        Column("pos_spread", "exp(entropy) of the last query's positional pattern: positions attended",
               "n (uniform over n positions)", direction=None, null=lambda f: f["n"]),
        Column("pos_recent_mass", "positional mass on offsets 1–3 from the query", "≈ 3/n for large n", null=lambda f: 3 / f["n"]),
        Column("pos_translation_invariance", "overlap of the offset profiles of late queries", "1 for uniform", direction=None, null=1.0),
        Column("pos_decay", "Spearman correlation of positional weight with offset (< 0: decays)", "0",
               direction=LOWER, null=0.0),
        Column("pos_nonuniformity", "total-variation distance of the last query's positional pattern from uniform",
               "0", null=0.0),
        Column("layer0_class", "duplicate_token / detokenization / flat / contextual / other (Gibson's layer-0 post's table, "
                               "plus flat)", "flat", direction=None),
    ),
    compute=compute, needs=("layer 0",), report=report,
)
