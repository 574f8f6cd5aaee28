"""Command logging: Hugging Face's progress bars are off in every command, without importing the libraries."""

import subprocess
import sys


def test_library_progress_bars_are_off_without_importing_the_libraries():
    """A model load prints no "Loading weights" bar, and setting that up must not import transformers or datasets
    (seconds of every command's start): the bars are switched off through the variables the libraries read."""
    script = """
import sys, os
os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
os.environ.pop("HF_DATASETS_DISABLE_PROGRESS_BARS", None)
from train.logs import setup_logging
setup_logging(lightning=False)
print("transformers" in sys.modules, "datasets" in sys.modules)
import datasets, transformers
from datasets.utils.logging import is_progress_bar_enabled
print(transformers.utils.logging.is_progress_bar_enabled(), is_progress_bar_enabled())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False", "False"]


def test_a_library_imported_before_is_told_directly():
    script = """
import transformers, datasets
from datasets.utils.logging import is_progress_bar_enabled
assert transformers.utils.logging.is_progress_bar_enabled() and is_progress_bar_enabled()
from train.logs import setup_logging
setup_logging(lightning=False)
print(transformers.utils.logging.is_progress_bar_enabled(), is_progress_bar_enabled())
"""
    env = {k: v for k, v in __import__("os").environ.items() if "PROGRESS_BARS" not in k}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["False", "False"]
