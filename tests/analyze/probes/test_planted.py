"""Probes on a GPT-2-architecture model with planted heads (built in the test, no downloads)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyze.__main__ import main
from train.head_scores import detection_score, duplicate_token_mask, induction_mask, previous_token_mask
from analyze.probes.words import load_pairs
from tests.analyze.planted import build_planted_gpt2
from train.tokenizer import load_gpt2_tokenizer


@pytest.fixture(scope="module")
def pairs_file(pairs20_file) -> Path:
    return pairs20_file


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
    ("unknown_model", "local Hugging Face cache"),
    ("empty_pairs", "has no word pairs"),
    ("unknown_probe", "unknown probe"),
    ("bad_alpha", "--alpha takes comma-separated numbers"),
    ("short_prompts", "max_seq_len must be an int >= 4"),
    ("zero_prompts", "prompts must be a positive int"),
    ("nan_weights", "holds NaN or inf"),
])
def test_bad_inputs(case, message, planted_dir, pairs_file, nltk_data, cache_dir, tmp_path, capsys):
    model, pairs, probes = str(planted_dir), str(pairs_file), "all"
    extra, prompts = [], "4"
    if case == "unknown_model":
        model = "no-such-org/no-such-model"
    elif case == "empty_pairs":
        (tmp_path / "p.txt").write_text("# nothing here\n")
        pairs = str(tmp_path / "p.txt")
    elif case == "unknown_probe":
        probes = "ov,telepathy"
    elif case == "bad_alpha":
        extra = ["--alpha", "0,x"]
    elif case == "short_prompts":
        extra = ["max_seq_len=2"]
    elif case == "zero_prompts":
        prompts = "0"
    elif case == "nan_weights":
        model = str(tmp_path / "nan")
        shutil.copytree(planted_dir, model)
        from safetensors.torch import load_file, save_file

        state = load_file(f"{model}/model.safetensors")
        key = next(k for k in state if k.endswith("c_attn.weight"))
        message = f"model.safetensors holds NaN or inf in {key}"
        state[key][0, 0] = float("inf")
        save_file(state, f"{model}/model.safetensors", metadata={"format": "pt"})
    out = tmp_path / "out"
    capsys.readouterr()  # drop what building the model printed
    code = main(["probes", "--model", model, "--pairs", pairs, "--probes", probes, "--out", str(out), "--prompts",
                 prompts, "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (out / "probes.csv").exists()


def test_word_lists_are_filtered_and_a_list_too_short_gives_nan_with_the_reason(planted_dir, nltk_data, cache_dir,
                                                                               tmp_path):
    """The antonym-heads post keeps the words that are single tokens for the tokenizer; one pair left is too few to tally."""
    (tmp_path / "p.txt").write_text("hot cold\nantidisestablishmentarianism brief\n")
    out = tmp_path / "out"
    assert main(["probes", "--model", str(planted_dir), "--pairs", str(tmp_path / "p.txt"), "--probes", "ov,ablation",
                 "--out", str(out), "--prompts", "4", "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir),
                 "--no-progress"]) == 0
    record = json.loads((out / "probes.json").read_text())
    words = record["models"]["planted"]["words"]
    assert words["n_pairs"] == 1 and words["dropped_pairs"] == ["antidisestablishmentarianism/brief"]
    reasons = record["not_applicable"]["planted"]
    assert "only 1 antonym pairs" in reasons["antonym_tally"] and "min_pairs = 8" in reasons["ablation_delta_loss"]
    frame = pd.read_csv(out / "probes.csv")
    assert frame.antonym_tally.isna().all() and frame.ablation_delta_loss.isna().all()
    assert "Probes that do not apply" in (out / "report.html").read_text()


def test_a_context_too_short_for_a_family_is_nan_with_the_reason(pairs_file, nltk_data, cache_dir, tmp_path):
    ids = load_pairs(pairs_file, load_gpt2_tokenizer()).token_ids
    model = build_planted_gpt2(tmp_path / "short", list(ids), 20, n_positions=3)
    out = tmp_path / "out"
    assert main(["probes", "--model", str(model), "--pairs", str(pairs_file), "--probes", "ablation", "--out",
                 str(out), "--prompts", "4", "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir),
                 "--no-progress"]) == 0
    reason = json.loads((out / "probes.json").read_text())["not_applicable"]["short"]["ablation_delta_loss"]
    assert "cannot hold one" in reason


def test_planted_probe_scores_are_pinned(planted_probes):
    """Every numeric score of every planted head, pinned before the probes' code moved or sped up (#22, #23):
    within 1e-4, as #23 asks of the speed-up, absolute or relative: the planted model's losses are ~15 nats from
    fp32 logits of ~1e3, which round at 1e-4 of their size when a pass batches its rows otherwise."""
    from tests.pinned import check_pinned

    numeric = planted_probes.select_dtypes("number")
    check_pinned("planted_probes", {f"{h}.{c}": numeric.at[h, c] for h in numeric.index for c in numeric.columns},
                 rtol=1e-4, atol=1e-4)


def test_batched_mean_ablation_equals_one_head_per_pass(planted_dir, pairs_file):
    """The ablation family ablates every head of a layer in one batched pass (one copy of the task per head);
    here each head is ablated in a pass of its own, with its own hook, and the antonym-heads post's loss (the mean cross-entropy
    of each pair's second word) is taken by hand, one chunk at a time. The chunks come in two lengths, so both
    per-length batches are exercised."""
    import torch
    import torch.nn.functional as F

    from analyze.core.hooks import mean_head_outputs
    from analyze.core.models import load_model
    from analyze.probes.ablation import antonym_chunks, mean_ablation_deltas
    from train.tokenizer import load_gpt2_tokenizer

    bridge = load_model(str(planted_dir), "cpu")
    pairs = load_pairs(pairs_file, load_gpt2_tokenizer())
    first, second = pairs.token_ids[:pairs.n_pairs], pairs.token_ids[pairs.n_pairs:]
    chunks = antonym_chunks(first, second, 10, 50256, 198)  # BOS + 3 triples a chunk; 20 pairs: the last has 2
    assert len({len(c) for c in chunks}) == 2
    brown = torch.randint(0, 50_257, (12, 16), generator=torch.Generator().manual_seed(0))
    mean_z = mean_head_outputs(bridge, brown)

    def loss(hooks=()) -> float:
        total, count = 0.0, 0
        for chunk in chunks:
            logits = bridge.run_with_hooks(chunk[None], fwd_hooks=list(hooks))[0]
            targets = torch.arange(2, len(chunk), 3)  # b_k after BOS: positions 2, 5, 8, ...
            total += float(F.cross_entropy(logits[targets - 1].float(), chunk[targets], reduction="sum"))
            count += len(targets)
        return total / count

    def ablate(head):
        def hook(z, hook):
            z = z.clone()
            z[:, :, head] = mean_z[0][: z.shape[1], head]
            return z
        return hook

    with torch.no_grad():
        by_hand = [loss([("blocks.0.attn.hook_z", ablate(h))]) - loss() for h in range(bridge.cfg.n_heads)]
        batched = mean_ablation_deltas(bridge, chunks, 1, mean_z)[0]
    # fp32 logits of ~1e3 (the planted heads are sharp) round at ~1e-4 of the loss when the batch shape changes
    np.testing.assert_allclose(batched, by_hand, rtol=1e-4, atol=1e-4)
    assert np.argmax(batched) == 0  # the planted antonym head
