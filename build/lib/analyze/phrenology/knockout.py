"""Step ``knockout`` (Attention Phrenology §2.1.8–2.1.9): what a head promotes and suppresses in the next-token logits.

A head is knocked out at ``hook_z`` (its per-position output before W_O): zero ablation sets it to 0, mean
ablation to its mean over the knockout prompts at that position. Tokens whose logit rises when the head is
removed are ones the head suppresses; tokens whose logit falls are ones it promotes. One head and its cluster
are shown on one prompt (Figs. 12–13); every head's probability changes over many prompts are projected with
PCA (Fig. 14).

``knockout_study`` computes (frames and arrays); ``write_knockout`` writes files and figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from analyze.core.heads import parse_head_id
from analyze.core.hooks import knockout_logits, logits_at, mean_head_outputs
from train.config import ConfigError


def top_changed_tokens(original: np.ndarray, ablated: np.ndarray, n: int = 5,
                       candidates: int = 200, likely: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token ids most suppressed (logit rises when ablated) and most promoted (logit falls).  [vocab] → ([n], [n])

    Read where the paper reads its scatter: among the ``candidates`` tokens the intact model rates highest, and
    against the median change, since removing a head shifts every logit by a common amount that the softmax
    ignores (without this, the list is filled with tokens the model never predicts, whose logits ride the shift).
    ``likely``: those candidates (``likely_tokens(original, candidates)``) where the caller has them, as a caller
    that knocks out every head of one model does: one sort of the vocabulary a model, not one a head.
    """
    likely = likely_tokens(original, candidates) if likely is None else likely
    delta = (ablated - original)[likely]
    delta = delta - np.median(ablated - original)
    return likely[np.argsort(-delta)[:n]], likely[np.argsort(delta)[:n]]


def likely_tokens(original: np.ndarray, candidates: int = 200) -> np.ndarray:
    """The ``candidates`` tokens with the highest intact logits, highest first.  [vocab] → [candidates]"""
    return np.argsort(-original)[:candidates]


