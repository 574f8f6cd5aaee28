"""The phrenology knockout step: one head and its cluster on one prompt (Figs. 12–13), every head over many
prompts (Fig. 14), written to ``knockout.csv`` and figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from analyze import plots
from analyze.embed import pca_fit
from analyze.extract import parse_head_id
from analyze.knockout import (knockout_logits, logits_at, mean_head_outputs, probability_difference,
                              top_changed_tokens)


def frequent_tokens(fleet, n: int) -> np.ndarray:
    """The ``n`` most frequent GPT-2 tokens of the training text: the coordinates kept for Fig. 14."""
    from train.data import frequent_tokens as most_frequent, tokenize_brown

    _, train, _ = tokenize_brown(fleet.heldout_fraction, fleet.nltk_data, fleet.cache_dir)
    return most_frequent(train, n)


def knockout_study(fleet, cfg, out) -> None:
    heads = pd.read_csv(out / "heads.csv")
    cluster_of = dict(pd.read_csv(out / "clusters.csv").itertuples(index=False))
    target = cfg.knockout_head or heads.head_id.iloc[0]
    if target not in cluster_of:
        raise ValueError(f"--knockout-head {target} is not a head of this fleet (e.g. {heads.head_id.iloc[0]})")
    mates = [h for h, c in cluster_of.items() if c == cluster_of[target]]
    with (out / "prompts.jsonl").open() as f:
        prompts = np.array([json.loads(line)["tokens"] for line in f])
    tokens = torch.as_tensor(prompts[: cfg.knockout_prompts])
    p = min(cfg.knockout_prompt, len(tokens) - 1)
    position = cfg.knockout_position % tokens.shape[1]
    kept = torch.as_tensor(frequent_tokens(fleet, cfg.knockout_tokens))
    tok = fleet.tokenizer()
    word = lambda t: tok.decode([int(t)])  # noqa: E731

    rows, vectors, panels = [], {"zero": [], "mean": []}, {"head": [], "cluster": []}
    for name, bridge in fleet.bridges():
        original = logits_at(bridge, tokens, position)  # [prompt, vocab]
        mean_z = mean_head_outputs(bridge, tokens)
        for hid in heads.head_id[heads.model == name]:
            _, layer, head = parse_head_id(hid)
            for mode in ("zero", "mean"):
                ablated = knockout_logits(bridge, tokens, layer, head, position, None if mode == "zero" else mean_z)
                x, y = original[p].numpy(), ablated[p].numpy()
                suppressed, promoted = top_changed_tokens(x, y)
                rows.append({"head_id": hid, "model": name, "cluster": cluster_of[hid], "ablation": mode,
                             "prompt": p, "position": position,
                             "mean_abs_logit_change": float(np.abs(y - x).mean()),
                             "top_suppressed": " ".join(repr(word(t)) for t in suppressed),
                             "top_promoted": " ".join(repr(word(t)) for t in promoted)})
                vectors[mode].append(probability_difference(original, ablated)[:, kept].reshape(-1).numpy())
                labels = [(int(t), word(t)) for t in (*suppressed, *promoted)]
                if hid == target:
                    panels["head"].append((f"{hid}, {mode} ablation", x, y, labels))
                if hid in mates and mode == "zero":
                    panels["cluster"].append((f"{hid} (cluster {cluster_of[hid]})", x, y, labels))
    frame = pd.DataFrame(rows)
    for mode, vecs in vectors.items():
        xy = pca_fit(np.stack(vecs), 2, cfg.seed).transform(np.stack(vecs))
        frame.loc[frame.ablation == mode, ["pc1", "pc2"]] = xy
    frame.to_csv(out / "knockout.csv", index=False)
    words = " ".join(word(t) for t in tokens[p, : position + 1])
    plots.logit_scatter(panels["head"], out / "fig_knockout_head.png")
    plots.logit_scatter(panels["cluster"][:9], out / "fig_knockout_cluster.png")
    zero = frame[frame.ablation == "zero"]
    plots.labelled_scatter(zero[["pc1", "pc2"]].to_numpy(), list(zero.head_id),
                           f"PCA of probability changes when each head is zeroed, {len(tokens)} prompts (Fig. 14)",
                           out / "fig_knockout_pca.png", colors=plots._colors(list(zero.cluster)))
    (out / "knockout_prompt.json").write_text(json.dumps({"prompt": p, "position": position, "text": words,
                                                          "head": target}))
