"""analyze compare: a 'pretrained' GPT-2-architecture model whose layer-0 heads copy a fleet's two kinds of heads,
beside held-out seeds of the fleet's construction (calibration) and sharp positional heads no toy grows (power)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from analyze.__main__ import main
from analyze.compare.controls import positional_gpt2
from analyze.compare.pipeline import match_verdict
from analyze.probes.words import load_pairs
from tests.analyze.constructed_fleet import build_constructed_fleet
from tests.analyze.planted import build_planted_gpt2
from tests.helpers import assert_offline_and_clean, isolated_point
from docs.browser import Page
from train.tokenizer import load_gpt2_tokenizer

SMALL = ["--prompts", "32", "bottlenecks=[4]", "ae_epochs=5", "n_gammas=100",
         "stability_replicates=2", "null_replicates=1", "null_gammas=20", "knockout_prompts=4", "knockout_tokens=50"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Fleet: head 0 attends to itself, head 1 to the previous token, in 12 noisy models (24 reference heads: the
    smallest p is 1/25). 'Pretrained' model: planted GPT-2 whose head 0 attends to itself and head 1 to the previous
    token (heads 2, 3: other roles). Controls: 3 more models of the fleet's construction, and a GPT-2 whose heads
    attend 3 tokens back and always to position 2."""
    root = tmp_path_factory.mktemp("compare")
    fleet = build_constructed_fleet(root / "fleet", n_models=12)
    build_constructed_fleet(root / "heldout", n_models=3, skip=12)
    positional_gpt2(root / "positional", ["back:3", "abs:2"])
    pairs = load_pairs(None, load_gpt2_tokenizer())
    planted = build_planted_gpt2(root / "planted", list(pairs.token_ids[:20] + pairs.token_ids[pairs.n_pairs:pairs.n_pairs + 20]), 20)
    return root, fleet, planted


def controls(root):
    return ["--control", f"heldout={root / 'heldout'}", "--control", f"positional={root / 'positional'}"]


