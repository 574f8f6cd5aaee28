"""A fleet group's checkpoints kept as one single-member ``model_XX/last.ckpt`` per member.

``GroupCheckpointIO`` is a Lightning checkpoint plugin that writes a ``FleetGroup`` checkpoint (``train.module``)
as one single-member file per member, each written atomically, and assembles a group checkpoint from them on
resume. So a member resumes alone or in any group at its own step, and every fleet's checkpoints read the same
whatever ``members_per_step`` trained them.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO

from train.checkpoints import atomic_torch_save
from train.module import FleetGroup, mangle

log = logging.getLogger(__name__)


class GroupCheckpointIO(CheckpointIO):
    """Reads and writes a group's checkpoint as one single-member ``last.ckpt`` per member (module docstring)."""

    def __init__(self, config: dict[str, Any], indices: list[int], member_dirs: list[Path]):
        self.config, self.indices, self.member_dirs = config, list(indices), [Path(d) for d in member_dirs]

    # --- writing ---
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        for k, (index, model_dir) in enumerate(zip(self.indices, self.member_dirs)):
            member = split_member(checkpoint, k, index, self.config, model_dir)
            atomic_torch_save(member, model_dir / "last.ckpt")  # a kill never leaves a half-written checkpoint

    def remove_checkpoint(self, path) -> None:
        """The member files are replaced in place; nothing is ever removed."""

    # --- reading ---
    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        members = [torch.load(d / "last.ckpt", map_location="cpu", weights_only=False) for d in self.member_dirs]
        return merge_members(members, self.config, self.indices)

    def teardown(self) -> None:
        pass


def split_member(group: dict[str, Any], k: int, index: int, config: dict, model_dir: Path) -> dict[str, Any]:
    """Member ``k`` of a group checkpoint as a single-member checkpoint: ``model.<name>`` weights and per-member
    AdamW moments, the layout every toyheads fleet has written since its first version."""
    member = {key: value for key, value in group.items() if key not in ("state_dict", "optimizer_states")}
    member["state_dict"] = {"model." + key.removeprefix("stacked.").replace("__", "."): value[k].clone()
                            for key, value in group["state_dict"].items() if key.startswith("stacked.")}
    member["optimizer_states"] = [{
        "state": {p: {name: (value[k].clone() if name in ("exp_avg", "exp_avg_sq") else value)
                      for name, value in state.items()} for p, state in opt["state"].items()},
        "param_groups": copy.deepcopy(opt["param_groups"])} for opt in group["optimizer_states"]]
    member["hyper_parameters"] = {"config": config, "index": index}
    member["callbacks"] = {key: _with_dirpath(state, model_dir) for key, state in group.get("callbacks", {}).items()}
    return member


def merge_members(members: list[dict[str, Any]], config: dict, indices: list[int]) -> dict[str, Any]:
    """A group checkpoint stacked from member checkpoints that share one training progress."""
    steps = {m["global_step"] for m in members}
    if len(steps) != 1:
        raise ValueError(f"members {indices} are at different steps {sorted(steps)}; they cannot resume as one group")
    group = {key: value for key, value in members[0].items() if key not in ("state_dict", "optimizer_states")}
    group["state_dict"] = {"stacked." + mangle(key.removeprefix("model.")): torch.stack([m["state_dict"][key]
                                                                                         for m in members])
                           for key in members[0]["state_dict"]}
    opts = []
    for j, first in enumerate(members[0]["optimizer_states"]):
        state = {p: {name: (torch.stack([m["optimizer_states"][j]["state"][p][name] for m in members])
                            if name in ("exp_avg", "exp_avg_sq") else value) for name, value in s.items()}
                 for p, s in first["state"].items()}
        opts.append({"state": state, "param_groups": copy.deepcopy(first["param_groups"])})
    group["optimizer_states"] = opts
    group["hyper_parameters"] = {"config": config, "indices": list(indices)}
    return group


def _with_dirpath(state, model_dir: Path):
    """A ModelCheckpoint state as the member's own callback would have written it (its dirpath and last file)."""
    if isinstance(state, dict) and "dirpath" in state:
        state = {**state, "dirpath": str(model_dir), "last_model_path": str(model_dir / "last.ckpt")}
    return state


def checkpoint_step(model_dir: Path) -> int:
    """The global step of a member's ``last.ckpt`` (0 without one), read without loading its tensors."""
    path = Path(model_dir) / "last.ckpt"
    if not path.exists():
        return 0
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False, mmap=True)["global_step"])
    except Exception as err:  # noqa: BLE001 - unreadable: the member trains alone and its own run reports it
        log.warning("cannot read %s (%s); that model is trained on its own", path, err)
        return -1


def load_member(model_dir: Path, map_location: str = "cpu") -> FleetGroup:
    """A member's ``last.ckpt`` as a group of one, with its trained weights (for inspecting a training state)."""
    member = torch.load(Path(model_dir) / "last.ckpt", map_location=map_location, weights_only=False)
    config, index = member["hyper_parameters"]["config"], member["hyper_parameters"]["index"]
    module = FleetGroup(config, [index])
    module.load_state_dict(merge_members([member], config, [index])["state_dict"])
    return module
