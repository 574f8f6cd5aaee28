"""Heads recorded while training (train/formation.py): the right steps, the probes' own numbers, and a kill that
changes nothing."""

import numpy as np
import pandas as pd
import pytest

from analyze.__main__ import main as analyze_main
from train.config import load_config
from train.fleet import train_fleet
from train.formation import RECORD_FILE, SCORES, HeadRecord, record_steps
from tests.helpers import MICRO, copy_with_model_01_unfinished


def test_recorded_steps_are_log_spaced_with_step_zero_and_every_epoch_end():
    cfg = load_config(None, {**MICRO, "train_windows": 640, "epochs": 3})  # 20 steps an epoch, 60 in all
    assert record_steps(cfg) == [0, 1, 2, 3, 4, 6, 8, 11, 16, 20, 23, 32, 40, 45, 60]
    assert record_steps(load_config(None, {**MICRO, "record_per_octave": 1})) == [0, 1, 2, 4, 8, 16, 32]


def test_every_model_records_its_heads_at_every_scheduled_step(micro_fleet, micro_config):
    fleet, _ = micro_fleet
    metrics = pd.read_csv(fleet / "model_00" / "metrics.csv").dropna(subset=["val_loss"])
    for model in ("model_00", "model_01"):
        record = HeadRecord.read(fleet / model / RECORD_FILE)
        assert record.steps.tolist() == record_steps(micro_config)
        assert record.scores.shape == (len(record.steps), 2, len(SCORES))
        np.testing.assert_allclose(record.patterns.sum(axis=-1), 1, atol=1e-5)  # mean patterns: rows sum to 1
        assert record.val_loss[0] == pytest.approx(np.log(50_257), abs=0.5)  # untrained: near a uniform guess
        assert record.val_loss[-1] < record.val_loss[0] - 1
    # the first model's loss at an epoch's end matches the validation loop's on the full validation windows
    first = HeadRecord.read(fleet / "model_00" / RECORD_FILE)
    at_end = dict(zip(first.steps.tolist(), first.val_loss))[int(metrics.step.iloc[-1])]
    assert at_end == pytest.approx(float(metrics.val_loss.iloc[-1]), abs=0.15)


@pytest.mark.slow
def test_recorded_scores_equal_the_probes_on_the_checkpoint_of_that_step(micro_fleet, nltk_data, cache_dir, tmp_path):
    """Training stops after one epoch: its final weights are the two-epoch fleet's weights at step 16 (the same
    seed, windows and batches), so ``analyze probes`` on them must give the scores recorded at step 16."""
    fleet, _ = micro_fleet
    cfg = load_config(None, {**MICRO, "n": 1, "epochs": 1})
    train_fleet(cfg, tmp_path / "one_epoch", nltk_data, cache_dir, progress=False)
    out = tmp_path / "probes"
    assert analyze_main(["probes", "--model", str(tmp_path / "one_epoch" / "model_00"), "--out", str(out),
                         "--probes", "patterns,layer0", "--prompts", str(cfg.record_prompts), "--nltk-data",
                         str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress",
                         f"repeat_prompts={cfg.record_repeat_prompts}"]) == 0
    probes = pd.read_csv(out / "probes.csv")
    record = HeadRecord.read(fleet / "model_00" / RECORD_FILE)
    at_16 = record.scores[record.steps.tolist().index(16)]
    for k, score in enumerate(SCORES):
        np.testing.assert_allclose(at_16[:, k], probes[score], rtol=1e-4, atol=1e-5, err_msg=score)
    assert not np.allclose(record.scores[0], at_16, atol=1e-3)  # and the scores did move in training


@pytest.mark.slow
def test_recording_off_writes_nothing_and_trains_the_same_model(micro_fleet, nltk_data, cache_dir, tmp_path):
    from safetensors.torch import load_file

    cfg = load_config(None, {**MICRO, "n": 1, "record_heads": False})
    train_fleet(cfg, tmp_path / "off", nltk_data, cache_dir, progress=False)
    assert not (tmp_path / "off" / "model_00" / RECORD_FILE).exists()
    a, b = load_file(tmp_path / "off" / "model_00" / "model.safetensors"), load_file(
        micro_fleet[0] / "model_00" / "model.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)  # recording draws no random numbers


def test_a_model_trained_before_recording_existed_records_nothing(micro_fleet, nltk_data, cache_dir, tmp_path):
    """A fleet resumed past step 0 without a heads file (trained by an older version) must not get a record that
    starts mid-run and looks complete."""
    copy = copy_with_model_01_unfinished(micro_fleet, tmp_path)
    (copy / "model_01" / RECORD_FILE).unlink()
    train_fleet(load_config(None, MICRO), copy, nltk_data, cache_dir, progress=False)
    assert not (copy / "model_01" / RECORD_FILE).exists()
