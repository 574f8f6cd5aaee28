"""Next-token loss through the unembedding without materialising all logits at once.

The 50,257-token unembedding is ~90% of a toy model's FLOPs, and the full logits of a paper batch
(64 × 16 × 50,257 fp32 = 206 MB, plus as much again for its gradient) are memory traffic that costs more
than the matmul on a CPU. ``chunked_unembed_cross_entropy`` walks the tokens in chunks, and computes the
gradients of the hidden states and of ``W_U`` inside the forward pass (the loss is a scalar, so the
backward pass only has to scale them): the same three matmuls as the plain path, a chunk of logits live
at a time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def plain_unembed_cross_entropy(hidden: torch.Tensor, w_u: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Reference: mean cross-entropy of ``hidden @ w_u.T``. hidden: [N, d_model]; w_u: [vocab, d_model]; targets: [N]."""
    return F.cross_entropy((hidden @ w_u.T).float(), targets)


class _ChunkedUnembedCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, w_u, targets, chunk):
        n = hidden.shape[0]
        loss = hidden.new_zeros((), dtype=torch.float32)
        grad_hidden = torch.empty_like(hidden) if hidden.requires_grad else None
        grad_w = torch.zeros_like(w_u, dtype=torch.float32) if w_u.requires_grad else None
        rows = torch.arange(chunk, device=hidden.device)
        for start in range(0, n, chunk):
            h = hidden[start:start + chunk]  # [c, d_model]
            t = targets[start:start + chunk]  # [c]
            logits = (h @ w_u.T).float()  # [c, vocab]
            picked = logits[rows[:len(t)], t]  # [c] logit of the target
            peak = logits.amax(dim=-1, keepdim=True)  # [c, 1]
            probs = logits.sub_(peak).exp_()  # in place: one pass over the chunk for the exponentials
            total = probs.sum(dim=-1, keepdim=True)  # [c, 1]
            loss += (peak.squeeze(1) + total.squeeze(1).log() - picked).sum()  # logsumexp - target logit
            if grad_hidden is None and grad_w is None:
                continue
            probs.div_(total)
            probs[rows[:len(t)], t] -= 1.0  # d(loss_i)/d(logits_i) = softmax - one_hot
            probs = probs.to(hidden.dtype)
            if grad_hidden is not None:
                grad_hidden[start:start + chunk] = probs @ w_u
            if grad_w is not None:
                grad_w.addmm_(probs.T.float(), h.float())
        ctx.save_for_backward(*(g / n if g is not None else None for g in (grad_hidden, grad_w)))
        ctx.w_dtype = w_u.dtype
        return loss / n

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_w = ctx.saved_tensors
        return (None if grad_hidden is None else grad_hidden * grad_loss,
                None if grad_w is None else (grad_w * grad_loss).to(ctx.w_dtype), None, None)


def chunked_unembed_cross_entropy(hidden: torch.Tensor, w_u: torch.Tensor, targets: torch.Tensor,
                                  chunk: int = 256) -> torch.Tensor:
    """Same value and gradients as ``plain_unembed_cross_entropy``, ``chunk`` rows of logits at a time."""
    return _ChunkedUnembedCE.apply(hidden, w_u, targets, chunk)
