"""toyheads training: the Brown corpus, the toy transformer, and fleet training with Lightning."""

from train.checkpoints import load_toy_bridge
from train.config import FleetConfig, load_config
from train.record import FleetRecord, Status, load_fleet

__all__ = ["FleetConfig", "FleetRecord", "Status", "load_config", "load_fleet", "load_toy_bridge"]
