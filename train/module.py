"""Lightning wrappers: one fleet member (model + AdamW + next-token loss) and its Brown windows."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import numpy as np
import torch

from train.config import FleetConfig
from train.data import sample_windows, tokenize_brown
from train.loss import unembed_cross_entropy
from train.model import build_native_model, final_hidden

log = logging.getLogger(__name__)


def next_token_loss(model: torch.nn.Module, tokens: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Mean cross-entropy of the prediction at each position against the next token.

    tokens: [batch, n_ctx + 1]. ``chunk``: positions unembedded at a time (None: measured default, 0: plain
    full-logits reference). Under bf16 autocast the unembedding runs in bf16 with an fp32 softmax.
    """
    hidden = final_hidden(model, tokens[:, :-1]).flatten(0, 1)  # [batch * n_ctx, d_model]
    targets = tokens[:, 1:].flatten()  # [batch * n_ctx]
    return unembed_cross_entropy(hidden, model.head.weight, targets, chunk, low_precision=autocast_bf16(tokens))


def autocast_bf16(tensor: torch.Tensor) -> bool:
    """True inside Lightning's ``bf16-mixed`` autocast region on the tensor's device."""
    kind = tensor.device.type
    return torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind) == torch.bfloat16


class FleetMember(L.LightningModule):
    """Model ``index`` of a fleet; everything that differs between members comes from its seed."""

    def __init__(self, config: dict[str, Any], index: int):
        super().__init__()
        self.save_hyperparameters()
        self.cfg = FleetConfig(**config)
        self.model = build_native_model(self.cfg.tl_config(index))
        self.nonfinite_step: int | None = None  # set when the loss blows up; the run then stops
        self.last_losses: torch.Tensor | None = None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)  # [batch, n_ctx, vocab]

    def _loss(self, tokens: torch.Tensor) -> torch.Tensor:
        return next_token_loss(self.model, tokens, self.cfg.loss_chunk)

    def training_step(self, tokens: torch.Tensor, batch_idx: int):
        loss = self._loss(tokens)
        if not torch.isfinite(loss):
            # Returning None skips this optimizer step, so the weights stay the last good ones.
            self.nonfinite_step = self.global_step
            log.error("model %d: non-finite loss (%s) at step %d; stopping this model", self.hparams.index,
                      loss.item(), self.global_step)
            self.trainer.should_stop = True
            return None
        self.last_losses = loss.detach()[None]  # [1], as the group module's [K]
        self.log("train_loss", loss, prog_bar=False, on_step=True, on_epoch=False)
        return loss

    def member_val_losses(self, tokens: torch.Tensor) -> torch.Tensor:
        """fp32 validation loss as a one-member vector (the group module returns one per member)."""
        with torch.autocast(tokens.device.type, enabled=False):
            return self._loss(tokens)[None]

    def validation_step(self, tokens: torch.Tensor, batch_idx: int) -> None:
        with torch.autocast(tokens.device.type, enabled=False):  # val loss in fp32 whatever the training precision
            self.log("val_loss", self._loss(tokens), on_step=False, on_epoch=True)

    def configure_optimizers(self):
        c = self.cfg
        # fused AdamW: one kernel over all parameters, ~7x faster than the per-tensor loop on CPU (bench/)
        return torch.optim.AdamW(self.parameters(), lr=c.lr, weight_decay=c.weight_decay,
                                 betas=(c.beta1, c.beta2), fused=c.fused_adamw)


class EpochBatches:
    """Batches of one epoch in an order fixed by ``(seed, epoch)``.

    Lightning saves ``state_dict()`` in each checkpoint, so a run killed mid-epoch resumes at the next
    unseen batch instead of replaying the epoch from its start.
    """

    def __init__(self, windows: torch.Tensor, batch_size: int, seed: int, epoch: int):
        self.windows, self.batch_size, self.seed, self.epoch = windows, batch_size, seed, epoch
        self._skip = 0
        self._yielded = 0

    def __len__(self) -> int:
        return -(-len(self.windows) // self.batch_size)

    def __iter__(self):
        order = torch.from_numpy(np.random.default_rng([self.seed, self.epoch]).permutation(len(self.windows)))
        start, self._skip = self._skip, 0
        for b in range(start, len(self)):
            self._yielded = b + 1
            yield self.windows[order[b * self.batch_size:(b + 1) * self.batch_size]]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self._yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["epoch"] == self.epoch:
            self._skip = state["batches_done"]


class BrownWindows(L.LightningDataModule):
    """Training windows for one fleet member and the shared validation windows, from the cached tokens."""

    def __init__(self, config: dict[str, Any], index: int, nltk_data=None, cache_dir=None):
        super().__init__()
        self.cfg, self.index = FleetConfig(**config), index
        self.nltk_data, self.cache_dir = nltk_data, cache_dir

    def prepare_data(self) -> None:
        tokenize_brown(self.cfg.heldout_fraction, self.nltk_data, self.cache_dir)  # builds the cache once

    def setup(self, stage: str | None = None) -> None:
        c = self.cfg
        _, train_text, heldout_text = tokenize_brown(c.heldout_fraction, self.nltk_data, self.cache_dir)
        length = c.n_ctx + 1
        self.train_windows = self.sample_train_windows(train_text, length)
        self.val_windows = torch.from_numpy(sample_windows(heldout_text, c.val_windows, length, c.val_seed))

    def sample_train_windows(self, train_text, length: int) -> torch.Tensor:
        """This member's training windows, drawn with its own window seed.  → [train_windows, length]"""
        c = self.cfg
        return torch.from_numpy(sample_windows(train_text, c.train_windows, length, c.window_seed(self.index)))

    def train_dataloader(self) -> EpochBatches:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return EpochBatches(self.train_windows, self.cfg.batch_size, self.cfg.model_seed(self.index), epoch)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val_windows, batch_size=self.cfg.batch_size)