def probability_difference(original_probs: torch.Tensor, ablated_logits: torch.Tensor,
                           kept: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(ablated) - softmax(original), the paper's §2.1.9 vector, given the intact model's probabilities
    (computed once per model, not once per head), on the ``kept`` tokens only when given (the softmax still
    normalises over the whole vocabulary; ``original_probs`` then holds the kept tokens' columns).
    [batch, vocab] → [batch, vocab or kept]"""
    probs = ablated_logits.softmax(-1)
    return (probs if kept is None else probs[:, kept]) - original_probs


@dataclass
class KnockoutResult:
    frame: pd.DataFrame  # one row per (head, ablation mode): top tokens and the Fig. 14 PCA coordinates
    panels: dict = field(default_factory=dict)  # {"head": [...], "cluster": [...]}: (title, x, y, labels)
    prompt: dict = field(default_factory=dict)  # prompt index, position, text, head


def frequent_tokens(fleet, n: int) -> np.ndarray:
    """The ``n`` most frequent GPT-2 tokens of the training text: the coordinates kept for Fig. 14."""
    from train.data import frequent_tokens as most_frequent, tokenize_brown

    _, train, _ = tokenize_brown(fleet.heldout_fraction, fleet.nltk_data, fleet.cache_dir)
    return most_frequent(train, n)


def model_knockouts(bridge, tokens: torch.Tensor, head_ids: list[str], position: int,
                    mean_z: dict[int, torch.Tensor]) -> dict[tuple[str, str], torch.Tensor]:
    """Logits at ``position`` with each head zeroed and mean-ablated, in head order, zero before mean; one forward
    pass per layer (every knockout of that layer in a copy of the prompts of its own).
    → {(head id, "zero" | "mean"): [prompt, vocab]}"""
    by_layer: dict[int, list[tuple[str, int]]] = {}
    for hid in head_ids:
        _, layer, head = parse_head_id(hid)
        by_layer.setdefault(layer, []).append((hid, head))
    out = {}
    for layer, members in by_layer.items():
        keys = [(hid, mode) for hid, _ in members for mode in ("zero", "mean")]
        ablations = [(head, value) for _, head in members for value in (None, mean_z[layer][:, head])]
        for key, logits in zip(keys, knockout_logits(bridge, tokens, layer, ablations, position).cpu()):
            out[key] = logits
    return {key: out[key] for hid in head_ids for key in ((hid, "zero"), (hid, "mean"))}


def knockout_study(fleet, cfg, run) -> KnockoutResult:
    from analyze.phrenology.projections import pca_fit

    heads = run.heads
    cluster_of = run.cluster_of()
    target = cfg.knockout_head or heads.head_id.iloc[0]
    if target not in cluster_of:
        raise ConfigError(f"knockout_head={target} is not a head of this fleet (e.g. {heads.head_id.iloc[0]})")
    mates = [h for h, c in cluster_of.items() if c == cluster_of[target]]
    every = run.prompt_tokens()
    if not 0 <= cfg.knockout_prompt < len(every):
        raise ConfigError(f"knockout_prompt={cfg.knockout_prompt} is not one of the {len(every)} prompts (0..{len(every) - 1})")
    n_pca = min(cfg.knockout_prompts, len(every))  # Fig. 14 reads the first n_pca prompts
    rows = list(range(n_pca)) + ([cfg.knockout_prompt] if cfg.knockout_prompt >= n_pca else [])
    tokens = torch.as_tensor(every[rows])
    p = rows.index(cfg.knockout_prompt)  # the row of the prompt Figs. 12-13 show
    position = cfg.knockout_position % tokens.shape[1]
    kept = torch.as_tensor(frequent_tokens(fleet, cfg.knockout_tokens))
    tok = fleet.tokenizer()
    word = lambda t: tok.decode([int(t)])  # noqa: E731

    records, vectors, panels = [], {"zero": [], "mean": []}, {"head": [], "cluster": []}
    for name, bridge in fleet.bridges():
        device = next(bridge.parameters()).device
        batch = tokens.to(device)
        original = logits_at(bridge, batch, position).cpu()  # [prompt, vocab]
        original_probs = original[:n_pca].softmax(-1)[:, kept]
        mean_z = mean_head_outputs(bridge, batch[:n_pca])  # the mean over the Fig. 14 prompts
        ablated = model_knockouts(bridge, batch, list(heads.head_id[heads.model == name]), position, mean_z)
        x = original[p].numpy()
        likely = likely_tokens(x)
        for (hid, mode), logits in ablated.items():
            y = logits[p].numpy()
            suppressed, promoted = top_changed_tokens(x, y, likely=likely)
            records.append({"head_id": hid, "model": name, "cluster": cluster_of[hid], "ablation": mode,
                            "prompt": cfg.knockout_prompt, "position": position,
                            "mean_abs_logit_change": float(np.abs(y - x).mean()),
                            "top_suppressed": " ".join(repr(word(t)) for t in suppressed),
                            "top_promoted": " ".join(repr(word(t)) for t in promoted)})
            vectors[mode].append(probability_difference(original_probs, logits[:n_pca], kept).reshape(-1).numpy())
            labels = [(int(t), word(t)) for t in (*suppressed, *promoted)]
            if hid == target:
                panels["head"].append((f"{hid}, {mode} ablation", x, y, labels))
            if hid in mates and mode == "zero":
                panels["cluster"].append((f"{hid} (cluster {cluster_of[hid]})", x, y, labels))
    frame = pd.DataFrame(records)
    for mode, vecs in vectors.items():
        xy = pca_fit(np.stack(vecs), 2, cfg.seed).transform(np.stack(vecs))
        frame.loc[frame.ablation == mode, ["pc1", "pc2"]] = xy
    words = " ".join(word(t) for t in tokens[p, : position + 1])
    return KnockoutResult(frame, panels, {"prompt": cfg.knockout_prompt, "position": position, "text": words,
                                          "head": target})


def write_knockout(result: KnockoutResult, out, n_prompts: int, figures) -> None:
    from analyze.core.figures import group_colors
    from analyze.phrenology import plots

    result.frame.to_csv(out / "knockout.csv", index=False)
    figures.draw(plots.logit_scatter, result.panels["head"], out / "fig_knockout_head.png")
    figures.draw(plots.logit_scatter, result.panels["cluster"][:9], out / "fig_knockout_cluster.png")
    zero = result.frame[result.frame.ablation == "zero"]
    figures.draw(plots.labelled_scatter, zero[["pc1", "pc2"]].to_numpy(), list(zero.head_id),
                 f"PCA of probability changes when each head is zeroed, {n_prompts} prompts (Fig. 14)",
                 out / "fig_knockout_pca.png", colors=group_colors(list(zero.cluster)))
    (out / "knockout_prompt.json").write_text(json.dumps(result.prompt))


def step(ctx) -> None:
    run = ctx.run
    result = knockout_study(ctx.fleet, ctx.cfg, run)
    write_knockout(result, ctx.out, min(ctx.cfg.knockout_prompts, len(run.prompts)), ctx.figures)
