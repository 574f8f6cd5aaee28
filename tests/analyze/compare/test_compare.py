"""analyze compare: a 'pretrained' GPT-2-architecture model whose layer-0 heads copy a fleet's two kinds of heads."""

import json
import shutil

import pandas as pd
import pytest

from analyze.__main__ import main
from analyze.compare.pipeline import match_verdict
from analyze.probes.words import load_pairs
from tests.analyze.constructed_fleet import build_constructed_fleet
from tests.analyze.planted import build_planted_gpt2
from tests.browser import Page
from train.tokenizer import load_gpt2_tokenizer

SMALL = ["--prompts", "32", "--permutations", "199", "bottlenecks=[4]", "ae_epochs=5", "n_gammas=100",
         "stability_replicates=2", "null_replicates=1", "null_gammas=20", "knockout_prompts=4", "knockout_tokens=50"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Fleet: head 0 attends to itself, head 1 to the previous token, in 9 noisy models. 'Pretrained' model:
    planted GPT-2 whose head 0 attends to itself and head 1 to the previous token (heads 2, 3: other roles)."""
    root = tmp_path_factory.mktemp("compare")
    fleet = build_constructed_fleet(root / "fleet", n_models=9)
    pairs = load_pairs(None, load_gpt2_tokenizer())
    planted = build_planted_gpt2(root / "planted", list(pairs.token_ids[:20] + pairs.token_ids[pairs.n_pairs:pairs.n_pairs + 20]), 20)
    return root, fleet, planted


def run(root, fleet, pretrained, out, *extra, nltk_data, cache_dir):
    return main(["compare", "--fleet", str(fleet), "--pretrained", str(pretrained), "--out", str(out),
                 "--phrenology-dir", str(root / "phrenology"), "--probes-dir", str(root / "probes"),
                 "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir), *SMALL, *extra])


@pytest.mark.slow
def test_copied_heads_land_in_their_clusters_and_are_matched(setup, nltk_data, cache_dir):
    root, fleet, planted = setup
    assert not (root / "phrenology").exists()  # computed on the fly
    assert run(root, fleet, planted, root / "out", nltk_data=nltk_data, cache_dir=cache_dir) == 0
    assert (root / "phrenology" / "clusters.csv").exists() and (root / "probes" / "fleet" / "probes.csv").exists()
    clusters = pd.read_csv(root / "phrenology" / "clusters.csv").set_index("head_id").cluster
    self_cluster, prev_cluster = clusters["m00.L0H0"], clusters["m00.L0H1"]
    assert self_cluster != prev_cluster
    place = pd.read_csv(root / "out" / "placement.csv").set_index("pretrained_head")
    assert place.loc["planted.L0H0", "nearest_cluster"] == self_cluster
    assert place.loc["planted.L0H1", "nearest_cluster"] == prev_cluster
    assert place.loc[["planted.L0H0", "planted.L0H1"], "p_value"].max() <= 0.05
    assert place.loc[["planted.L0H2", "planted.L0H3"], "p_value"].min() > 0.05  # heads with no counterpart
    matching = pd.read_csv(root / "out" / "matching.csv")
    for space in ("pattern", "probe_scores"):
        pairs = dict(matching.query("space == @space")[["cluster", "pretrained_head"]].itertuples(index=False))
        assert pairs == {self_cluster: "planted.L0H0", prev_cluster: "planted.L0H1"}
    assert matching.query("space == 'pattern'").statement.str.contains("lands in it").all()
    described = dict(matching[["cluster", "cluster_description"]].itertuples(index=False))
    assert described[prev_cluster] == "previous-token heads" and described[self_cluster] == "self-attending heads"
    scores = pd.read_csv(root / "out" / "scores.csv")
    assert set(scores.source) == {"toy", "pretrained"} and len(scores) == 18 + 4
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
    from tests.test_pages import assert_offline_and_clean, isolated_point

    root = setup[0]
    if not (root / "out" / "report.html").exists():
        pytest.skip("needs the outputs of the first test")
    placement = pd.read_csv(root / "out" / "placement.csv").set_index("pretrained_head")
    page = Page(browser, root / "out" / "report.html")
    assert_offline_and_clean(page)
    head, offset = isolated_point(page, "projection", list(placement.index))
    page.hover("projection", offset)
    text = page.text("hover-info")
    assert text.splitlines()[0] == head and f"p = {placement.loc[head, 'p_value']:.3g}" in text
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
    swapped = build_constructed_fleet(tmp_path / "swapped", n_models=9, swapped=(0,))
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


@pytest.mark.slow
def test_another_tokenizer_reads_the_same_text_at_equal_length(setup, nltk_data, cache_dir, tmp_path):
    from analyze.compare.pipeline import pretrained_prompts
    from analyze.core.fleet import Fleet
    from analyze.core.models import load_tokenizer, resolve_models
    from analyze.phrenology.run import PhrenologyRun

    root, fleet, _ = setup
    other = planted_with_gpt2_tokenizer(setup, tmp_path / "other")
    spec = json.loads((other / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    vocab["Ġthe"], vocab["Ġof"] = vocab["Ġof"], vocab["Ġthe"]  # same size, other ids: another tokenizer
    (other / "tokenizer.json").write_text(json.dumps(spec))
    assert run(root, fleet, other, tmp_path / "out", nltk_data=nltk_data, cache_dir=cache_dir) == 0
    place = pd.read_csv(tmp_path / "out" / "placement.csv")
    assert len(place) == 4 and place.tokenization.str.contains("re-tokenised").all()
    # every fleet prompt, same text from the same sentence, 16 tokens on both sides (none dropped)
    run_dir = PhrenologyRun(root / "phrenology")
    (model,) = resolve_models(other)
    theirs, _ = pretrained_prompts(run_dir, Fleet(fleet, nltk_data, cache_dir), model, load_tokenizer(model))
    ours = run_dir.prompt_tokens()
    assert theirs.shape == ours.shape == (32, 16)
    decode_ours, decode_theirs = load_gpt2_tokenizer().decode, load_tokenizer(model).decode
    assert all(decode_theirs(t) == decode_ours(o) for t, o in zip(theirs, ours))


def test_missing_pretrained_weights_is_one_line(setup, nltk_data, cache_dir, tmp_path, capsys):
    root, fleet, _ = setup
    capsys.readouterr()
    assert run(root, fleet, "gpt2-not-cached-anywhere", tmp_path / "out", nltk_data=nltk_data, cache_dir=cache_dir) == 2
    err = capsys.readouterr().err.strip()
    assert "local Hugging Face cache" in err and len(err.splitlines()) == 1


def test_match_sentence_claims_a_landing_only_when_the_placement_backs_it():
    placed = pd.DataFrame({"pretrained_head": ["a", "b", "c"], "nearest_cluster": [0, 1, 0],
                           "p_value": [0.01, 0.01, 0.5]}).set_index("pretrained_head")
    assert "a lands in it (p = 0.01)" in match_verdict("pattern", 0, "a", 1.0, placed)
    assert "lies nearer cluster 1 (p = 0.01)" in match_verdict("pattern", 0, "b", 1.0, placed)
    nearest_but_chance = match_verdict("pattern", 0, "c", 1.0, placed)  # nearest, but p = 0.5: say so
    assert "nearest to it, but no nearer than a random group" in nearest_but_chance and "p = 0.5 > 0.05" in nearest_but_chance
    assert "lands" not in nearest_but_chance and "nearer cluster" not in nearest_but_chance
    assert "closest match on probe scores" in match_verdict("probe_scores", 0, "a", 1.0, placed)
