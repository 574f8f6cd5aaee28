"""Probes on a GPT-2-architecture model with planted heads (built in the test, no downloads)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyze.__main__ import main
from analyze.pattern_scores import detection_score, duplicate_token_mask, induction_mask, previous_token_mask
from analyze.words import DEFAULT_PAIRS, WordListError, load_pairs
from tests.analyze.planted import build_planted_gpt2
from train.tokenizer import load_gpt2_tokenizer


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    """The first 20 shipped pairs (the planted model has room for 20 pairs' directions in one head)."""
    lines = [l for l in DEFAULT_PAIRS.read_text().splitlines() if l and not l.startswith("#")][:20]
    path = tmp_path_factory.mktemp("pairs") / "pairs20.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory, pairs_file) -> Path:
    pairs = load_pairs(pairs_file, load_gpt2_tokenizer())
    return build_planted_gpt2(tmp_path_factory.mktemp("hf") / "planted", list(pairs.token_ids), pairs.n_pairs)


@pytest.fixture(scope="module")
def planted_probes(planted_dir, pairs_file, nltk_data, cache_dir, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("probes")
    argv = ["probes", "--model", str(planted_dir), "--pairs", str(pairs_file), "--out", str(out), "--prompts", "16",
            "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress", "repeat_prompts=16"]
    assert main(argv) == 0
    assert (out / "report.html").exists() and (out / "probes.json").exists()
    return pd.read_csv(out / "probes.csv").set_index("head_id")


def top(frame, column) -> str:
    return frame[column].idxmax()


def test_shipped_pairs_are_54_or_more_single_tokens():
    pairs = load_pairs(None, load_gpt2_tokenizer())
    assert pairs.n_pairs >= 54 and len(set(pairs.token_ids)) == 2 * pairs.n_pairs
    assert pairs.words[pairs.antonym_index(0)] == "false" and pairs.words[0] == "true"


def test_planted_ov_heads(planted_probes):
    f = planted_probes
    assert top(f, "antonym_tally") == "planted.L0H0" and f.loc["planted.L0H0", "antonym_tally"] >= 0.9
    assert f.loc["planted.L0H0", "ov_top_eig_real"] < 0
    assert top(f, "copying_score") == "planted.L0H1" and f.loc["planted.L0H1", "ov_top_eig_real"] > 0
    assert f.loc["planted.L0H1", "ov_neg_eig_share"] < 0.01
    assert top(f, "category_tally") == "planted.L0H2"


def test_planted_attention_heads(planted_probes):
    f = planted_probes
    assert top(f, "prev_token") == "planted.L0H1" and f.loc["planted.L0H1", "prev_token"] > 0.9
    assert top(f, "duplicate_token") == "planted.L0H2"
    assert top(f, "self") == "planted.L0H0"
    assert f.loc["planted.L0H2", "layer0_class"] == "duplicate_token"
    assert f.loc["planted.L0H3", "layer0_class"] == "contextual"
    assert f.loc["planted.L0H1", "layer0_class"] == "detokenization"


def test_ablating_the_antonym_head_hurts_the_antonym_task_most(planted_probes):
    f = planted_probes
    assert top(f, "ablation_delta_loss") == "planted.L0H0"
    assert f.loc["planted.L0H0", "ablation_delta_loss"] > 10 * f.drop("planted.L0H0").ablation_delta_loss.abs().max()


def test_toy_checkpoint_and_hf_dir_give_the_same_columns(planted_probes, micro_fleet, pairs_file, nltk_data,
                                                         cache_dir, tmp_path):
    out = tmp_path / "toy"
    argv = ["probes", "--model", str(micro_fleet[0] / "model_01"), "--pairs", str(pairs_file), "--out", str(out),
            "--prompts", "8", "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"]
    assert main(argv) == 0
    toy = pd.read_csv(out / "probes.csv")
    assert list(toy.columns) == ["head_id", *planted_probes.columns]
    assert list(toy.head_id) == ["m01.L0H0", "m01.L0H1"]
    assert toy.drop(columns=["head_id", "model", "layer0_class", "ov_embedding"]).notna().all().all()


def test_detection_masks_by_hand():
    tokens = np.array([[5, 6, 5, 6]])
    assert duplicate_token_mask(tokens)[0].astype(int).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert induction_mask(tokens)[0].astype(int).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    prev = np.eye(4, k=-1)[None, None].copy()
    prev[0, 0, 0, 0] = 1.0  # query 0 can only attend to itself
    assert detection_score(prev, previous_token_mask(tokens))[0] == pytest.approx(0.75)


@pytest.mark.parametrize("case, message", [
    ("unknown_model", "not in the local Hugging Face cache"),
    ("multi_token", "not single GPT-2 tokens"),
    ("empty_pairs", "has no word pairs"),
    ("short_context", "cannot hold one"),
    ("unknown_probe", "unknown probe"),
])
def test_bad_inputs(case, message, planted_dir, pairs_file, nltk_data, cache_dir, tmp_path, capsys):
    model, pairs, probes = str(planted_dir), str(pairs_file), "all"
    if case == "unknown_model":
        model = "no-such-org/no-such-model"
    elif case == "multi_token":
        (tmp_path / "p.txt").write_text("hot cold\nantidisestablishmentarianism brief\n")
        pairs = str(tmp_path / "p.txt")
    elif case == "empty_pairs":
        (tmp_path / "p.txt").write_text("# nothing here\n")
        pairs = str(tmp_path / "p.txt")
    elif case == "short_context":
        ids = load_pairs(pairs_file, load_gpt2_tokenizer()).token_ids
        model = str(build_planted_gpt2(tmp_path / "short", list(ids), 20, n_positions=3))
        probes = "ablation"
    elif case == "unknown_probe":
        probes = "ov,telepathy"
    out = tmp_path / "out"
    capsys.readouterr()  # drop what building the model printed
    code = main(["probes", "--model", model, "--pairs", pairs, "--probes", probes, "--out", str(out), "--prompts", "4",
                 "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    if case == "multi_token":
        assert "antidisestablishmentarianism" in err
    assert not (out / "probes.csv").exists()
