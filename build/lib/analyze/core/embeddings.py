"""What a head reads and how it maps it: the token embeddings fed to the OV and QK probes, one definition.

- ``raw``: rows of W_E.
- ``ee``: the effective embedding W_EE (McDougall & Conmy, App. A): each token run alone through block 0 with the
  positional embedding zeroed. A one-token sequence makes layer-0 attention the identity, and with rotary
  embeddings position 0 is no rotation, so the residual stream after block 0 (embedding + attention + MLP0,
  gated or not, sequential or parallel as the architecture has them) is a function of the token alone.
- ``auto``: raw for layer-0 heads (nothing precedes them), W_EE for later layers (antonym-heads post, the L1H5 post and McDougall & Conmy).

``head_input`` applies the block's own input norm (LayerNorm or RMSNorm, with its weights), so the vectors are
exactly what the head's W_Q, W_K and W_V multiply. ``head_weights`` returns one head's matrices, taking W_K and
W_V from the key/value group the head reads under grouped-query attention, and zero biases where the model has
none.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from analyze.core.hooks import model_device, run_until
from train.config import ConfigError

EMBEDDINGS = ("raw", "ee", "auto")


@torch.no_grad()
def raw_embedding(bridge, token_ids) -> torch.Tensor:
    """[n] → [n, d_model] rows of W_E."""
    return bridge.W_E[torch.as_tensor(token_ids, device=bridge.W_E.device)].float()


@torch.no_grad()
def effective_embedding(bridge, token_ids, batch_size: int = 4096) -> torch.Tensor:
    """W_EE rows for ``token_ids``.  [n] → [n, d_model]"""
    tokens = torch.as_tensor(token_ids, device=model_device(bridge))[:, None]  # [n, 1]
    hooks = [("hook_pos_embed", lambda x, hook: torch.zeros_like(x))] if has_hook(bridge, "hook_pos_embed") else []
    name = "blocks.0.hook_resid_post"
    out = [run_until(bridge, tokens[i:i + batch_size], [name], hooks)[name][:, 0].float()
           for i in range(0, len(tokens), batch_size)]
    return torch.cat(out)


def has_hook(bridge, name: str) -> bool:
    return name in bridge.hook_dict


def embedding_for_layer(layer: int, embedding: str) -> str:
    """Which embedding heads of ``layer`` read under the ``--embedding`` choice: "raw" or "ee"."""
    if embedding not in EMBEDDINGS:
        raise ConfigError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")
    return "raw" if embedding == "raw" or (embedding == "auto" and layer == 0) else "ee"


class TokenEmbeddings:
    """Raw and effective embeddings of one token set, each computed once and only when a layer needs it."""

    def __init__(self, bridge, token_ids):
        self.bridge, self.token_ids = bridge, token_ids
        self._cache: dict[str, torch.Tensor] = {}
        self._layer_input: tuple[tuple[int, str], torch.Tensor] | None = None  # the last layer's, shared by its heads

    def get(self, kind: str) -> torch.Tensor:
        if kind not in self._cache:
            make = raw_embedding if kind == "raw" else effective_embedding
            self._cache[kind] = make(self.bridge, self.token_ids)
        return self._cache[kind]

    def head_input(self, layer: int, embedding: str = "auto") -> torch.Tensor:
        """What block ``layer``'s heads read for each token, through its input norm.  → [n, d_model]

        Probes walk the heads layer by layer, so the last layer's result is kept for its other heads (one norm
        pass per layer, not per head; keeping every layer would hold n × d_model per layer)."""
        key = (layer, embedding_for_layer(layer, embedding))
        if self._layer_input is None or self._layer_input[0] != key:
            self._layer_input = key, head_input(self.bridge, layer, self.get(key[1]))
        return self._layer_input[1]


@torch.no_grad()
def head_input(bridge, layer: int, vectors: torch.Tensor) -> torch.Tensor:
    """``vectors`` [n, d_model] through block ``layer``'s input norm (ln1).  → [n, d_model]"""
    return bridge.blocks[layer].ln1(vectors[None])[0].float()


@dataclass(frozen=True)
class HeadWeights:
    """One head's matrices: W_Q, W_K, W_V [d_model, d_head], W_O [d_head, d_model], biases [d_head]."""

    w_q: torch.Tensor
    w_k: torch.Tensor
    w_v: torch.Tensor
    w_o: torch.Tensor
    b_q: torch.Tensor
    b_k: torch.Tensor
    b_v: torch.Tensor


