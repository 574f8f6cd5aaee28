"""toyheads training: the Brown corpus, the toy transformer, and fleet training with Lightning."""

from train.checkpoints import load_fleet, load_toy_bridge
from train.config import FleetConfig, load_config

__all__ = ["FleetConfig", "load_config", "load_fleet", "load_toy_bridge"]
