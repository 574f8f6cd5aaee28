"""Probe family ``eigen`` (the antonym-heads and L1H5 posts): the eigenvalues of a head's OV map.

The antonym-heads post: in antonym heads "the highest-magnitude eigenvalues have a negative real component and near-zero
imaginary component". The map is the one the OV tally reads (analyze/probes/ov.py): the block's input norm,
then W_V W_O, so its gain g is folded in, diag(g) W_V W_O, as TransformerLens's ``fold_ln`` folds it (without
the gain, a head whose norm gain flips or scales directions could change sign). The
d_model × d_model map (rank ≤ d_head) has the same non-zero eigenvalues as the d_head × d_head matrix
W_O diag(g) W_V, which is what we diagonalise.
"""

from __future__ import annotations

import numpy as np
import torch

from analyze.core.figures import plt, save_figure
from analyze.core.embeddings import norm_gain
from analyze.core.heads import head_id
from analyze.probes.inputs import FamilyOutput, ProbeInputs
from analyze.probes.columns import LOWER, Column, ProbeFamily


def ov_eigenvalues(w_v: torch.Tensor, w_o: torch.Tensor, gain: torch.Tensor | None = None) -> np.ndarray:
    """Non-zero eigenvalues of diag(g) W_V W_O (g the input norm's gain; none: W_V W_O), from the d_head × d_head
    form W_O diag(g) W_V.  → [d_head] complex"""
    w_v = w_v if gain is None else gain.to(w_v.dtype)[:, None] * w_v
    return torch.linalg.eigvals((w_o @ w_v).detach().double()).cpu().numpy()


def eigen_scores(eigenvalues: np.ndarray) -> dict[str, float]:
    """ov_top_eig_real: real part of the largest-|λ| eigenvalue (negative for antonym heads, the antonym-heads post);
    ov_neg_eig_share: share of total |λ| on eigenvalues with negative real part."""
    mags = np.abs(eigenvalues)
    return {"ov_top_eig_real": float(eigenvalues[np.argmax(mags)].real),
            "ov_neg_eig_share": float(mags[eigenvalues.real < 0].sum() / max(mags.sum(), 1e-30))}


def compute(inputs: ProbeInputs) -> FamilyOutput:
    columns = {c: inputs.nan_column() for c in ("ov_top_eig_real", "ov_neg_eig_share")}
    eigs = {}
    for row, layer, head in inputs.heads():
        w = inputs.head_weights(layer, head)
        eigs[head_id(inputs.name, layer, head)] = values = ov_eigenvalues(w.w_v, w.w_o, norm_gain(inputs.bridge, layer))
        for k, v in eigen_scores(values).items():
            columns[k][row] = v
    return FamilyOutput(columns, extras={"eigenvalues": eigs})


def eigen_figure(eigs: dict[str, np.ndarray], heads: list[str], path):
    fig, axes = plt.subplots(1, len(heads), figsize=(4.5 * len(heads), 4), squeeze=False)
    for ax, hid in zip(axes[0], heads):
        ev = eigs[hid]
        ax.scatter(ev.real, ev.imag, s=8)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(f"{hid}: OV eigenvalues", fontsize=9)
        ax.set_xlabel("Re λ")
        ax.set_ylabel("Im λ")
    return save_figure(fig, path)


def report(ri) -> list:
    from analyze.core.html import Section

    eigs = ri.merged("eigenvalues")
    if not eigs:
        return []
    _, heads = ri.top_heads("antonym_tally", "ov_neg_eig_share")
    fig = eigen_figure(eigs, heads, ri.out / "fig_ov_eigenvalues.png")
    return [Section("OV eigenvalues", figures=[(fig, "complex plane, top heads")])]


FAMILY = ProbeFamily(
    name="eigen", source="the antonym-heads and L1H5 posts",
    summary="eigenvalues of the OV map diag(g) W_V W_O (g: the input norm's gain)",
    columns=(
        Column("ov_top_eig_real", "real part of the largest-|λ| eigenvalue of diag(g) W_V W_O, the OV map through the input norm's "
                                  "gain g (negative: antonym-like)",
               "sign random for a random head", direction=LOWER, null=0.0),
        Column("ov_neg_eig_share", "share of Σ|λ| on eigenvalues with negative real part", "≈ 0.5 for a random head",
               null=0.5),
    ),
    compute=compute, report=report,
)
