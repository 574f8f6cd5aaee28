"""What a phrenology step is handed: the fleet, the config, the run directory (and its reader), and flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analyze.core.figures import FigureQueue
from analyze.core.fleet import Fleet
from analyze.phrenology.config import PhrenologyConfig
from analyze.phrenology.run import PhrenologyRun


@dataclass
class StepContext:
    fleet: Fleet
    cfg: PhrenologyConfig
    out: Path
    progress: bool = True
    write_csv: bool = False
    figures: FigureQueue = field(default_factory=FigureQueue)  # drawn here, or beside the next steps

    @property
    def run(self) -> PhrenologyRun:
        """A fresh reader: a step sees the files of the steps before it as they are now."""
        return PhrenologyRun(self.out)
