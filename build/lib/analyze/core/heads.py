"""Head ids, one spelling everywhere: ``m03.L0H5`` (toy model 3, layer 0, head 5), ``gpt2.L1H5`` for a pretrained
model, ``art.self`` for one of the paper's artificial heads. Arrays of heads are layer-major: L0H0, L0H1, ...
"""

from __future__ import annotations

from train.config import ConfigError

ARTIFICIAL_HEADS = ("art.self", "art.uniform_prev", "art.self_prev")


def head_id(model: str, layer: int, head: int) -> str:
    return f"{model}.L{layer}H{head}"


def parse_head_id(hid: str) -> tuple[str, int, int]:
    """``"m03.L0H5"`` → ``("m03", 0, 5)``; a malformed id is a ValueError naming it."""
    model, _, rest = str(hid).rpartition(".")
    layer, sep, head = rest[1:].partition("H")
    if not model or not rest.startswith("L") or not sep or not layer.isdigit() or not head.isdigit():
        raise ConfigError(f"not a head id: {hid!r} (expected e.g. m03.L0H5)")
    return model, int(layer), int(head)


def model_of(hid: str) -> str:
    return parse_head_id(hid)[0]


def head_ids(model: str, n_layers: int, n_heads: int) -> list[str]:
    """Every head of a model, layer-major."""
    return [head_id(model, layer, head) for layer in range(n_layers) for head in range(n_heads)]
