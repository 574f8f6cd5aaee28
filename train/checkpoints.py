"""Saving and loading trained models: atomic writes, ``load_model`` and ``load_fleet`` for everything downstream.

A toy model directory holds ``config.json`` (the TransformerLens config plus the fleet config) and
``model.safetensors`` (the ``NativeModel`` state dict); it describes itself, as nanoGPT checkpoints do.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from train.model import build_native_model, wrap_in_bridge

TOY_MARKER = "toyheads"  # key in a toy model's config.json; HF model dirs do not have it


class CheckpointError(RuntimeError):
    """A checkpoint or model is missing, corrupt or of the wrong kind; the message names the file."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` onto ``path``: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n"))


def save_toy_model(model_dir: Path, model: torch.nn.Module, tl_config: dict, fleet_config: dict, index: int) -> None:
    """Write ``config.json`` and ``model.safetensors`` for one fleet member."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
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


def load_native(model_dir: Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """The bare ``NativeModel`` of a toy model dir and its config.json, weights checked against the config."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = read_toy_config(model_dir)
    weights = Path(model_dir) / "model.safetensors"
    if not weights.exists():
        raise CheckpointError(f"{weights} is missing (was this model's training finished?)")
    try:
        state = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights} is corrupt or truncated ({err}); retrain this model or restore the file")
    model = build_native_model(config["tl_config"]).to(device)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{weights} does not match {Path(model_dir) / 'config.json'}: {err}") from err
    return model.eval(), config


def load_model(name_or_dir: str | Path, device: str | torch.device | None = None):
    """A ``TransformerBridge`` for a toy model dir, a local HF model dir, or an HF model name in the local cache."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = Path(name_or_dir)
    if not path.exists():
        return _boot_pretrained(str(name_or_dir), device, offline_name=True)
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path} has no config.json: it is neither a toy model dir nor a HF model dir")
    config = json.loads((path / "config.json").read_text())
    if TOY_MARKER not in config:
        return _boot_pretrained(str(path), device)
    from train.tokenizer import load_gpt2_tokenizer

    model, config = load_native(path, device)
    return wrap_in_bridge(model, config["tl_config"], model_name=f"m{config['index']:02d}",
                          tokenizer=load_gpt2_tokenizer())


def _boot_pretrained(name_or_dir: str, device, offline_name: bool = False):
    """Pretrained GPT-2-architecture model through ``TransformerBridge.boot_transformers``, no network."""
    from transformer_lens.model_bridge import TransformerBridge

    from train.tokenizer import GPT2_VOCAB_SIZE, load_gpt2_tokenizer

    if offline_name:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(name_or_dir, "config.json")
        except Exception:  # noqa: BLE001 - any failure here means "not cached"
            cached = None
        if not isinstance(cached, str):
            raise CheckpointError(
                f"{name_or_dir!r} is no local directory and not in the local Hugging Face cache (offline); "
                f"download it elsewhere (huggingface-cli download {name_or_dir}) and copy the cache, or pass "
                f"a local directory made with save_pretrained")
    from transformers import AutoConfig

    hf_config = AutoConfig.from_pretrained(name_or_dir)
    tokenizer = load_gpt2_tokenizer() if getattr(hf_config, "vocab_size", None) == GPT2_VOCAB_SIZE else None
    bridge = TransformerBridge.boot_transformers(name_or_dir, device=device, tokenizer=tokenizer)
    bridge.enable_compatibility_mode()
    return bridge


def load_fleet(fleet_dir: str | Path, device: str | torch.device | None = None) -> list:
    """Bridges for every finished model of a fleet, in index order (failed or unfinished ones are skipped)."""
    fleet_dir = Path(fleet_dir)
    record = read_fleet_record(fleet_dir)
    return [load_model(fleet_dir / m["dir"], device) for m in record["models"] if m["status"] == "done"]


def read_fleet_record(fleet_dir: str | Path) -> dict:
    path = Path(fleet_dir) / "fleet.json"
    if not path.exists():
        raise CheckpointError(f"{fleet_dir} is not a fleet (no fleet.json); train one with: python -m train fleet")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is corrupt: {err}") from err
