"""A toy fleet built by hand instead of trained: in every model head 0 attends to itself and head 1 to the
previous token (by positional QK), each model with its own random noise. Phrenology should find exactly
those two clusters, so tests can ask where other models' heads land."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from train.checkpoints import save_toy_model
from train.config import load_config
from train.model import build_native_model
from train.record import FleetRecord, ModelEntry, Status

SHAPE = dict(n_heads=2, d_model=64, d_head=32, d_mlp=64, n_ctx=16)


def build_constructed_fleet(out: Path, n_models: int = 6, noise: float = 0.5, seed: int = 0,
                            swapped: tuple[int, ...] = (), skip: int = 0) -> Path:
    """``swapped``: models whose two heads trade roles (head 0 previous-token, head 1 self). ``skip``: draw and
    discard the first ``skip`` models, so the models saved are new seeds of the same construction (held-out seeds
    of a fleet built with ``n_models <= skip``)."""
    cfg = load_config(None, {**SHAPE, "n": n_models, "seed": 990 + skip})  # draw d is seed 990 + d
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((64, 63))
    m -= m.mean(axis=0)
    basis = np.linalg.qr(m)[0]  # orthonormal, orthogonal to the all-ones vector
    pos, rest = basis[:, :16], basis[:, 16:]
    prev_q, prev_k = np.zeros_like(pos), np.zeros_like(pos)
    prev_q[:, 1:], prev_k[:, 1:] = pos[:, 1:], pos[:, :-1]
    models = []
    for draw in range(skip + n_models):
        i = draw - skip
        model = build_native_model(cfg.tl_config(i))
        attn = model.layers[0].attn
        with torch.no_grad():
            emb = rest @ rng.standard_normal((rest.shape[1], 50_257)) * 0.2
            model.tok_embed.weight.copy_(torch.tensor(emb.T, dtype=torch.float32))
            model.pos.weight.copy_(torch.tensor(pos.T, dtype=torch.float32))
            q = np.zeros((64, 64))  # rows: head dims (head 0: 0..31, head 1: 32..63); columns: d_model
            k = np.zeros((64, 64))
            q[:16], k[:16] = 6 * pos.T, pos.T  # sharp: as the planted GPT-2 heads
            q[32:48], k[32:48] = 6 * prev_q.T, prev_k.T
            q += noise * rng.standard_normal(q.shape)
            if i in swapped:
                q, k = np.roll(q, 32, axis=0), np.roll(k, 32, axis=0)
            attn.q.weight.copy_(torch.tensor(q, dtype=torch.float32))
            attn.k.weight.copy_(torch.tensor(k, dtype=torch.float32))
            attn.q.bias.zero_()
            attn.k.bias.zero_()
        if i < 0:
            continue
        entry = ModelEntry(index=i, seed=cfg.model_seed(i), status=Status.DONE)
        save_toy_model(out / entry.dir, model.state_dict(), cfg.tl_config(i), cfg.to_dict(), i)
        models.append(entry)
    FleetRecord(config=cfg.to_dict(), models=models, split_sha256="constructed").write(out)
    return out
