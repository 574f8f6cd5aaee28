"""Fleet training end to end with the real Lightning Trainer on the real Brown corpus (micro model)."""

import json
import shutil
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from train.__main__ import main
from train.checkpoints import CheckpointError, load_native, load_toy_bridge
from train.config import load_config
from train.fleet import FleetMismatch, train_fleet
from train.formation import RECORD_FILE, HeadRecord, record_steps
from train.group import load_member
from train.module import FleetGroup
from train.record import FleetRecord, Status, load_fleet, model_dir_name
from tests.helpers import MICRO, copy_with_model_01_unfinished

ROOT = Path(__file__).resolve().parents[2]


def test_fleet_outputs_exist_and_loss_goes_down(micro_fleet, micro_config):
    out, record = micro_fleet
    fleet = json.loads((out / "fleet.json").read_text())
    assert fleet["seeds"] == [990, 991] and fleet["split_sha256"] == json.loads((out / "split.json").read_text())["sha256"]
    from importlib import metadata

    assert fleet["versions"]["transformer-lens"] == metadata.version("transformer-lens")  # not "?"
    for m in fleet["models"]:
        assert m["status"] == "done" and m["steps"] == micro_config.total_steps() == 32
        d = out / m["dir"]
        assert {"config.json", "model.safetensors", "metrics.csv", "last.ckpt"} <= {p.name for p in d.iterdir()}
        metrics = pd.read_csv(d / "metrics.csv")
        assert list(metrics.columns) == ["step", "epoch", "train_loss", "val_loss", "tokens_per_s"]
        train = metrics.dropna(subset=["train_loss"])
        assert train.train_loss.iloc[-1] < train.train_loss.iloc[0] - 1.0  # from ~10.8 (uniform) downwards
        assert metrics.val_loss.notna().sum() == micro_config.epochs
        assert m["final_val_loss"] < 10.0


def test_saved_models_load_as_bridges_with_the_trained_logits(micro_fleet):
    out, _ = micro_fleet
    bridges = load_fleet(out)
    assert len(bridges) == 2
    x = torch.randint(0, 50_257, (2, 16))
    for i, bridge in enumerate(bridges):
        module = load_member(out / model_dir_name(i))
        with torch.no_grad():
            torch.testing.assert_close(bridge(x), module(x[None])[0], rtol=1e-4, atol=1e-4)
        _, cache = bridge.run_with_cache(x)
        pattern = cache["blocks.0.attn.hook_pattern"]  # [batch, head, query, key]
        assert pattern.shape == (2, 2, 16, 16)
        torch.testing.assert_close(pattern.sum(-1), torch.ones(2, 2, 16))


def test_same_seed_same_weights_other_seed_other_weights(micro_fleet, micro_config, nltk_data, cache_dir, tmp_path):
    out, _ = micro_fleet
    solo = load_config(None, {**MICRO, "n": 1, "seed": 991})  # the fleet's second member, trained alone
    train_fleet(solo, tmp_path / "solo", nltk_data, cache_dir, progress=False)
    a = load_file(out / "model_01" / "model.safetensors")
    b = load_file(tmp_path / "solo" / "model_00" / "model.safetensors")
    c = load_file(out / "model_00" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["layers.0.attn.q.weight"], c["layers.0.attn.q.weight"])


