"""Phrenology end to end on the session's micro fleet, and its input checks."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from analyze.__main__ import main
from analyze.core.fleet import Fleet, FleetError, latest_fleet
from analyze.core.heads import ARTIFICIAL_HEADS
from analyze.core.patterns import artificial_patterns, attention_patterns
from analyze.phrenology import PhrenologyConfig, run_phrenology
from analyze.phrenology.pipeline import STEP_NAMES

SMALL = dict(prompts=48, bottlenecks=[2, 4], ae_epochs=2, n_gammas=40, stability_replicates=3, null_replicates=4,
             null_gammas=20, knockout_prompts=8, knockout_tokens=100, first_token_prompts=16)

COLUMNS = {
    "heads.csv": ["head_id", "model", "layer", "head"],
    "embedding.csv": ["head_id", "method", "x", "y", "artificial"],
    "pca.csv": ["component", "explained_variance_ratio"],
    "aic.csv": ["bottleneck", "n_params", "train_mse", "mse", "aic_paper", "aic", "bic", "n_heldout_values",
                "picked_by_aic_paper", "picked_by_aic", "picked_by_bic"],
    "pair_importance.csv": ["query", "key", "mse", "mse_increase"],
    "resolution_sweep.csv": ["gamma", "n_clusters", "modularity", "precision", "recall", "f_score"],
    "clusters.csv": ["head_id", "cluster"],
    "knockout.csv": ["head_id", "model", "cluster", "ablation", "prompt", "position", "mean_abs_logit_change",
                     "top_suppressed", "top_promoted", "pc1", "pc2"],
    "stability.csv": ["test", "replicate", "gamma", "ari", "n_clusters", "f_score"],
    "first_token_pca.csv": ["word", "x", "y"],
}


def test_artificial_heads_have_the_described_patterns():
    art = artificial_patterns(n_prompts=2, n_ctx=4)
    assert art.shape == (3, 2, 4, 4) and ARTIFICIAL_HEADS == ("art.self", "art.uniform_prev", "art.self_prev")
    np.testing.assert_array_equal(art[0, 1], np.eye(4))
    np.testing.assert_allclose(art[1, 0, 3], [0.25] * 4)
    np.testing.assert_allclose(art[1, 0, 1], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(art[2, 0], [[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5]])


def test_extracted_patterns_are_causal_distributions(micro_fleet, nltk_data, cache_dir):
    fleet = Fleet(micro_fleet[0], nltk_data, cache_dir)
    tokens = np.random.default_rng(0).integers(0, 50_257, (20, 16))
    bridge = fleet.bridge(0)
    patterns = attention_patterns(bridge, tokens, batch_size=8)  # [head, prompt, q, k]
    assert patterns.shape == (2, 20, 16, 16)
    np.testing.assert_allclose(patterns.sum(-1), 1.0, atol=1e-5)
    assert np.abs(np.triu(patterns, 1)).max() == 0.0
    _, cache = bridge.run_with_cache(torch.as_tensor(tokens[:3]))
    np.testing.assert_allclose(cache["blocks.0.attn.hook_pattern"].transpose(0, 1).numpy(), patterns[:, :3], atol=1e-6)


@pytest.fixture(scope="module")
def micro_run(micro_fleet, nltk_data, cache_dir, tmp_path_factory):
    """The micro fleet's phrenology run, made once for this module."""
    fleet = Fleet(micro_fleet[0], nltk_data, cache_dir)
    out = tmp_path_factory.mktemp("ph") / "run"
    seconds = run_phrenology(fleet, PhrenologyConfig(**SMALL), out, progress=False)
    return fleet, out, seconds


def test_end_to_end_outputs(micro_run):
    fleet, out, seconds = micro_run
    assert list(seconds) == list(STEP_NAMES)
    for name, columns in COLUMNS.items():
        assert list(pd.read_csv(out / name).columns) == columns, name
    heads = pd.read_csv(out / "heads.csv")
    assert list(heads.head_id) == ["m00.L0H0", "m00.L0H1", "m01.L0H0", "m01.L0H1"]
    dist = pd.read_csv(out / "distances.csv", index_col=0)
    assert list(dist.index) == list(heads.head_id) and np.allclose(np.diag(dist), 0) and np.allclose(dist, dist.T)
    with np.load(out / "attention.npz") as data:
        assert data["patterns"].shape == (4, 48, 16, 16) and data["patterns"].dtype == np.float32
    prompts = [json.loads(line) for line in (out / "prompts.jsonl").open()]
    assert len(prompts) == 48 and all(len(p["tokens"]) == 16 for p in prompts)
    split = json.loads((fleet.path / "split.json").read_text())
    assert {p["doc"] for p in prompts} <= set(split["heldout_docs"])  # never training text
    embedding = pd.read_csv(out / "embedding.csv")
    assert set(embedding.method) == {"pca", "umap", "tsne"} and embedding.artificial.sum() == 9
    aic = pd.read_csv(out / "aic.csv")
    assert aic.picked_by_bic.sum() == 1 and aic.aic_paper.tolist() == list(2 * aic.bottleneck - 2 * np.log(aic.mse))
    html = (out / "report.html").read_text()
    for fig in out.glob("fig_*.png"):
        assert f'data-file="{fig.name}"' in html, fig.name
    assert len(re.findall(r"<img [^>]*data-file=\"fig_", html)) == len(list(out.glob("fig_*.png"))) == 15