def run(root, fleet, pretrained, out, *extra, nltk_data, cache_dir):
    return main(["compare", "--fleet", str(fleet), "--pretrained", str(pretrained), "--out", str(out),
                 "--phrenology-dir", str(root / "phrenology"), "--probes-dir", str(root / "probes"),
                 "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), *SMALL, *extra])


@pytest.mark.slow
def test_copied_heads_land_in_their_clusters_and_are_matched(setup, nltk_data, cache_dir):
    root, fleet, planted = setup
    assert not (root / "phrenology").exists()  # computed on the fly
    assert run(root, fleet, planted, root / "out", *controls(root), nltk_data=nltk_data, cache_dir=cache_dir) == 0
    assert (root / "phrenology" / "clusters.csv").exists() and (root / "probes" / "fleet" / "probes.csv").exists()
    clusters = pd.read_csv(root / "phrenology" / "clusters.csv").set_index("head_id").cluster
    self_cluster, prev_cluster = clusters["m00.L0H0"], clusters["m00.L0H1"]
    assert self_cluster != prev_cluster
    place = pd.read_csv(root / "out" / "placement.csv").set_index("pretrained_head")
    assert place.loc["planted.L0H0", "nearest_cluster"] == self_cluster
    assert place.loc["planted.L0H1", "nearest_cluster"] == prev_cluster
    assert place.loc[["planted.L0H0", "planted.L0H1"], "toy_like"].all()  # copies of the fleet's heads
    assert not place.loc[["planted.L0H2", "planted.L0H3"], "toy_like"].any()  # heads with no counterpart
    assert (place.p_value > 0.05).equals(place.toy_like) and place.p_value.min() == pytest.approx(1 / 25)
    heldout = pd.read_csv(root / "out" / "control_heldout.csv")
    assert len(heldout) == 6 and heldout.toy_like.sum() >= 5  # unseen seeds: P(2+ of 6 rejected) = 0.03 at 5%
    positional = pd.read_csv(root / "out" / "control_positional.csv")
    assert len(positional) == 2 and not positional.toy_like.any()  # power: no toy grows these
    matching = pd.read_csv(root / "out" / "matching.csv")
    for space in ("pattern", "probe_scores"):
        pairs = dict(matching.query("space == @space")[["cluster", "pretrained_head"]].itertuples(index=False))
        assert pairs == {self_cluster: "planted.L0H0", prev_cluster: "planted.L0H1"}
    assert matching.query("space == 'pattern'").statement.str.contains("is toy-like and nearest to it").all()
    described = dict(matching[["cluster", "cluster_description"]].itertuples(index=False))
    assert described[prev_cluster] == "previous-token heads" and described[self_cluster] == "self-attending heads"
    scores = pd.read_csv(root / "out" / "scores.csv")
    assert set(scores.source) == {"toy", "pretrained"} and len(scores) == 24 + 4
    context = pd.read_csv(root / "out" / "score_context.csv").set_index(["pretrained_head", "score"])
    # the planted previous-token head, beside the fleet: its best previous-token head is one of the fleet's head 1s
    row = context.loc[("planted.L0H1", "prev_token")]
    assert row.toy_best_head.endswith(".L0H1") and row.direction == "higher"
    assert row.chance == pytest.approx((sum(1 / k for k in range(1, 17)) - 1) / 16)
    assert "qk_n_eigs" not in context.index.get_level_values("score")  # descriptive: ranks nothing
    html = (root / "out" / "report.html").read_text()
    assert "fig_matched_patterns.png" in html


@pytest.mark.slow
@pytest.mark.browser
def test_compare_page_hover_shows_the_head_and_its_p_value(setup, browser):
    """The first test's page in headless Chromium: offline, no console error; hovering a planted head shows its id
    and its placement p-value; clicking it opens it."""
    root = setup[0]
    if not (root / "out" / "report.html").exists():
        pytest.skip("needs the outputs of the first test")
    placement = pd.read_csv(root / "out" / "placement.csv").set_index("pretrained_head")
    page = Page(browser, root / "out" / "report.html")
    assert_offline_and_clean(page)
    head, offset = isolated_point(page, "projection", list(placement.index))
    page.hover("projection", offset)
    text = page.text("hover-info")
    assert text.splitlines()[0] == head and f"calibrated p = {placement.loc[head, 'p_value']:.3g}" in text
    assert ("not toy-like" in text) != bool(placement.loc[head, "toy_like"])
    page.click("projection", offset)
    assert page.text("head-title") == head
    assert page.console_errors() == []


@pytest.mark.slow
def test_replaced_weights_are_recomputed_not_reused(setup, nltk_data, cache_dir, tmp_path):
    """Compare reuses phrenology and probe runs only while their fingerprint matches the weights: swap the roles
    of model 0's heads, rerun on the same folders, and the outputs follow the new weights."""
    root, fleet, planted = setup
    if not (root / "phrenology" / "clusters.csv").exists():
        pytest.skip("needs the outputs of the first test")
    copy = tmp_path / "fleet"
    shutil.copytree(fleet, copy)
    shutil.copytree(root / "phrenology", tmp_path / "phrenology")
    shutil.copytree(root / "probes", tmp_path / "probes")
    before = pd.read_csv(tmp_path / "probes" / "fleet" / "probes.csv").set_index("head_id")
    assert before.loc["m00.L0H0", "self"] > 0.5  # as built
    swapped = build_constructed_fleet(tmp_path / "swapped", n_models=12, swapped=(0,))
    shutil.copy(swapped / "model_00" / "model.safetensors", copy / "model_00" / "model.safetensors")
    assert run(tmp_path, copy, planted, tmp_path / "out", "--no-progress", nltk_data=nltk_data,
               cache_dir=cache_dir) == 0
    clusters = pd.read_csv(tmp_path / "phrenology" / "clusters.csv").set_index("head_id").cluster
    assert clusters["m00.L0H0"] == clusters["m01.L0H1"] != clusters["m00.L0H1"] == clusters["m01.L0H0"]
    scores = pd.read_csv(tmp_path / "out" / "scores.csv").set_index("head_id")
    assert scores.loc["m00.L0H0", "prev_token"] > 0.5 > scores.loc["m00.L0H0", "self"]


def planted_with_gpt2_tokenizer(setup, path):
    """A copy of the planted model saved with GPT-2's tokenizer files (after the first test's phrenology run)."""
    root, _, planted = setup
    if not (root / "phrenology" / "prompts.jsonl").exists():
        pytest.skip("needs the phrenology outputs of the first test")
    shutil.copytree(planted, path)
    load_gpt2_tokenizer().save_pretrained(str(path))
    return path


@pytest.mark.slow
def test_same_vocabulary_saved_with_its_tokenizer_reads_the_fleet_tokens(setup, nltk_data, cache_dir, tmp_path):
    """A GPT-2-vocabulary dir saved with its tokenizer files is compared by vocabulary, not by re-encoding
    decoded windows (BPE does not round-trip arbitrary windows of ids)."""
    root, fleet, _ = setup
    same = planted_with_gpt2_tokenizer(setup, tmp_path / "same")
    assert run(root, fleet, same, tmp_path / "out", "--no-progress", nltk_data=nltk_data, cache_dir=cache_dir) == 0
    place = pd.read_csv(tmp_path / "out" / "placement.csv")
    assert place.tokenization.str.startswith("same tokenizer as the fleet").all()


def other_tokenizer_model(setup, path):
    """The planted model with a tokenizer of other ids for the same strings (Ġthe and Ġof swapped)."""
    other = planted_with_gpt2_tokenizer(setup, path)
    spec = json.loads((other / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    vocab["Ġthe"], vocab["Ġof"] = vocab["Ġof"], vocab["Ġthe"]  # same size, other ids: another tokenizer
    (other / "tokenizer.json").write_text(json.dumps(spec))
    return other


@pytest.mark.slow
def test_another_tokenizer_reads_the_same_token_strings_where_both_cut_alike(setup, nltk_data, cache_dir, tmp_path,
                                                                             monkeypatch):
    """Another tokenizer reads the fleet prompts it cuts into the same token strings, so position k holds the same
    text on both sides; with too few such prompts it falls back to the same text re-tokenised, and says so."""
    from analyze.compare import pipeline
    from analyze.core.fleet import Fleet
    from analyze.core.models import load_tokenizer, resolve_models
    from analyze.phrenology.run import PhrenologyRun

    root, fleet, _ = setup
    other = other_tokenizer_model(setup, tmp_path / "other")
    assert run(root, fleet, other, tmp_path / "out", nltk_data=nltk_data, cache_dir=cache_dir) == 0
    place = pd.read_csv(tmp_path / "out" / "placement.csv")
    assert len(place) == 4 and place.tokenization.str.contains("token for token").all()
    run_dir = PhrenologyRun(root / "phrenology")
    (model,) = resolve_models(other)
    theirs_tok, ours_tok = load_tokenizer(model), load_gpt2_tokenizer()
    choice = pipeline.pretrained_prompts(run_dir, Fleet(fleet, nltk_data, cache_dir), model, theirs_tok)
    ours = run_dir.prompt_tokens()
    assert choice.shared == 32 and list(choice.toy_rows) == list(range(32)) and choice.tokens.shape == (32, 16)
    assert all(pipeline.token_strings(theirs_tok, t) == pipeline.token_strings(ours_tok, o)
               for t, o in zip(choice.tokens, ours))
    the, of = ours_tok.convert_tokens_to_ids("Ġthe"), ours_tok.convert_tokens_to_ids("Ġof")
    assert (ours == the).any() and (choice.tokens[ours == the] == of).all()  # same strings, other ids

    monkeypatch.setattr(pipeline, "shared_token_rows", lambda toy, a, b: (np.arange(10), toy[:10]))
    fallback = pipeline.pretrained_prompts(run_dir, Fleet(fleet, nltk_data, cache_dir), model, theirs_tok)
    assert "re-tokenised" in fallback.statement and "only 10 of the fleet's 32" in fallback.statement
    assert fallback.tokens.shape == (32, 16)  # every prompt, its own 16 tokens of the same text
    decode_ours, decode_theirs = ours_tok.decode, theirs_tok.decode
    assert all(decode_theirs(t) == decode_ours(o) for t, o in zip(fallback.tokens, ours))


def test_missing_pretrained_weights_is_one_line(nltk_data, cache_dir, tmp_path, capsys, monkeypatch):
    """A Hugging Face name that is neither cached nor downloadable (the hub address is a loopback port where nothing
    listens) stops compare in one line before the fleet is analysed."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    fleet = build_constructed_fleet(tmp_path / "fleet", n_models=2)
    capsys.readouterr()
    assert run(tmp_path, fleet, "gpt2-not-cached-anywhere", tmp_path / "out", nltk_data=nltk_data,
               cache_dir=cache_dir) == 2
    err = capsys.readouterr().err.strip()
    assert "local Hugging Face cache" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "phrenology").exists()


def test_match_sentence_claims_resemblance_only_when_the_calibrated_test_backs_it():
    placed = pd.DataFrame({"pretrained_head": ["a", "b", "c"], "nearest_cluster": [0, 1, 0],
                           "p_value": [0.4, 0.4, 0.01]}).set_index("pretrained_head")
    assert "a is toy-like and nearest to it (p = 0.4)" in match_verdict("pattern", 0, "a", 1.0, placed)
    assert "lies nearer cluster 1 (p = 0.4)" in match_verdict("pattern", 0, "b", 1.0, placed)
    far = match_verdict("pattern", 0, "c", 1.0, placed)  # nearest, but farther than any seed's heads: say so
    assert "not toy-like" in far and "p = 0.01 ≤ 0.05" in far and "nearer cluster" not in far
    assert "closest match on probe scores" in match_verdict("probe_scores", 0, "a", 1.0, placed)


def test_compare_smoke_a_small_fleet_cannot_call_any_head_unlike_it(planted_dir, nltk_data, cache_dir, tmp_path,
                                                                   caplog):
    """The fast set's end-to-end run of the command: 3 constructed models (6 reference heads) against the planted
    GPT-2. With 6 reference heads the smallest possible p is 1/7 > 0.05: every head is toy-like, and the run
    says that no head can be called unlike the toy heads."""
    import logging

    fleet = build_constructed_fleet(tmp_path / "fleet", n_models=3)
    planted = planted_dir  # the session's planted GPT-2 (heads 0-3: self, previous token, duplicate, positional)
    small = ["--prompts", "16", "bottlenecks=[2]", "ae_epochs=1", "n_gammas=20", "stability_replicates=1",
             "null_replicates=1", "null_gammas=10", "knockout_prompts=2", "knockout_tokens=20", "first_token_prompts=8",
             "probes.prompts=16", "probes.repeat_prompts=16", "probes.semantic_prompts=2", "probes.n_bags=8",
             "probes.qk_token_count=300"]
    with caplog.at_level(logging.WARNING):
        assert main(["compare", "--fleet", str(fleet), "--pretrained", str(planted), "--out", str(tmp_path / "out"),
                     "--phrenology-dir", str(tmp_path / "phrenology"), "--probes-dir", str(tmp_path / "probes"),
                     "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress", *small]) == 0
    place = pd.read_csv(tmp_path / "out" / "placement.csv")
    assert len(place) == 4 and place.toy_like.all() and place.p_value.min() >= 1 / 7 - 1e-12
    assert "the smallest possible p is 1/7 > 0.05" in caplog.text
    assert place.pretrained_head.str.startswith("planted.").all()
    reference = pd.read_csv(tmp_path / "out" / "reference.csv")
    assert len(reference) == 6 and set(reference.model) == {"m00", "m01", "m02"}
    probed = json.loads((tmp_path / "out" / "config.json").read_text())
    assert probed["probes"]["prompts"] == 16 and probed["phrenology"]["n_gammas"] == 20  # each override reached its job
