"""Saving and loading trained toy models: checked weights, atomic checkpoints, ``load_toy_bridge``.

A toy model directory holds ``config.json`` (the TransformerLens config plus the fleet config) and
``model.safetensors`` (the ``NativeModel`` state dict); it describes itself, as nanoGPT checkpoints do.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import torch

from train.errors import UserError
from train.files import atomic_write, write_json
from train.model import build_native_model, wrap_in_bridge

TOY_MARKER = "toyheads"  # key in a toy model's config.json; HF model dirs do not have it


class CheckpointError(UserError, RuntimeError):
    """A checkpoint or model is missing, corrupt or of the wrong kind; the message names the file."""


def save_toy_model(model_dir: Path, state: dict[str, torch.Tensor], tl_config: dict, fleet_config: dict,
                   index: int) -> None:
    """Write ``config.json`` and ``model.safetensors`` (a ``NativeModel`` state dict) for one fleet member."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write(Path(model_dir) / "model.safetensors", lambda p: save_file(state, str(p)))
    write_json(Path(model_dir) / "config.json",
               {TOY_MARKER: 1, "index": index, "tl_config": tl_config, "fleet_config": fleet_config})


def read_toy_config(model_dir: Path) -> dict:
    path = Path(model_dir) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"cannot read {path}: {err}") from err
    if TOY_MARKER not in config:
        raise CheckpointError(f"{path} is not a toyheads model config")
    return config


def check_finite_state(weights: Path, state: dict[str, torch.Tensor]) -> None:
    """One-line error naming the file and tensor when a state dict holds NaN or inf. A header-intact file of
    non-finite weights would otherwise give NaN scores and a complete-looking report (the single check every
    loader uses: toy checkpoints, fleets, Hugging Face dirs)."""
    bad = [name for name, tensor in state.items() if tensor.is_floating_point() and not all_finite(tensor)]
    if bad:
        raise CheckpointError(f"{weights} holds NaN or inf in {bad[0]}"
                              f"{f' and {len(bad) - 1} more tensors' if len(bad) > 1 else ''}; retrain this model "
                              f"or restore the file")


def all_finite(tensor: torch.Tensor) -> bool:
    """True when no element is NaN or inf. A sum carries any NaN or inf through (never back to a finite value), so a
    finite sum settles it in one pass without a boolean copy: 1 ms on a 50,257 x 256 matrix, where ``isfinite``
    took 40 ms (a fleet's open checked 1 GB of weights in 0.85 s). A sum that is not finite may be finite values
    overflowing, so then every element is checked."""
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def read_checked_weights(weights: Path, device: str | torch.device = "cpu",
                         check_finite: bool = True) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, or one line naming the file when it is missing, cut short, corrupt or (unless
    the caller checked it already) holds NaN or inf. Every loader of weights reads through here."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(weights)
    if not weights.exists():
        raise CheckpointError(f"{weights} is missing (was this model's training finished?)")
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights} is corrupt or truncated ({err}); retrain this model or restore the "
                              f"file") from err
    if check_finite:
        check_finite_state(weights, state)
    return state


def load_native(model_dir: Path, device: str | torch.device = "cpu",
                check_finite: bool = True) -> tuple[torch.nn.Module, dict]:
    """The bare ``NativeModel`` of a toy model dir and its config.json, weights checked against the config.
    ``check_finite=False`` for weights a caller has already checked (``analyze.core.fleet.Fleet`` at open), so
    no file is read twice for it."""
    config = read_toy_config(model_dir)
    weights = Path(model_dir) / "model.safetensors"
    state = read_checked_weights(weights, device, check_finite)
    model = build_native_model(config["tl_config"], initialise=False).to(device)  # every weight is loaded below
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{weights} does not match {Path(model_dir) / 'config.json'}: {err}") from err
    return model.eval(), config


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary name, then rename: a crash or a full disk mid-write leaves the previous
    checkpoint whole (a rename is atomic on one filesystem)."""
    atomic_write(Path(path), lambda tmp: torch.save(obj, tmp))


def checkpoint_is_complete(path: Path) -> bool:
    """True when ``path`` is a whole torch zip checkpoint: its central directory, written last, is there and every
    member's CRC matches (a file cut short by a crash fails here, before torch's reader would)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def usable_checkpoint(model_dir: Path, log=None) -> Path | None:
    """The model's ``last.ckpt`` to resume from, or None. An incomplete one (written by a version without atomic
    writes, or damaged) is moved aside to ``last.ckpt.incomplete`` and said in one line: the model restarts."""
    path = Path(model_dir) / "last.ckpt"
    if not path.exists():
        return None
    if checkpoint_is_complete(path):
        return path
    os.replace(path, path.with_name("last.ckpt.incomplete"))
    if log is not None:
        log.warning("%s is incomplete (cut short while it was written); no complete checkpoint is left, so %s "
                    "restarts from step 0 (the damaged file is kept as last.ckpt.incomplete)", path,
                    Path(model_dir).name)
    return None


def member_name(index: int) -> str:
    """The short name of fleet member ``index`` (``m03``): the prefix of its head ids everywhere."""
    return f"m{index:02d}"


def load_toy_bridge(model_dir: str | Path, device: str | torch.device = "cpu", check_finite: bool = True):
    """A ``TransformerBridge`` around a toy model dir's weights, with the GPT-2 tokenizer it was trained with."""
    model, config = load_native(model_dir, device, check_finite)
    return wrap_in_bridge(model, config["tl_config"], model_name=member_name(config["index"]),
                          tokenizer=bridge_tokenizer())


@functools.lru_cache(maxsize=1)
def bridge_tokenizer():
    """GPT-2's tokenizer as TransformerLens sets it up for every bridge (``add_bos_token=True``), made once.

    Given a tokenizer without that flag, TransformerLens reloads it from disk for each bridge it boots (~0.2 s; an
    analysis of a fleet boots dozens); given this one, it keeps it. Toy prompts are token ids, never text, so the
    flag changes nothing they read.
    """
    from transformer_lens.utilities.tokenize_utils import get_tokenizer_with_bos

    from train.tokenizer import load_gpt2_tokenizer

    return get_tokenizer_with_bos(load_gpt2_tokenizer())