@pytest.mark.slow
def test_killed_fleet_resumes_and_skips_finished_models(micro_fleet, micro_config, nltk_data, cache_dir, tmp_path):
    """kill -9 while model_01 is mid-run; the rerun ends exactly where an uninterrupted run ends."""
    ref_dir, _ = micro_fleet
    out = tmp_path / "killed"
    overrides = [f"{k}={v}" for k, v in {**MICRO, "checkpoint_every_n_steps": 2}.items()]
    cmd = [sys.executable, "-m", "train", "fleet", "--out", str(out), "--no-progress", "--nltk-data",
           str(nltk_data), "--cache-dir", str(cache_dir), *overrides]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (out / "model_01" / "last.ckpt").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before model_01 wrote a checkpoint"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = json.loads((out / "fleet.json").read_text())
    assert [m["status"] for m in killed["models"]] == ["done", "running"]
    finished_at = (out / "model_00" / "model.safetensors").stat().st_mtime_ns

    resumed_cfg = load_config(None, {**MICRO, "checkpoint_every_n_steps": 2})
    record = train_fleet(resumed_cfg, out, nltk_data, cache_dir, progress=False)
    assert (out / "model_00" / "model.safetensors").stat().st_mtime_ns == finished_at  # not redone
    m1 = record.models[1]
    assert m1.status == Status.DONE and 0 < m1.resumed_from_step < 32 and m1.steps == 32
    steps = pd.read_csv(out / "model_01" / "metrics.csv").query("train_loss == train_loss").step
    assert steps.is_monotonic_increasing and steps.is_unique
    a = load_file(out / "model_01" / "model.safetensors")
    b = load_file(ref_dir / "model_01" / "model.safetensors")
    for k in a:  # resumed mid-epoch on the same batches: the same model as the uninterrupted run
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    # and the same head records: every scheduled step once, the values of the uninterrupted run
    resumed, whole = (HeadRecord.read(d / "model_01" / RECORD_FILE) for d in (out, ref_dir))
    assert resumed.steps.tolist() == whole.steps.tolist() == record_steps(resumed_cfg)
    for name in ("val_loss", "scores", "patterns"):
        np.testing.assert_allclose(getattr(resumed, name), getattr(whole, name), rtol=1e-4, atol=1e-5, err_msg=name)


def test_other_config_in_same_dir_is_refused(micro_fleet, nltk_data, cache_dir):
    out, _ = micro_fleet
    before = (out / "fleet.json").read_text()
    with pytest.raises(FleetMismatch, match="lr"):
        train_fleet(load_config(None, {**MICRO, "lr": 0.5}), out, nltk_data, cache_dir, progress=False)
    assert (out / "fleet.json").read_text() == before


def test_nonfinite_loss_stops_the_model_and_keeps_a_good_checkpoint(nltk_data, cache_dir, tmp_path):
    cfg = load_config(None, {**MICRO, "n": 1, "lr": 1e30, "weight_decay": 0.0})
    record = train_fleet(cfg, tmp_path / "nan", nltk_data, cache_dir, progress=False)
    m = record.models[0]
    assert m.status == Status.FAILED and "non-finite loss" in m.error

    def no_nan(constant):
        raise AssertionError(f"fleet.json holds {constant}, which strict JSON parsers reject")

    stored = json.loads((tmp_path / "nan" / "fleet.json").read_text(), parse_constant=no_nan)
    assert stored["models"][0]["status"] == "failed"
    state = torch.load(tmp_path / "nan" / "model_00" / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values())


