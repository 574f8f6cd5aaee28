"""Helpers the test modules share (fleet comparisons, page checks, the micro config); conftest.py holds the
fixtures. Test modules import from here, never from each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.torch import load_file

from docs.browser import Page
from train.record import model_dir_name

# Paper architecture family shrunk to seconds per model: 1 layer, SoLU-LN, n_ctx 16, GPT-2 vocab.
MICRO = dict(n=2, n_heads=2, d_model=32, d_head=16, d_mlp=64, train_windows=512, val_windows=64,
             batch_size=32, epochs=2, lr=3e-3, weight_decay=0.1, checkpoint_every_n_steps=8,
             log_every_n_steps=4, precision="32-true", record_prompts=32, record_repeat_prompts=16)


# attn.k.bias has zero gradient in exact arithmetic (adding q·b to every key's score of a query leaves its softmax
# unchanged), so what it receives is rounding noise, which Adam scales up to full-size steps: it takes a different
# random walk in any two runs that round differently, and changes nothing the model computes.
FREE_OF_GRADIENT = "layers.0.attn.k.bias"


# bf16 runs that batch their arithmetic otherwise (members per step, a Ray worker's thread count) round otherwise,
# and Adam carries the rounding on: docs/training.md states this bound, per tensor, relative norm, after the micro
# fleet's 32 steps (measured batched against alone: median 0.35%, largest 2.2%, an MLP bias).
BF16_REL = 0.05


def relative_differences(dir_a: Path, dir_b: Path) -> dict[str, float]:
    """Each tensor's ‖a − b‖ / ‖a‖ over every model of two fleets (the gradient-free k bias left out)."""
    out = {}
    for i in range(MICRO["n"]):
        a = load_file(dir_a / model_dir_name(i) / "model.safetensors")
        b = load_file(dir_b / model_dir_name(i) / "model.safetensors")
        out.update({f"{model_dir_name(i)}.{k}": float((a[k] - b[k]).norm() / a[k].norm()) for k in a
                    if k != FREE_OF_GRADIENT})
    return out


def assert_same_models(dir_a: Path, dir_b: Path, rel: float = 1e-5) -> None:
    for i in range(MICRO["n"]):
        a = load_file(dir_a / model_dir_name(i) / "model.safetensors")
        b = load_file(dir_b / model_dir_name(i) / "model.safetensors")
        assert a.keys() == b.keys()
        for key in a:
            if key == FREE_OF_GRADIENT:
                continue
            err = float((a[key] - b[key]).norm() / a[key].norm())
            assert err < rel, f"{model_dir_name(i)} {key}: relative difference {err:.2e}"
        ma = pd.read_csv(dir_a / model_dir_name(i) / "metrics.csv")
        mb = pd.read_csv(dir_b / model_dir_name(i) / "metrics.csv")
        assert list(ma.step) == list(mb.step)
        np.testing.assert_allclose(ma.train_loss, mb.train_loss, atol=1e-5)
        np.testing.assert_allclose(ma.val_loss, mb.val_loss, atol=1e-5)


def isolated_point(page: Page, div: str, ids: list[str]) -> tuple[str, tuple[int, int]]:
    """The head whose marker is farthest from every other marker (so the mouse can only mean that one)."""
    offsets = {h: page.point_offset(div, h) for h in ids}
    xy = np.array(list(offsets.values()), dtype=float)
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
    best = list(offsets)[int(gaps.min(axis=1).argmax())]
    return best, offsets[best]


def assert_offline_and_clean(page: Page) -> None:
    assert page.foreign_requests() == []
    assert page.console_errors() == []


def copy_with_model_01_unfinished(micro_fleet, tmp_path) -> Path:
    import shutil

    from train.record import FleetRecord, Status

    out = tmp_path / "fleet"
    shutil.copytree(micro_fleet[0], out)
    record = FleetRecord.read(out)
    record.models[1].status = Status.INTERRUPTED
    record.write(out)
    (out / "model_01" / "model.safetensors").unlink()
    return out
