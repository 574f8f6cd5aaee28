"""The toy transformer: TransformerLens 4.x's native model, trained bare and wrapped in a bridge for analysis.

Training runs on the plain ``NativeModel`` (no hook overhead). Analysis wraps the same weights in a
``TransformerBridge``, which gives ``run_with_cache``, ``blocks.0.attn.hook_pattern``, ``W_Q``, ``OV`` etc.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch


def build_native_model(tl_config: dict[str, Any], initialise: bool = True) -> torch.nn.Module:
    """A freshly initialised ``NativeModel``; ``tl_config["seed"]`` fixes the weights exactly.

    ``initialise=False`` is for a model whose every weight is loaded next (``train.checkpoints.load_native``): it
    skips TransformerLens's seeded initialisation and, through transformers' ``no_init_weights``, the default
    initialisation of every torch layer as it is built (0.2 s a paper model: a phrenology run loads 18)."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge.sources.native import NativeModel, initialize_native_model
    from transformers.initialization import no_init_weights

    cfg = TransformerBridgeConfig.from_dict(copy.deepcopy(tl_config))
    with torch.random.fork_rng(devices=[]), contextlib.nullcontext() if initialise else no_init_weights():
        model = NativeModel(cfg)
        if initialise:
            initialize_native_model(model, cfg)
    return model


def wrap_in_bridge(model: torch.nn.Module, tl_config: dict[str, Any], model_name: str = "toy", tokenizer=None):
    """Wrap a ``NativeModel`` in a ``TransformerBridge``. The bridge takes the module over (in place)."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    cfg = TransformerBridgeConfig.from_dict(copy.deepcopy(tl_config))
    return build_bridge_from_module(model, architecture="TransformerLensNative", tl_config=cfg,
                                    tokenizer=tokenizer, model_name=model_name)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def final_hidden(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """``NativeModel.forward`` up to, not including, the unembedding.  [batch, pos] → [batch, pos, d_model]

    Training applies the unembedding chunk by chunk (train/loss.py), so it needs the residual stream
    after the final LayerNorm. A test checks ``final_hidden(m, x) @ W_U.T == m(x)``.
    """
    if model.pos is None or float(model.output_logits_soft_cap) > 0:
        raise ValueError("final_hidden supports learned positional embeddings and no logit soft-cap only")
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    hidden = model.tok_embed(input_ids) + model.pos(positions)  # [batch, pos, d_model]
    for block in model.layers:
        (hidden,) = block(hidden)
    return model.ln_out(hidden)
