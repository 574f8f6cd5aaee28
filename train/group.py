"""Several fleet members trained as one batched model per optimizer step (``members_per_step``).

Each member keeps exactly what it has when trained alone: its seed's initialisation, its own window sample and
batch order, its own AdamW state and step count, its own ``model_XX/last.ckpt`` in the single-member format and
its own resume point. Only the arithmetic is shared:

- the members' parameters are stacked along a new leading dimension (``torch.func.stack_module_state``) and the
  model body runs once for all members through ``torch.func.vmap`` over ``functional_call`` of the same
  TransformerLens ``NativeModel`` code the single path runs;
- the unembedding loss takes the stacked hidden states and W_U (train/loss.py) and returns one mean per member;
  the step minimises their sum, so each member's gradient is that of its own loss;
- one fused AdamW updates the stacked tensors: AdamW is elementwise, so this is each member's own update.

``GroupCheckpointIO`` is a Lightning checkpoint plugin that writes a group checkpoint as one single-member
``last.ckpt`` per member, and assembles a group checkpoint from them on resume, so a member can be resumed alone
or in any group with the same progress.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
from torch.func import functional_call, stack_module_state, vmap

from train.config import FleetConfig
from train.data import sample_windows
from train.loss import unembed_cross_entropy
from train.model import build_native_model, final_hidden
from train.module import BrownWindows, EpochBatches, autocast_bf16

log = logging.getLogger(__name__)


def mangle(name: str) -> str:
    """A NativeModel parameter name as a module attribute name (no dots)."""
    return name.replace(".", "__")


class HiddenStates(torch.nn.Module):
    """``final_hidden`` as a module, so ``functional_call`` can run it with stacked parameters."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return final_hidden(self.model, tokens)


