"""The Attention Phrenology paper (Edkins & Wiechecki, 2023) on a fleet: one module per step, run by ``pipeline.run_phrenology``."""

from analyze.phrenology.config import PhrenologyConfig
from analyze.phrenology.pipeline import run_phrenology

__all__ = ["PhrenologyConfig", "run_phrenology"]
