"""Phrenology end to end on the session's micro fleet, and its input checks."""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from analyze.__main__ import main
from analyze.extract import ARTIFICIAL_HEADS, artificial_patterns, attention_patterns
from analyze.fleets import FleetError, FleetInputs, latest_fleet
from analyze.phrenology import STEPS, PhrenologyConfig, run_phrenology

SMALL = dict(prompts=48, bottlenecks=[2, 4], ae_epochs=2, n_gammas=40, stability_replicates=3, null_replicates=2,
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
    fleet = FleetInputs(micro_fleet[0], nltk_data, cache_dir)
    tokens = np.random.default_rng(0).integers(0, 50_257, (20, 16))
    bridge = fleet.bridge(0)
    patterns = attention_patterns(bridge, tokens, batch_size=8)  # [head, prompt, q, k]
    assert patterns.shape == (2, 20, 16, 16)
    np.testing.assert_allclose(patterns.sum(-1), 1.0, atol=1e-5)
    assert np.abs(np.triu(patterns, 1)).max() == 0.0
    _, cache = bridge.run_with_cache(torch.as_tensor(tokens[:3]))
    np.testing.assert_allclose(cache["blocks.0.attn.hook_pattern"].transpose(0, 1).numpy(), patterns[:, :3], atol=1e-6)


def test_end_to_end_outputs_and_resume(micro_fleet, nltk_data, cache_dir, tmp_path):
    fleet = FleetInputs(micro_fleet[0], nltk_data, cache_dir)
    out = tmp_path / "ph"
    seconds = run_phrenology(fleet, PhrenologyConfig(**SMALL), out, progress=False)
    assert list(seconds) == list(STEPS)
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
    split = json.loads((micro_fleet[0] / "split.json").read_text())
    assert {p["doc"] for p in prompts} <= set(split["heldout_docs"])  # never training text
    embedding = pd.read_csv(out / "embedding.csv")
    assert set(embedding.method) == {"pca", "umap", "tsne"} and embedding.artificial.sum() == 9
    aic = pd.read_csv(out / "aic.csv")
    assert aic.picked_by_bic.sum() == 1 and aic.aic_paper.tolist() == list(2 * aic.bottleneck - 2 * np.log(aic.mse))
    html = (out / "report.html").read_text()
    for fig in out.glob("fig_*.png"):
        assert f'data-file="{fig.name}"' in html, fig.name
    assert len(re.findall(r"data:image/png;base64,", html)) == len(list(out.glob("fig_*.png"))) == 15

    # a rerun after a "crash" in clustering redoes clustering and what follows, nothing before
    (out / "steps" / "cluster.json").unlink()
    seconds = run_phrenology(fleet, PhrenologyConfig(**SMALL), out, progress=False)
    assert list(seconds) == ["cluster"]  # later steps' inputs did not change: their markers still hold
    seconds = run_phrenology(fleet, PhrenologyConfig(**SMALL), out, force=True, progress=False)
    assert list(seconds) == list(STEPS)


def test_cli_defaults_to_newest_fleet_error_when_none(tmp_path):
    with pytest.raises(FleetError, match="python -m train fleet"):
        latest_fleet(tmp_path)


@pytest.mark.parametrize("case", ["missing", "empty", "mixed", "too_many_prompts"])
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
    out = tmp_path / "out"
    code = main(["phrenology", "--fleet", str(fleet), "--out", str(out), "--prompts", prompts, "--nltk-data",
                 str(nltk_data), "--cache-dir", str(cache_dir), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    expected = {"missing": "does not exist", "empty": "no fleet.json", "mixed": "mixes configs",
                "too_many_prompts": "ask for fewer"}[case]
    assert expected in err
    assert not out.exists()