def test_each_step_is_cached_on_what_it_reads(micro_run, tmp_path):
    fleet, out, _ = micro_run
    run = tmp_path / "copy"
    shutil.copytree(out, run)
    assert run_phrenology(fleet, PhrenologyConfig(**SMALL), run, progress=False) == {}  # nothing changed
    # another knockout head: only the knockout and the report are redone, not the extraction
    other = PhrenologyConfig(**{**SMALL, "knockout_head": "m01.L0H1"})
    assert list(run_phrenology(fleet, other, run, progress=False)) == ["knockout", "report"]
    # a crash in clustering: clustering and the steps that read it are redone, nothing before
    (run / "steps" / "cluster.json").unlink()
    assert list(run_phrenology(fleet, other, run, progress=False)) == ["cluster", "knockout", "stability", "report"]
    assert list(run_phrenology(fleet, other, run, force=True, progress=False)) == list(STEP_NAMES)


def test_report_states_the_verdict_against_the_null_and_explains_the_null_ari(micro_run):
    _, out, _ = micro_run
    html = (out / "report.html").read_text()
    verdict = json.loads((out / "null_verdict.json").read_text())
    assert verdict["statement"] in html and "the shuffled-heads null" in verdict["statement"]
    assert f"permutation p = {verdict['p_value']:.3g}" in verdict["statement"] and "z = " in verdict["statement"]
    assert "its ARI is left empty (n/a)" in html and ">NaN<" not in html.split("Stability and null")[1]


def test_cli_defaults_to_newest_fleet_error_when_none(tmp_path):
    with pytest.raises(FleetError, match="python -m train fleet"):
        latest_fleet(tmp_path)


@pytest.mark.parametrize("case", ["missing", "empty", "mixed", "too_many_prompts", "zero_prompts", "negative_prompts",
                                  "nan_weights", "unfinished"])
