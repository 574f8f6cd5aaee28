"""Logging for the command-line tools: our INFO lines, the libraries' warnings only."""

from __future__ import annotations

import logging
import warnings

CHATTY = ("lightning", "lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
          "transformers", "datasets", "transformer_lens", "numba", "umap")


def setup_logging(level: int = logging.INFO, lightning: bool = True) -> None:
    """``lightning=False`` for the commands that never train: Lightning sets its loggers' levels when imported, so
    a training command imports it here first, but the import costs seconds (5 s of a probe run's start-up)."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if lightning:
        import lightning as _  # noqa: F401 - sets its own levels on import, so import before overriding them

    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    quiet_library_progress_bars()


def quiet_library_progress_bars() -> None:
    """No progress bars from Hugging Face's libraries ("Loading weights" on every model load), ours being the
    ones a command shows. Said through the variables they read when imported, not by importing them: importing
    transformers here cost every command its start-up, even a phrenology run whose steps are all cached (5.7 s,
    now 5.2). A library imported already is told directly."""
    import os
    import sys

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' bars follow the Hub's switch
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
