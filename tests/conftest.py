"""Shared fixtures: a micro fleet trained once per test session on the real Brown corpus."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from train.config import load_config
from train.corpus import DEFAULT_NLTK_DATA

# Paper architecture family shrunk to seconds per model: 1 layer, SoLU-LN, n_ctx 16, GPT-2 vocab.
MICRO = dict(n=2, n_heads=2, d_model=32, d_head=16, d_mlp=64, train_windows=512, val_windows=64,
             batch_size=32, epochs=2, lr=3e-3, weight_decay=0.1, checkpoint_every_n_steps=8,
             log_every_n_steps=4)


def pytest_configure(config):
    logging.getLogger("lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def nltk_data() -> Path:
    if not (DEFAULT_NLTK_DATA / "corpora" / "brown.zip").exists():
        pytest.fail(f"the tests need the Brown corpus at {DEFAULT_NLTK_DATA}/corpora/brown.zip")
    return DEFAULT_NLTK_DATA


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def micro_config():
    return load_config(None, MICRO)


@pytest.fixture(scope="session")
def micro_fleet(tmp_path_factory, micro_config, nltk_data, cache_dir):
    """``(fleet_dir, record)`` of a 2-model micro fleet, trained once for the whole session."""
    from train.fleet import train_fleet

    out = tmp_path_factory.mktemp("fleet") / "micro"
    record = train_fleet(micro_config, out, nltk_data, cache_dir, progress=False)
    return out, record
