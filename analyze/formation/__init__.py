"""When heads form over training: ``python -m analyze formation`` on the records a fleet writes while it trains."""

from analyze.formation.pipeline import FormationJob, run_formation

__all__ = ["FormationJob", "run_formation"]
