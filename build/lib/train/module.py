"""The one Lightning training path: ``FleetGroup``, K fleet members trained as one batched model (K = 1 included),
and ``BrownWindows``, each member's own Brown windows.

Each member keeps exactly what it has when trained alone: its seed's initialisation, its own window sample and
batch order, its own AdamW state and step count, its own ``model_XX/last.ckpt`` in the single-member format and
its own resume point (``train.group``). Only the arithmetic is shared:

- the members' parameters are stacked along a new leading dimension (``torch.func.stack_module_state``) and the
  model body runs once for all members through ``torch.func.vmap`` over ``functional_call`` of the same
  TransformerLens ``NativeModel`` code. A group of one runs that code unbatched on its only member's slices, so
  ``members_per_step=1`` is the arithmetic of one plain model, bit for bit;
- the unembedding loss takes the stacked hidden states and W_U (train/loss.py) and returns one mean per member;
  the step minimises their sum, so each member's gradient is that of its own loss;
- one fused AdamW updates the stacked tensors: AdamW is elementwise, so this is each member's own update.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from train.config import FleetConfig
from train.data import sample_windows, tokenize_brown
from train.loss import unembed_cross_entropy
from train.model import build_native_model, final_hidden

log = logging.getLogger(__name__)


def mangle(name: str) -> str:
    """A NativeModel parameter name as a module attribute name (no dots)."""
    return name.replace(".", "__")


def autocast_bf16(tensor: torch.Tensor) -> bool:
    """True inside Lightning's ``bf16-mixed`` autocast region on the tensor's device."""
    kind = tensor.device.type
    return torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind) == torch.bfloat16


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
        self.names = [n.removeprefix("model.") for n in params]  # NativeModel order, as model.parameters()
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
        if len(self.indices) == 1:  # the plain model's arithmetic on its own slices (module docstring)
            # squeeze, not v[0]: the gradient of a select is a zero-filled copy of the whole stack (two 51 MB
            # passes a step for W_E and W_U), that of a squeeze a view of the gradient itself
            one = ({k: v.squeeze(0) for k, v in self.member_params().items()}, {k: v[0] for k, v in buffers.items()})
            return functional_call(self.template[0], one, (inputs[0],))[None]

        def member(params, bufs, x):
            return functional_call(self.template[0], (params, bufs), (x,))

        return vmap(member)(self.member_params(), buffers, inputs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """[K, batch, pos] → logits [K, batch, pos, vocab]"""
        return self.hidden(inputs) @ self.stacked[mangle("head.weight")].transpose(-1, -2)

    def member_losses(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [K, batch, n_ctx + 1] → mean next-token loss of each member [K]."""
        hidden = self.hidden(tokens[..., :-1]).flatten(1, 2)  # [K, batch * n_ctx, d_model]
        targets = tokens[..., 1:].flatten(1)  # [K, batch * n_ctx]
        w_u = self.stacked[mangle("head.weight")]
        if len(self.indices) == 1:  # the single-model loss, as the plain model computes it
            return unembed_cross_entropy(hidden[0], w_u.squeeze(0), targets[0], self.cfg.loss_chunk,
                                         low_precision=autocast_bf16(tokens))[None]
        return unembed_cross_entropy(hidden, w_u, targets, self.cfg.loss_chunk, low_precision=autocast_bf16(tokens))

    def member_val_losses(self, tokens: torch.Tensor) -> torch.Tensor:
        """Shared validation windows [batch, n_ctx + 1] → fp32 loss of each member [K]."""
        with torch.autocast(tokens.device.type, enabled=False):
            return self.member_losses(tokens.expand(len(self.indices), *tokens.shape))

    def training_step(self, tokens: torch.Tensor, batch_idx: int):
        losses = self.member_losses(tokens)
        bad = ~torch.isfinite(losses)
        if bool(bad.any()):  # one host sync per step
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
        losses = self.member_val_losses(tokens)  # fp32 whatever the training precision
        for k, index in enumerate(self.indices):
            self.log(f"val_loss_{index}", losses[k], on_step=False, on_epoch=True, batch_size=len(tokens))

    def configure_optimizers(self):
        c = self.cfg
        # fused AdamW: one kernel over all parameters, ~7x faster than the per-tensor loop on CPU (bench/)
        return torch.optim.AdamW([self.stacked[mangle(n)] for n in self.names], lr=c.lr, weight_decay=c.weight_decay,
                                 betas=(c.beta1, c.beta2), fused=c.fused_adamw)

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s weights with NativeModel names."""
        return {n: self.stacked[mangle(n)][k].detach() for n in self.names}


class EpochBatches:
    """Each member's batches of one epoch, in the order its own ``(seed, epoch)`` fixes, stacked.

    windows: [K, n, length]; yields [K, batch, length]. Lightning saves ``state_dict()`` in each checkpoint, so a
    run killed mid-epoch resumes at the next unseen batch instead of replaying the epoch from its start.
    """

    def __init__(self, windows: torch.Tensor, batch_size: int, seeds: list[int], epoch: int):
        self.windows, self.batch_size, self.seeds, self.epoch = windows, batch_size, list(seeds), epoch
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

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self._yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["epoch"] == self.epoch:
            self._skip = state["batches_done"]


class BrownWindows(L.LightningDataModule):
    """Each member's own training windows (its window seed), stacked, and the shared validation windows, from the
    cached tokens."""

    def __init__(self, config: dict[str, Any], indices: list[int], nltk_data=None, cache_dir=None):
        super().__init__()
        self.cfg, self.indices = FleetConfig(**config), list(indices)
        self.nltk_data, self.cache_dir = nltk_data, cache_dir

    def prepare_data(self) -> None:
        tokenize_brown(self.cfg.heldout_fraction, self.nltk_data, self.cache_dir)  # builds the cache once

    def setup(self, stage: str | None = None) -> None:
        c = self.cfg
        _, train_text, heldout_text = tokenize_brown(c.heldout_fraction, self.nltk_data, self.cache_dir)
        length = c.n_ctx + 1
        self.train_windows = torch.from_numpy(np.stack([  # [K, train_windows, length]
            sample_windows(train_text, c.train_windows, length, c.window_seed(i)) for i in self.indices]))
        self.val_windows = torch.from_numpy(sample_windows(heldout_text, c.val_windows, length, c.val_seed))

    def train_dataloader(self) -> EpochBatches:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return EpochBatches(self.train_windows, self.cfg.batch_size, [self.cfg.model_seed(i) for i in self.indices],
                            epoch)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val_windows, batch_size=self.cfg.batch_size)