def test_corrupt_safetensors_is_named(micro_fleet, tmp_path):
    out, _ = micro_fleet
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((out / "model_00" / "config.json").read_text())
    data = (out / "model_00" / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt or truncated"):
        load_native(bad)


@pytest.mark.parametrize("argv, message", [
    (["fleet", "--nltk-data", "/nonexistent"], "Brown corpus not found"),
    (["fleet", "d_modle=3"], "unknown config key"),
    (["fleet", "--config", "configs/nope.yaml"], "does not exist"),
    (["fleet", "--n", "100000"], "a fleet of 100000 models needs about 43,782 GB for its checkpoints (438 MB a model)"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "x" / "fleet.json").exists()  # refused before anything is written


def test_cli_config_mismatch_exit_2(micro_fleet, capsys, nltk_data, cache_dir):
    out, _ = micro_fleet
    argv = ["fleet", "--out", str(out), "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir),
            *[f"{k}={v}" for k, v in {**MICRO, "epochs": 5}.items()]]
    assert main(argv) == 2
    assert "another config" in capsys.readouterr().err


def test_fast_path_trains_the_same_model_as_the_plain_path(micro_fleet, nltk_data, cache_dir, tmp_path):
    """Chunked unembedding + fused AdamW (the defaults) against full logits + the for-loop AdamW.

    Same seed, same batches: the two differ only in float32 summation order, about 1e-7 relative per
    step. Adam divides by sqrt(v), so early steps can amplify that; over the micro fleet's 32 steps the
    train losses stay within 2e-3 of each other, two orders of magnitude below the loss's own drop per step.
    """
    out, _ = micro_fleet
    plain = load_config(None, {**MICRO, "n": 1, "loss_chunk": 0, "fused_adamw": False})
    train_fleet(plain, tmp_path / "plain", nltk_data, cache_dir, progress=False)
    fast_curve = pd.read_csv(out / "model_00" / "metrics.csv").dropna(subset=["train_loss"])
    plain_curve = pd.read_csv(tmp_path / "plain" / "model_00" / "metrics.csv").dropna(subset=["train_loss"])
    assert list(fast_curve.step) == list(plain_curve.step)
    diff = (fast_curve.train_loss.to_numpy() - plain_curve.train_loss.to_numpy())
    assert abs(diff).max() < 2e-3
    assert load_toy_bridge(tmp_path / "plain" / "model_00").cfg.n_heads == 2


def test_a_run_that_raises_marks_its_model_error_not_running(nltk_data, cache_dir, tmp_path, monkeypatch):
    def broken(self):
        raise RuntimeError("optimizer exploded")

    monkeypatch.setattr(FleetGroup, "configure_optimizers", broken)
    with pytest.raises(RuntimeError, match="optimizer exploded"):
        train_fleet(load_config(None, {**MICRO, "n": 1}), tmp_path / "f", nltk_data, cache_dir, progress=False)
    model = json.loads((tmp_path / "f" / "fleet.json").read_text())["models"][0]
    assert model["status"] == "error" and "optimizer exploded" in model["error"]


def test_second_run_on_the_same_fleet_is_refused(micro_fleet, nltk_data, cache_dir, capsys):
    from train.fleet import fleet_lock

    out, _ = micro_fleet
    with fleet_lock(out):  # a first run holds the fleet
        code = main(["fleet", "--out", str(out), "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "another train fleet run" in err and str(os.getpid()) in err and len(err.splitlines()) == 1


def test_train_takes_the_config_of_an_existing_fleet(micro_fleet, nltk_data, cache_dir, capsys):
    """``python -m train fleet --out DIR`` with no --config resumes DIR's own fleet (here: nothing left to do)."""
    out, _ = micro_fleet
    before = (out / "model_00" / "model.safetensors").stat().st_mtime_ns
    assert main(["fleet", "--out", str(out), "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir),
                 "--no-progress"]) == 0
    assert "2/2 models done" in capsys.readouterr().out
    assert (out / "model_00" / "model.safetensors").stat().st_mtime_ns == before


def test_written_files_get_ordinary_permissions(micro_fleet):
    out, _ = micro_fleet
    mask = os.umask(0)
    os.umask(mask)
    for path in (out / "fleet.json", out / "model_00" / "metrics.csv", out / "model_00" / "config.json"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


def test_kill_between_checkpoint_and_validation_keeps_the_validation_row(micro_fleet, nltk_data, cache_dir,
                                                                          tmp_path, monkeypatch):
    """The checkpoint at an epoch's last step is written before that epoch's validation; a run dying in between
    used to resume past the validation. The resumed run now writes the missing row, with the same value."""
    original = FleetGroup.validation_step

    def dies_in_first_validation(self, tokens, batch_idx):
        if self.current_epoch == 0:
            raise RuntimeError("killed before the first validation")
        return original(self, tokens, batch_idx)

    monkeypatch.setattr(FleetGroup, "validation_step", dies_in_first_validation)
    cfg = load_config(None, {**MICRO, "n": 1})
    with pytest.raises(RuntimeError, match="killed"):
        train_fleet(cfg, tmp_path / "f", nltk_data, cache_dir, progress=False)
    assert json.loads((tmp_path / "f" / "fleet.json").read_text())["models"][0]["status"] == "error"
    monkeypatch.setattr(FleetGroup, "validation_step", original)
    train_fleet(cfg, tmp_path / "f", nltk_data, cache_dir, progress=False)
    got = pd.read_csv(tmp_path / "f" / "model_00" / "metrics.csv").dropna(subset=["val_loss"])
    ref = pd.read_csv(micro_fleet[0] / "model_00" / "metrics.csv").dropna(subset=["val_loss"])
    assert list(got.step) == list(ref.step) == [16, 32] and list(got.epoch) == [0, 1]
    np.testing.assert_allclose(got.val_loss, ref.val_loss, rtol=1e-6)


def test_truncated_brown_zip_is_one_line(nltk_data, tmp_path, capsys):
    corpora = tmp_path / "nltk" / "corpora"
    corpora.mkdir(parents=True)
    data = (nltk_data / "corpora" / "brown.zip").read_bytes()
    (corpora / "brown.zip").write_bytes(data[: len(data) // 3])
    code = main(["fleet", "--out", str(tmp_path / "x"), "--nltk-data", str(tmp_path / "nltk"),
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "truncated or corrupt" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------- faults a new user hits (issue 22)

def test_checkpoint_cut_short_restarts_that_model_and_says_so(micro_fleet, micro_config, nltk_data, cache_dir,
                                                               tmp_path, caplog):
    """A last.ckpt cut to half its size (a crash mid-write by an older version, a damaged disk) no longer blocks
    the fleet: the rerun says so in one line, restarts that model, and ends at the uninterrupted run's weights."""
    out = copy_with_model_01_unfinished(micro_fleet, tmp_path)
    ckpt = out / "model_01" / "last.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    record = train_fleet(micro_config, out, nltk_data, cache_dir, progress=False)
    assert record.models[1].status == Status.DONE and record.models[1].resumed_from_step == 0
    warned = [r.getMessage() for r in caplog.records if "incomplete" in r.getMessage()]
    assert len(warned) == 1 and "restarts from step 0" in warned[0] and "\n" not in warned[0]
    assert (out / "model_01" / "last.ckpt.incomplete").stat().st_size == len(data) // 2
    a, b = load_file(out / "model_01" / "model.safetensors"), load_file(micro_fleet[0] / "model_01" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # retrained from its seed: the same model


def test_a_failed_checkpoint_write_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    """Disk full mid-write: the old checkpoint stays complete (written to a temporary name, then renamed)."""
    from train.checkpoints import atomic_torch_save, checkpoint_is_complete

    path = tmp_path / "last.ckpt"
    atomic_torch_save({"global_step": 8, "w": torch.ones(1000)}, path)
    before = path.read_bytes()

    def full_disk(obj, f):
        Path(f).write_bytes(before[:100])
        raise OSError(28, "No space left on device", str(f))

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        atomic_torch_save({"global_step": 16, "w": torch.zeros(1000)}, path)
    assert path.read_bytes() == before and checkpoint_is_complete(path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_a_folder_written_atomically_is_whole_or_absent(tmp_path):
    """A converted model or tokenizer folder cut short by a full disk leaves nothing that looks complete."""
    from train.files import atomic_dir

    def fills_the_disk(tmp):
        (tmp / "config.json").write_text("{}")
        raise OSError(28, "No space left on device", str(tmp / "model.safetensors"))

    with pytest.raises(OSError):
        atomic_dir(tmp_path / "converted", fills_the_disk)
    assert list(tmp_path.iterdir()) == []
    atomic_dir(tmp_path / "converted", lambda tmp: (tmp / "config.json").write_text("{}"))
    assert [p.name for p in tmp_path.iterdir()] == ["converted"]
    assert (tmp_path / "converted" / "config.json").read_text() == "{}"


def test_scientific_notation_is_a_float(tmp_path):
    cfg = load_config("configs/tiny.yaml", {"lr": "3e-3", "weight_decay": "1e-1"})
    assert cfg.lr == 0.003 and cfg.weight_decay == 0.1
    (tmp_path / "c.yaml").write_text("lr: 1e-3\n")
    assert load_config(tmp_path / "c.yaml").lr == 0.001


def test_readme_example_with_scientific_notation_starts(capsys, tmp_path):
    assert main(["fleet", "--config", "configs/tiny.yaml", "--out", str(tmp_path / "x"), "lr=oops"]) == 2
    assert "lr must be a number, got 'oops'" in capsys.readouterr().err


def test_read_only_out_is_one_line(micro_fleet, nltk_data, cache_dir, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        if os.access(out / "..", os.W_OK) and os.geteuid() == 0:
            pytest.skip("root writes to read-only folders; the full-disk test covers the message")
        code = main(["fleet", "--out", str(out / "f"), "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir),
                     "--no-progress", *[f"{k}={v}" for k, v in MICRO.items()]])
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(out) in err and "Traceback" not in err


def test_full_disk_while_writing_outputs_is_one_line_naming_the_path(micro_fleet, nltk_data, cache_dir, tmp_path,
                                                                     capsys, monkeypatch):
    from analyze.__main__ import main as analyze_main
    import pandas as pd

    def no_space(self, path, *args, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", no_space)
    out = tmp_path / "probes"
    code = analyze_main(["probes", "--model", str(micro_fleet[0]), "--out", str(out), "--probes", "eigen",
                         "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err and str(out) in err
    assert not (out / "probes.json").exists()  # nothing that looks complete


def test_an_internal_error_keeps_its_traceback(micro_fleet, nltk_data, cache_dir, tmp_path, monkeypatch):
    """A ValueError from inside a library is a bug, not a user error: it is raised, not printed as one line."""
    from analyze.__main__ import main as analyze_main
    import pandas as pd

    def boom(self, *args, **kwargs):
        raise ValueError("internal boom from pandas")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(ValueError, match="internal boom from pandas"):
        analyze_main(["probes", "--model", str(micro_fleet[0]), "--out", str(tmp_path / "p"), "--probes", "eigen",
                      "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"])


def test_a_file_passed_as_fleet_is_named_a_file(tmp_path, capsys):
    from analyze.__main__ import main as analyze_main

    (tmp_path / "f.txt").write_text("x")
    assert analyze_main(["phrenology", "--fleet", str(tmp_path / "f.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file, not a fleet dir" in err and "does not exist" not in err


@pytest.mark.slow
def test_ctrl_c_says_interrupted_and_how_to_resume(nltk_data, cache_dir, tmp_path):
    out = tmp_path / "ctrlc"
    # 100 epochs: it cannot finish before the signal, however slowly this test's polling runs on a loaded machine
    overrides = [f"{k}={v}" for k, v in {**MICRO, "n": 1, "checkpoint_every_n_steps": 2, "epochs": 100}.items()]
    cmd = [sys.executable, "-m", "train", "fleet", "--out", str(out), "--no-progress", "--nltk-data",
           str(nltk_data), "--cache-dir", str(cache_dir), *overrides]
    # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored: a test run
    # launched with `&` would send a Ctrl-C the child never sees (two CI rehearsals failed so). The child gets the
    # default disposition back, as a terminal's foreground process has.
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while not (out / "model_00" / "last.ckpt").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before a checkpoint"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    last = [line for line in err.strip().splitlines() if line.strip()][-1]
    assert proc.returncode == 130 and last.startswith("interrupted:") and f"--out {out}" in last
    assert json.loads((out / "fleet.json").read_text())["models"][0]["status"] == "interrupted"


def test_micro_fleet_weights_and_losses_are_pinned(micro_fleet):
    """The micro fleet's trained weights (each tensor's sum and norm) and losses, pinned before the trainer's code
    moved (#22). fp32 on one CPU repeats bit for bit; the tolerance covers another CPU's matmul kernels rounding
    otherwise over 32 AdamW steps."""
    from tests.pinned import check_pinned

    out, record = micro_fleet
    values = {}
    for m in record.models:
        weights = load_file(out / m.dir / "model.safetensors")
        for key, tensor in weights.items():
            if key == "layers.0.attn.k.bias":  # no gradient in exact arithmetic: its walk is rounding noise
                continue
            values[f"{m.dir}.{key}.sum"] = float(tensor.double().sum())
            values[f"{m.dir}.{key}.norm"] = float(tensor.double().norm())
        values[f"{m.dir}.final_val_loss"] = m.final_val_loss
        values[f"{m.dir}.final_train_loss"] = m.final_train_loss
    check_pinned("micro_fleet", values, rtol=1e-3, atol=1e-3)


def test_the_finiteness_check_sees_one_bad_element_and_is_not_fooled_by_an_overflowing_sum():
    """``all_finite`` decides by a sum where it can: one NaN or inf anywhere must still fail it, and finite weights
    whose sum overflows to inf must still pass."""
    from train.checkpoints import all_finite

    weights = torch.randn(513, 256)
    assert all_finite(weights)
    for bad in (float("nan"), float("inf"), -float("inf")):
        poisoned = weights.clone()
        poisoned[300, 17] = bad
        assert not all_finite(poisoned) and not all_finite(poisoned.bfloat16())
    cancelling = weights.clone()
    cancelling[0, 0], cancelling[1, 1] = float("inf"), -float("inf")
    assert not all_finite(cancelling)
    huge = torch.full((4, 4), 3e38)
    assert not torch.isfinite(huge.sum()) and all_finite(huge)


def test_a_deleted_model_folder_is_noticed_retrained_and_skipped_by_allow_partial(micro_fleet, nltk_data, cache_dir,
                                                                                 tmp_path):
    """A fleet whose model_01 folder was deleted after training: analysis names it (or skips it with
    --allow-partial) instead of failing to read its config, and train fleet --out trains it again."""
    from analyze.core.fleet import Fleet, FleetError

    fleet = tmp_path / "fleet"
    shutil.copytree(micro_fleet[0], fleet)
    shutil.rmtree(fleet / "model_01")
    with pytest.raises(FleetError, match="model_01 .pending: its folder or weights are missing.; finish it with"):
        Fleet(fleet)
    assert Fleet(fleet, allow_partial=True).names == ["m00"]
    before = (fleet / "model_00" / "model.safetensors").read_bytes()
    record = train_fleet(load_config(None, MICRO), fleet, nltk_data, cache_dir, progress=False)
    assert [m.status for m in record.models] == [Status.DONE, Status.DONE]
    assert (fleet / "model_00" / "model.safetensors").read_bytes() == before  # the finished one untouched
    same = (fleet / "model_01" / "model.safetensors").read_bytes()
    assert same == (micro_fleet[0] / "model_01" / "model.safetensors").read_bytes()  # same seed, same model
    assert Fleet(fleet).names == ["m00", "m01"]


def test_analysing_a_fleet_that_is_still_training_says_so(micro_fleet, tmp_path):
    from analyze.core.fleet import Fleet, FleetError
    from train.fleet import fleet_lock

    fleet = tmp_path / "fleet"
    shutil.copytree(micro_fleet[0], fleet)
    record = FleetRecord.read(fleet)
    record.models[1].update(status=Status.RUNNING)
    record.write(fleet)
    with fleet_lock(fleet), pytest.raises(FleetError, match=rf"is still training \(pid {os.getpid()}\): 1 of 2 models"):
        Fleet(fleet)
    with pytest.raises(FleetError, match="finish it with: python -m train fleet --out"):  # the trainer has gone
        Fleet(fleet)


def test_two_analysis_runs_on_one_folder_the_second_is_refused(micro_fleet, tmp_path, capsys):
    from analyze.__main__ import main as analyze_main
    from train.files import dir_lock

    out = tmp_path / "run"
    with dir_lock(out, "analyze probes"):
        assert analyze_main(["phrenology", "--fleet", str(micro_fleet[0]), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"another analyze probes run (pid {os.getpid()}) is writing {out}; wait for it to finish or "
                        f"pass another --out") and len(err.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing written
