"""bf16 where the hardware runs it natively: detection, the mixed-precision loss, and fp32/bf16 training parity."""

import shutil

import pandas as pd
import pytest
import torch

from tests.helpers import MICRO
from train import hardware
from train.config import load_config
from train.fleet import train_fleet
from train.loss import bf16_unembed_cross_entropy, plain_unembed_cross_entropy


@pytest.mark.parametrize("native, speedup, expected", [(True, 2.5, "bf16-mixed"), (True, 0.6, "32-true"),
                                                     (False, 2.5, "32-true")])
def test_auto_precision_needs_native_bf16_that_is_also_faster(native, speedup, expected, monkeypatch):
    """AMD's family-26 EPYC (bf16 2-4x fp32) trains in bf16; an Intel Xeon whose AVX-512 BF16 runs at 0.6x fp32
    (AMX hidden by its hypervisor) and a CPU without the feature train in fp32."""
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(hardware, "cpu_bf16_speedup", lambda: speedup)
    assert hardware.resolve_device("cpu", "auto") == ("cpu", expected)
    assert hardware.resolve_device("cpu", "32-true") == ("cpu", "32-true")  # an explicit choice stands


@pytest.mark.machine
def test_bf16_speedup_is_measured_on_this_cpu():
    """The measurement is a real timing: positive, finite, and the same verdict when asked twice (cached)."""
    speedup = hardware.cpu_bf16_speedup()
    assert 0 < speedup < 100
    assert hardware.cpu_bf16_speedup() == speedup


def test_a_resumed_auto_fleet_keeps_the_precision_it_started_in(micro_fleet, nltk_data, cache_dir, monkeypatch,
                                                               tmp_path):
    """precision=auto is a measurement; a fleet resumed on a machine that measures otherwise must not switch, or
    its resume would not be bit-identical. A new fleet on that machine does take bf16."""
    from train.fleet import prepare_fleet
    from train.record import FleetRecord

    fleet = tmp_path / "fleet"
    shutil.copytree(micro_fleet[0], fleet)
    record = FleetRecord.read(fleet)
    record.config["precision"] = "auto"  # as if started with auto on a machine that measured fp32 faster
    record.write(fleet)
    cfg = load_config(None, record.config)
    monkeypatch.setattr(hardware, "cpu_bf16_is_faster", lambda: True)
    assert record.precision == prepare_fleet(cfg, fleet, nltk_data, cache_dir)[2] == "32-true"
    assert FleetRecord.read(fleet).precision == "32-true"
    assert prepare_fleet(cfg, tmp_path / "new", nltk_data, cache_dir)[2] == "bf16-mixed"


def test_native_bf16_is_read_from_torch_cpu_features(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_bf16": False})
    assert not hardware.cpu_has_native_bf16()
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    assert hardware.cpu_has_native_bf16()
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    assert hardware.cpu_has_native_bf16()


def test_bf16_loss_is_the_fp32_loss_to_bf16_precision():
    """bf16 operands (2^-8 relative) put the loss within a few 1e-3 and the gradients within ~1% of fp64."""
    torch.manual_seed(0)
    hidden = torch.randn(3, 300, 32, dtype=torch.float64, requires_grad=True)
    w_u = (0.3 * torch.randn(3, 2000, 32, dtype=torch.float64)).requires_grad_()
    targets = torch.randint(0, 2000, (3, 300))
    weights = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    ref = plain_unembed_cross_entropy(hidden, w_u, targets)
    ref_grads = torch.autograd.grad((ref * weights).sum(), (hidden, w_u))
    h32, w32 = hidden.detach().float().requires_grad_(), w_u.detach().float().requires_grad_()
    got = bf16_unembed_cross_entropy(h32, w32, targets, chunk=64)  # 300 = 4 chunks + a ragged one
    grads = torch.autograd.grad((got * weights.float()).sum(), (h32, w32))
    assert got.dtype == torch.float32 and grads[1].dtype == torch.float32  # fp32 master gradient
    assert (got.double() - ref).abs().max() < 5e-3
    for g, r in zip(grads, ref_grads):
        assert float((g.double() - r).norm() / r.norm()) < 1.5e-2


@pytest.mark.slow
def test_bf16_training_ends_at_the_fp32_val_loss(nltk_data, cache_dir, tmp_path):
    """The same seed, 256 steps of the micro model (batch 8) in fp32 and in bf16-mixed: the val losses differ by less
    than 0.01 nats, two orders of magnitude below the ~3 nats they fell."""
    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = load_config(None, {**MICRO, "n": 1, "train_windows": 1024, "batch_size": 8, "precision": precision,
                                 "checkpoint_every_n_steps": 1000})
        record = train_fleet(cfg, tmp_path / precision, nltk_data, cache_dir, progress=False)
        assert record.models[0].precision == precision and record.models[0].steps == 256
        metrics = pd.read_csv(tmp_path / precision / "model_00" / "metrics.csv")
        losses[precision] = metrics.val_loss.dropna().to_numpy()
    assert abs(losses["32-true"][-1] - losses["bf16-mixed"][-1]) < 0.01
    assert losses["32-true"][-1] < 10.8 - 2.5
