"""Models that serve as controls of the calibrated placement (analyze/compare/calibration.py), saved as local
Hugging Face dirs so ``analyze compare --pretrained DIR`` or ``--control NAME=DIR`` reads them like any model.

- ``positional_gpt2``: a one-layer GPT-2 with the GPT-2 tokenizer whose heads attend by position alone, sharply:
  "3 tokens back", "always absolute position 2", ... No one-layer toy trained on Brown grows such a head, so a
  calibrated test must give them small p (its power).
- ``random_init_like``: a pretrained model's architecture and config with Hugging Face's own initialisation: what
  the placement says of a model that learned nothing.

Geometry of ``positional_gpt2`` (as in the planted probe models): every direction is orthogonal to the all-ones
vector, so LayerNorm only rescales; positions get one orthonormal direction each, tokens random vectors in the
remaining space, the MLP and the value/output maps are zero.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

POSITIONAL_KINDS = "self, prev, back:K (K tokens back), abs:P (always position P)"


def orthonormal_basis(d_model: int, rng: np.random.Generator) -> np.ndarray:
    """[d_model, d_model - 1] orthonormal columns, each orthogonal to the all-ones vector."""
    m = rng.standard_normal((d_model, d_model - 1))
    m -= m.mean(axis=0)
    return np.linalg.qr(m)[0]


def positional_target(kind: str, n_ctx: int) -> np.ndarray:
    """[query, key] 0/1 matrix of the keys a positional head attends (a query with no such key gets none and
    spreads its attention evenly over what it sees)."""
    target = np.zeros((n_ctx, n_ctx))
    if kind == "self":
        return np.eye(n_ctx)
    if kind == "prev":
        return np.eye(n_ctx, k=-1)
    match = re.fullmatch(r"(back|abs):(\d+)", kind)
    if not match:
        raise ValueError(f"unknown positional head {kind!r}; kinds: {POSITIONAL_KINDS}")
    n = int(match.group(2))
    if match.group(1) == "back":
        return np.eye(n_ctx, k=-n)
    target[n:, n] = 1.0
    return target


def save_one_layer_gpt2(out: Path, wte: np.ndarray, wpe: np.ndarray, c_attn: np.ndarray, c_proj: np.ndarray,
                        n_head: int) -> Path:
    """A one-layer GPT-2 (tied embeddings, no dropout, zero MLP and biases) with the given weights, saved to ``out``.

    wte: [d_model, vocab]; wpe: [d_model, positions]; c_attn: [d_model, 3 d_model] (Q | K | V, heads side by
    side); c_proj: [d_model, d_model] (rows: heads' value dims)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    d_model, n_positions = wpe.shape
    config = GPT2Config(vocab_size=wte.shape[1], n_positions=n_positions, n_embd=d_model, n_layer=1, n_head=n_head,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        model.transformer.wte.weight.copy_(t(wte.T))
        model.transformer.wpe.weight.copy_(t(wpe.T))
        block = model.transformer.h[0]
        block.attn.c_attn.weight.copy_(t(c_attn))
        block.attn.c_attn.bias.zero_()
        block.attn.c_proj.weight.copy_(t(c_proj))
        block.attn.c_proj.bias.zero_()
        for p in block.mlp.parameters():
            p.zero_()
    model.save_pretrained(out)
    return Path(out)


def positional_gpt2(out: Path, kinds: list[str], n_ctx: int = 16, d_model: int = 128, sharpness: float = 3.0,
                    seed: int = 0) -> Path:
    """Save a one-layer GPT-2 whose head i attends as ``kinds[i]`` says, with the GPT-2 tokenizer, to ``out``."""
    from train.tokenizer import load_gpt2_tokenizer

    n_head = len(kinds)
    d_head = d_model // n_head
    if d_head < n_ctx:
        raise ValueError(f"d_model {d_model} leaves {d_head} dims a head, fewer than the {n_ctx} positions")
    rng = np.random.default_rng(seed)
    basis = orthonormal_basis(d_model, rng)
    pos, rest = basis[:, :n_ctx], basis[:, n_ctx:]
    wte = rest @ rng.standard_normal((rest.shape[1], 50_257))
    wte *= np.sqrt(2) / np.linalg.norm(wte, axis=0)
    w_q, w_k = [], []
    for kind in kinds:  # score(q, k) = pos_q · W_Q W_K^T · pos_k = target[q, k]
        target = positional_target(kind, n_ctx)
        q_map = np.zeros((d_model, d_head))
        k_map = np.zeros((d_model, d_head))
        q_map[:, :n_ctx] = pos @ target  # query at q carries the row of keys it wants
        k_map[:, :n_ctx] = pos  # key at k carries its position
        w_q.append(q_map)
        w_k.append(k_map)
    zeros = np.zeros((d_model, d_model))
    c_attn = np.concatenate([sharpness * np.concatenate(w_q, 1), np.concatenate(w_k, 1), zeros], 1)
    save_one_layer_gpt2(out, wte, pos, c_attn, zeros, n_head)
    load_gpt2_tokenizer().save_pretrained(str(out))
    return Path(out)


def random_init_like(source: Path, out: Path, seed: int = 0) -> Path:
    """The model in ``source`` (a Hugging Face dir) re-created from its config with Hugging Face's initialisation,
    saved with its tokenizer to ``out``."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(source)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(str(out))
    return Path(out)
