"""Installed use: the project installed non-editable (a wheel's files, not the checkout) trains a fleet and analyses it
from another folder, and its outputs go under that folder (or $TOYHEADS_HOME), never under the package."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["n=2", "n_heads=2", "d_model=32", "d_head=16", "d_mlp=64", "train_windows=256", "val_windows=32", "epochs=1",
        "batch_size=32", "precision=32-true"]
SMALL = ["--prompts", "48", "bottlenecks=[2]", "ae_epochs=1", "n_gammas=20", "stability_replicates=1",
         "null_replicates=1", "null_gammas=10", "knockout_prompts=4", "knockout_tokens=50", "first_token_prompts=8"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install --no-deps --target DIR``: the package as a wheel installs it (dependencies from this venv),
    built from a copy of the source so the checkout gets no build/ folder."""
    import shutil

    source = tmp_path_factory.mktemp("source") / "toyheads"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", "runs", "checkpoints", ".cache",
                                                                "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(source)], check=True, capture_output=True)
    return target


def command(installed: Path, cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ)
    environ.pop("TOYHEADS_HOME", None)
    environ.update(PYTHONPATH=str(installed), **env)
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=environ, capture_output=True, text=True)


@pytest.mark.slow
def test_installed_package_trains_and_analyses_from_another_folder(installed, nltk_data, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    where = command(installed, work, "-c", "import train, analyze; print(train.__file__, analyze.__file__)")
    assert where.returncode == 0 and all(p.startswith(str(installed)) for p in where.stdout.split())
    trained = command(installed, work, "-m", "train", "fleet", "--config", str(ROOT / "configs" / "tiny.yaml"),
                      "--nltk-data", str(nltk_data), "--no-progress", *TINY)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "2/2 models done" in trained.stdout
    analysed = command(installed, work, "-m", "analyze", "phrenology", "--nltk-data", str(nltk_data), "--no-progress",
                       *SMALL)
    assert analysed.returncode == 0, analysed.stderr[-2000:]
    # the default fleet is the newest under ./checkpoints, the default output ./runs/phrenology/<fleet>
    assert sorted(p.name for p in (work / "checkpoints" / "tiny").iterdir() if p.is_dir()) == ["model_00", "model_01"]
    assert len((work / "runs" / "phrenology" / "tiny" / "clusters.csv").read_text().splitlines()) == 1 + 4
    written = {p.name for p in installed.rglob("*") if p.name in ("checkpoints", "runs", ".cache")}
    assert written == set(), written  # nothing under the installed package


@pytest.mark.slow
def test_toyheads_home_sets_the_output_folder(installed, nltk_data, tmp_path):
    home, work = tmp_path / "home", tmp_path / "elsewhere"
    work.mkdir()
    trained = command(installed, work, "-m", "train", "fleet", "--config", str(ROOT / "configs" / "tiny.yaml"),
                      "--nltk-data", str(nltk_data), "--no-progress", *TINY, "n=1", TOYHEADS_HOME=str(home))
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (home / "checkpoints" / "tiny" / "model_00" / "model.safetensors").stat().st_size > 0
    assert not (work / "checkpoints").exists() and (home / ".cache").is_dir()
