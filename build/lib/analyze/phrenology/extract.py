"""Step ``extract`` (Attention Phrenology §2.1.3): every head's attention pattern on the held-out prompts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analyze.core.heads import ARTIFICIAL_HEADS, head_id
from analyze.core.patterns import artificial_patterns, attention_patterns
from analyze.core.prompts import analysis_prompts
from analyze.core.tokens import readable_tokens


def fleet_patterns(fleet, cfg, progress: bool = False):
    """Every head of every model on the run's held-out prompts (the same prompts for any fleet of one n_ctx).

    → (patterns [head, prompt, q, k] float32, one dict per head: head_id, model, layer, head; the prompts)
    """
    prompts = analysis_prompts(cfg.prompts, fleet.n_ctx, cfg.prompt_seed, fleet.heldout_fraction,
                               fleet.nltk_data, fleet.cache_dir)
    patterns, heads = [], []
    for name, bridge in fleet.bridges(progress):
        p = attention_patterns(bridge, prompts.tokens, cfg.batch_size)  # [layer*head, prompt, q, k]
        patterns.append(p)
        n_heads = bridge.cfg.n_heads
        heads += [{"head_id": head_id(name, i // n_heads, i % n_heads), "model": name, "layer": i // n_heads,
                   "head": i % n_heads} for i in range(len(p))]
    return np.concatenate(patterns).astype(np.float32), heads, prompts


def step(ctx) -> None:
    fleet, cfg, out = ctx.fleet, ctx.cfg, ctx.out
    patterns, heads, prompts = fleet_patterns(fleet, cfg, ctx.progress)
    np.savez(out / "attention.npz", patterns=patterns, head_ids=np.array([h["head_id"] for h in heads]),
             artificial=artificial_patterns(cfg.prompts, fleet.n_ctx), artificial_ids=np.array(ARTIFICIAL_HEADS))
    pd.DataFrame(heads).to_csv(out / "heads.csv", index=False)
    tok = fleet.tokenizer()
    with (out / "prompts.jsonl").open("w") as f:
        for i, (ids, doc) in enumerate(zip(prompts.tokens, prompts.docs)):
            f.write(json.dumps({"prompt": i, "doc": str(doc), "tokens": ids.tolist(),
                                "words": readable_tokens(tok, ids), "text": tok.decode(ids)}) + "\n")
    if ctx.write_csv:
        long_attention_frame(patterns, pd.DataFrame(heads)).to_csv(out / "attention_long.csv", index=False)


def long_attention_frame(patterns: np.ndarray, heads: pd.DataFrame) -> pd.DataFrame:
    """The paper's big CSV: one row per (head, prompt, query, key ≤ query) with its attention weight."""
    h, p, q, k = np.nonzero(np.tril(np.ones(patterns.shape[2:], dtype=bool))[None, None].repeat(
        len(patterns), 0).repeat(patterns.shape[1], 1))
    frame = heads.iloc[h][["model", "layer", "head"]].reset_index(drop=True)
    return frame.assign(prompt=p, query=q, key=k, weight=patterns[h, p, q, k])