def test_bad_inputs_are_one_line_errors_without_output(case, micro_fleet, nltk_data, cache_dir, tmp_path, capsys):
    fleet = tmp_path / "fleet"
    prompts = "16"
    if case == "empty":
        fleet.mkdir()
    elif case == "mixed":
        shutil.copytree(micro_fleet[0], fleet)
        config = json.loads((fleet / "model_01" / "config.json").read_text())
        config["fleet_config"]["lr"] = 0.5
        (fleet / "model_01" / "config.json").write_text(json.dumps(config))
    elif case == "too_many_prompts":
        shutil.copytree(micro_fleet[0], fleet)
        prompts = "100000"
    elif case in ("zero_prompts", "negative_prompts"):
        shutil.copytree(micro_fleet[0], fleet)
        prompts = "0" if case == "zero_prompts" else "-1"
    elif case == "nan_weights":
        shutil.copytree(micro_fleet[0], fleet)
        poison_weights(fleet / "model_01" / "model.safetensors")
    elif case == "unfinished":
        shutil.copytree(micro_fleet[0], fleet)
        mark_unfinished(fleet)
    out = tmp_path / "out"
    code = main(["phrenology", "--fleet", str(fleet), "--out", str(out), "--prompts", prompts, "--nltk-data",
                 str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    expected = {"missing": "does not exist", "empty": "no fleet.json", "mixed": "mixes configs",
                "too_many_prompts": "ask for fewer", "zero_prompts": "prompts must be at least 2",
                "negative_prompts": "prompts must be at least 2", "nan_weights": "model_01/model.safetensors holds NaN or inf in layers.0.attn.q.weight",
                "unfinished": "model_01 (running)"}[case]
    assert expected in err
    assert not out.exists()


def poison_weights(path):
    """Write NaN into one tensor of a safetensors file, header intact."""
    from safetensors.torch import load_file, save_file

    state = load_file(path)
    state["layers.0.attn.q.weight"][0, 0] = float("nan")
    save_file(state, str(path))


def mark_unfinished(fleet):
    record = json.loads((fleet / "fleet.json").read_text())
    record["models"][1]["status"] = "running"
    (fleet / "fleet.json").write_text(json.dumps(record))


def test_unfinished_fleet_is_refused_with_a_command_that_works(micro_fleet, tmp_path):
    fleet = tmp_path / "fleet"
    shutil.copytree(micro_fleet[0], fleet)
    mark_unfinished(fleet)
    with pytest.raises(FleetError) as err:
        Fleet(fleet)
    assert f"python -m train fleet --out {fleet}" in str(err.value) and "--allow-partial" in str(err.value)


def test_allow_partial_analyses_the_finished_models_and_says_which_are_missing(micro_fleet, nltk_data, cache_dir,
                                                                             tmp_path):
    fleet = tmp_path / "fleet"
    shutil.copytree(micro_fleet[0], fleet)
    mark_unfinished(fleet)
    out = tmp_path / "out"
    code = main(["phrenology", "--fleet", str(fleet), "--out", str(out), "--allow-partial", "--no-progress",
                 "--nltk-data", str(nltk_data), "--cache-dir", str(cache_dir),
                 *[f"{k}={json.dumps(v)}" for k, v in {**SMALL, "prompts": 16}.items()]])
    assert code == 0
    html = (out / "report.html").read_text()
    assert "Partial fleet: 1 of 2 models are missing from this analysis (m01: running)" in html
    assert set(pd.read_csv(out / "heads.csv").model) == {"m00"}
    # one model has no other seed: no cross-seed finding, no null across seeds, one line saying so
    from analyze.phrenology.findings import NOTHING_ACROSS_SEEDS

    assert f"<b>Finding.</b> {NOTHING_ACROSS_SEEDS}" in html
    assert "All 1 models" not in html and "Against chance" not in html and "F = 1.000 against" not in html
    assert json.loads((out / "null_verdict.json").read_text())["statement"] == NOTHING_ACROSS_SEEDS


def test_few_prompts_are_warned_about(caplog):
    cfg = PhrenologyConfig(prompts=3)
    assert cfg.warnings() and "only 3 prompts" in cfg.warnings()[0]
    assert not PhrenologyConfig().warnings()


def test_figure_titles_fit_and_the_sweep_legend_names_every_series(monkeypatch, tmp_path):
    """Fig. 1's long title is wrapped, not clipped; Fig. 4's legend sits below the axes and names the cluster count."""
    from analyze.phrenology import plots

    seen = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: seen.setdefault(path.name, fig))
    plots.pair_heatmap(np.zeros((16, 16)), "MSE increase when a token pair is randomised (bottleneck 64, Fig. 1)",
                       tmp_path / "fig1.png", "MSE increase")
    title = seen["fig1.png"].axes[0].get_title()
    assert "\n" in title and max(len(line) for line in title.splitlines()) <= 48
    rows = [{"gamma": g, "f_score": 0.5, "precision": 0.5, "recall": 0.5, "n_clusters": 3} for g in (0.1, 0.2)]
    plots.sweep_curve(rows, 0.1, tmp_path / "fig4.png")
    fig = seen["fig4.png"]
    legend = fig.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert "clusters (right axis)" in labels and {"f_score", "precision", "recall"} <= set(labels)
    assert legend.get_bbox_to_anchor().y0 < fig.axes[0].get_window_extent().y0  # below the axes


@pytest.fixture(scope="module")
def constructed_run(tmp_path_factory, nltk_data, cache_dir):
    """Phrenology of a hand-built 6-model fleet (no training noise): two planted head kinds in every model."""
    from tests.analyze.constructed_fleet import build_constructed_fleet

    root = tmp_path_factory.mktemp("constructed")
    fleet = Fleet(build_constructed_fleet(root / "fleet", n_models=6), nltk_data, cache_dir)
    run_phrenology(fleet, PhrenologyConfig(**SMALL), root / "run", progress=False)
    return root / "run"


def test_constructed_fleet_phrenology_is_pinned(constructed_run):
    """Clusters, γ*, F, the null and the head projection of a fixed-seed run, pinned before the analysis' code
    moved or sped up (#22, #23): they must not change."""
    from tests.pinned import check_pinned

    out = constructed_run
    clusters = pd.read_csv(out / "clusters.csv")
    sweep = pd.read_csv(out / "resolution_sweep.csv")
    null = json.loads((out / "null_verdict.json").read_text())
    best = sweep.loc[sweep.f_score.idxmax()]
    values = {f"cluster.{h}": str(c) for h, c in zip(clusters.head_id, clusters.cluster)}
    values.update({"best_f": best.f_score, "best_gamma": best.gamma, "n_clusters": best.n_clusters,
                   "null.real_f": null["real_f"], "null.mean": null["null_f_mean"], "null.std": null["null_f_std"],
                   "null.p": null["p_value"],
                   "bottleneck": json.loads((out / "chosen_bottleneck.json").read_text())["bottleneck"]})
    stability = pd.read_csv(out / "stability.csv")
    values.update({f"stability.{t}.{r}.ari": a for t, r, a in zip(stability.test, stability.replicate, stability.ari)})
    pca = pd.read_csv(out / "embedding.csv").query("method == 'pca'")
    values.update({f"pca.{h}.{axis}": abs(v) for h, x, y in zip(pca.head_id, pca.x, pca.y)
                   for axis, v in (("x", x), ("y", y))})  # abs: a component's sign is arbitrary
    check_pinned("constructed_phrenology", values, atol=1e-4)