def kv_group(bridge, head: int) -> int:
    """The key/value head a query head reads: heads are grouped in order (HF ``repeat_kv``)."""
    n_kv = getattr(bridge.cfg, "n_key_value_heads", None) or bridge.cfg.n_heads
    return head // (bridge.cfg.n_heads // n_kv)


class StackedWeights:
    """Every layer's W_Q, W_K, W_V, W_O and biases, each read from the bridge once.

    A bridge builds ``bridge.W_Q`` (``[layer, head, d_model, d_head]``) anew from all its layers on every access,
    ~240 ms each on SmolLM2's 30 layers; a probe family that read it per head spent most of its time there.
    Keep one of these per model and ask it for heads.
    """

    def __init__(self, bridge):
        self.bridge = bridge
        self._stacks: dict[str, torch.Tensor | None] = {}

    @torch.no_grad()
    def stack(self, name: str) -> torch.Tensor | None:
        """``bridge.<name>`` read once; None for a bias the architecture does not have (Llama, SmolLM)."""
        if name not in self._stacks:
            try:
                self._stacks[name] = getattr(self.bridge, name)
            except (AttributeError, ValueError, RuntimeError):
                self._stacks[name] = None
        return self._stacks[name]

    def head(self, layer: int, head: int) -> HeadWeights:
        kv = kv_group(self.bridge, head)
        w_q, w_k = self.stack("W_Q")[layer, head], self.stack("W_K")[layer, kv]
        w_v, w_o = self.stack("W_V")[layer, kv], self.stack("W_O")[layer, head]
        return HeadWeights(w_q, w_k, w_v, w_o, self._bias("b_Q", layer, head, w_q), self._bias("b_K", layer, kv, w_k),
                           self._bias("b_V", layer, kv, w_v))

    def layer(self, layer: int) -> HeadWeights:
        """Every head of one layer at once, each field with a leading head axis ([n_heads, d_model, d_head] ...);
        under grouped-query attention W_K, W_V and their biases are the groups' as each query head reads them."""
        heads = range(self.bridge.cfg.n_heads)
        kv = torch.tensor([kv_group(self.bridge, h) for h in heads])
        w_q, w_k = self.stack("W_Q")[layer], self.stack("W_K")[layer][kv]
        w_v, w_o = self.stack("W_V")[layer][kv], self.stack("W_O")[layer]
        biases = [torch.stack([self._bias(name, layer, int(g), like[0]) for g in groups])
                  for name, groups, like in (("b_Q", heads, w_q), ("b_K", kv, w_k), ("b_V", kv, w_v))]
        return HeadWeights(w_q, w_k, w_v, w_o, *biases)

    def _bias(self, name: str, layer: int, head: int, like: torch.Tensor) -> torch.Tensor:
        stacked = self.stack(name)
        if stacked is None:
            return torch.zeros(like.shape[-1], dtype=like.dtype, device=like.device)
        return stacked[layer, head]


@torch.no_grad()
def norm_gain(bridge, layer: int) -> torch.Tensor | None:
    """The elementwise gain of block ``layer``'s input norm (LayerNorm or RMSNorm weight), None when it has none.

    What a head's W_V reads is g ⊙ x̂ (x̂ the normalised residual), so the linear map from x̂ through the head is
    diag(g) W_V W_O: TransformerLens's ``fold_ln`` folds g into W_V the same way."""
    ln = bridge.blocks[layer].ln1
    for part in (ln, getattr(ln, "original_component", None)):
        weight = getattr(part, "weight", None) if part is not None else None
        if isinstance(weight, torch.Tensor):
            return weight.detach()
    return None


def head_weights(bridge, layer: int, head: int) -> HeadWeights:
    """One head's matrices (for one-off use; loops over heads keep a ``StackedWeights``)."""
    return StackedWeights(bridge).head(layer, head)


@torch.no_grad()
def unembedding_bias(bridge) -> torch.Tensor:
    try:
        b_u = bridge.b_U
    except (AttributeError, ValueError, RuntimeError):
        b_u = None
    return torch.zeros(bridge.W_U.shape[1], device=bridge.W_U.device) if b_u is None else b_u