class FleetGroup(L.LightningModule):
    """Members ``indices`` of a fleet, stacked; ``training_step`` returns the sum of their mean losses."""

    def __init__(self, config: dict[str, Any], indices: list[int]):
        super().__init__()
        self.save_hyperparameters()
        self.cfg, self.indices = FleetConfig(**config), list(indices)
        members = [HiddenStates(build_native_model(self.cfg.tl_config(i))) for i in self.indices]
        params, buffers = stack_module_state(members)  # {"model.<name>": [K, ...]}
        self.names = [n.removeprefix("model.") for n in params]  # NativeModel order = FleetMember's order
        self.stacked = torch.nn.ParameterDict({mangle(n): torch.nn.Parameter(params["model." + n]) for n in self.names})
        for name, value in buffers.items():  # the causal mask: not saved, as in NativeModel
            self.register_buffer(mangle(name), value, persistent=False)
        self._buffer_names = list(buffers)
        self.template = [copy.deepcopy(members[0]).to("meta")]  # a list: not a submodule, holds no weights
        self.nonfinite: dict[int, int] = {}  # member index → step where its loss blew up
        self.last_losses: torch.Tensor | None = None  # [K] the last step's losses

    def member_params(self) -> dict[str, torch.Tensor]:
        return {"model." + n: self.stacked[mangle(n)] for n in self.names}

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        """[K, batch, pos] → [K, batch, pos, d_model]"""
        buffers = {name: getattr(self, mangle(name)) for name in self._buffer_names}

        def one(params, bufs, x):
            return functional_call(self.template[0], (params, bufs), (x,))

        return vmap(one)(self.member_params(), buffers, inputs)

    def member_losses(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [K, batch, n_ctx + 1] → mean next-token loss of each member [K]."""
        hidden = self.hidden(tokens[..., :-1]).flatten(1, 2)  # [K, batch * n_ctx, d_model]
        targets = tokens[..., 1:].flatten(1)  # [K, batch * n_ctx]
        return unembed_cross_entropy(hidden, self.stacked[mangle("head.weight")], targets, self.cfg.loss_chunk,
                                     low_precision=autocast_bf16(tokens))

    def member_val_losses(self, tokens: torch.Tensor) -> torch.Tensor:
        """Shared validation windows [batch, n_ctx + 1] → fp32 loss of each member [K]."""
        with torch.autocast(tokens.device.type, enabled=False):
            return self.member_losses(tokens.expand(len(self.indices), *tokens.shape))

    def training_step(self, tokens: torch.Tensor, batch_idx: int):
        losses = self.member_losses(tokens)
        bad = ~torch.isfinite(losses)
        if bool(bad.any()):  # one host sync per step, as the single-member path has
            # Returning None skips the optimizer step for every member: the weights stay the last good ones.
            for k in torch.nonzero(bad).flatten().tolist():
                self.nonfinite[self.indices[k]] = self.global_step
                log.error("model %d: non-finite loss (%s) at step %d; stopping its group", self.indices[k],
                          losses[k].item(), self.global_step)
            self.trainer.should_stop = True
            return None
        self.last_losses = losses.detach()  # read by the metrics callbacks when they write a row (no sync per step)
        self.log("train_loss", losses.mean(), on_step=True, on_epoch=False)
        return losses.sum()

    def validation_step(self, tokens: torch.Tensor, batch_idx: int) -> None:
        losses = self.member_val_losses(tokens)
        for k, index in enumerate(self.indices):
            self.log(f"val_loss_{index}", losses[k], on_step=False, on_epoch=True, batch_size=len(tokens))

    def configure_optimizers(self):
        c = self.cfg
        return torch.optim.AdamW([self.stacked[mangle(n)] for n in self.names], lr=c.lr, weight_decay=c.weight_decay,
                                 betas=(c.beta1, c.beta2), fused=c.fused_adamw)

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s weights with NativeModel names."""
        return {n: self.stacked[mangle(n)][k].detach() for n in self.names}


class GroupEpochBatches(EpochBatches):
    """Each member's batches of one epoch, in the order its own ``(seed, epoch)`` fixes, stacked.

    windows: [K, n, length]; yields [K, batch, length]. Resumes as ``module.EpochBatches`` does (its ``state_dict``).
    """

    def __init__(self, windows: torch.Tensor, batch_size: int, seeds: list[int], epoch: int):
        self.windows, self.batch_size, self.seeds, self.epoch = windows, batch_size, seeds, epoch
        self._skip = 0
        self._yielded = 0

    def __len__(self) -> int:
        return -(-self.windows.shape[1] // self.batch_size)

    def __iter__(self):
        n = self.windows.shape[1]
        orders = torch.stack([torch.from_numpy(np.random.default_rng([s, self.epoch]).permutation(n))
                              for s in self.seeds])  # [K, n]
        start, self._skip = self._skip, 0
        rows = torch.arange(len(self.seeds))[:, None]
        for b in range(start, len(self)):
            self._yielded = b + 1
            yield self.windows[rows, orders[:, b * self.batch_size:(b + 1) * self.batch_size]]


class GroupWindows(BrownWindows):
    """Each member's own training windows (its window seed), stacked, and the shared validation windows; the
    rest (Brown cache, validation) is ``module.BrownWindows``'."""

    def __init__(self, config: dict[str, Any], indices: list[int], nltk_data=None, cache_dir=None):
        super().__init__(config, indices[0], nltk_data, cache_dir)
        self.indices = list(indices)

    def sample_train_windows(self, train_text, length: int) -> torch.Tensor:
        """→ [K, train_windows, length]"""
        c = self.cfg
        return torch.from_numpy(np.stack([sample_windows(train_text, c.train_windows, length, c.window_seed(i))
                                          for i in self.indices]))

    def train_dataloader(self) -> GroupEpochBatches:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return GroupEpochBatches(self.train_windows, self.cfg.batch_size,
                                 [self.cfg.model_seed(i) for i in self.indices], epoch)


class GroupCheckpointIO(CheckpointIO):
    """Reads and writes a group's checkpoint as one single-member ``last.ckpt`` per member (module docstring)."""

    def __init__(self, config: dict[str, Any], indices: list[int], member_dirs: list[Path]):
        self.config, self.indices, self.member_dirs = config, list(indices), [Path(d) for d in member_dirs]

    # --- writing ---
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        for k, (index, model_dir) in enumerate(zip(self.indices, self.member_dirs)):
            member = split_member(checkpoint, k, index, self.config, model_dir)
            target = model_dir / "last.ckpt"
            tmp = target.with_name(f".last.ckpt.tmp{os.getpid()}")
            torch.save(member, tmp)
            os.replace(tmp, target)  # atomic: a kill never leaves a half-written checkpoint

    def remove_checkpoint(self, path) -> None:
        """The member files are replaced in place; nothing is ever removed."""

    # --- reading ---
    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        members = [torch.load(d / "last.ckpt", map_location="cpu", weights_only=False) for d in self.member_dirs]
        return merge_members(members, self.config, self.indices)

    def teardown(self) -> None:
        pass


def split_member(group: dict[str, Any], k: int, index: int, config: dict, model_dir: Path) -> dict[str, Any]:
    """Member ``k`` of a group checkpoint as the checkpoint ``FleetMember`` would have written."""
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
