"""Next-token loss through the unembedding without materialising fp32 logits in autograd.

The 50,257-token unembedding is ~90% of a toy model's FLOPs, and the plain path's fp32 logits of a paper batch
(64 × 16 × 50,257 = 206 MB, plus as much again for their gradient, plus softmax temporaries) are memory traffic
that costs more than the matmul on a CPU. Here the gradients of the hidden states and of ``W_U`` are computed
inside the forward pass (the loss is a scalar, so the backward pass only scales them), with the same three
matmuls as the plain path: logits, grad_hidden = P W_U, grad_W = P^T h. Logits and probabilities live in one
reused [positions, vocab] buffer; a chunk of positions at a time goes through logits, an in-place fused softmax
(two passes over memory, where max, subtract, exp, sum and divide took five) and grad_hidden, and grad_W is one
matmul over all positions at the end. Nothing of vocab size is allocated per chunk, so nothing page-faults per
step: the fp32 loss of a paper batch takes about a quarter less time than with per-chunk buffers and unfused
passes (bench/README.md has the measurements).

- ``chunked_unembed_cross_entropy``: full precision (fp32, or fp64 for fp64 inputs). The path for machines whose
  bf16 is not faster than fp32, and the reference the bf16 path is tested against.
- ``bf16_unembed_cross_entropy``: mixed precision for CPUs whose bf16 matmuls are faster (AVX-512 BF16 where it
  runs natively, AMX) and for GPUs. W_U and the hidden states are cast to bf16 once per call (not once per
  chunk); the three matmuls run in bf16 (the matrix units accumulate in fp32 and round the result to bf16, as
  autocast does); the softmax is computed in fp32 and stored as bf16 probabilities; the fp32 master weights and
  their fp32 gradients stay with the caller.

Both take ``hidden [N, d_model]`` / ``w_u [vocab, d_model]`` / ``targets [N]`` for one model, or a leading
member dimension (``[M, N, d]``, ``[M, vocab, d]``, ``[M, N]``) for fleet members trained together; the loss
is then one mean per member, ``[M]``, and each member's gradients are those of its own mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Chunk sizes measured on the project's CPUs (bench/README.md): fp32 1,024 positions (a paper batch in one chunk,
# as fast as 512 or a few percent faster, and 256 slower), bf16 256; on CUDA the whole batch is one chunk (memory
# is plentiful and every launch counts).
AUTO_CHUNK = {"cpu": {torch.float32: 1024, torch.bfloat16: 256}}


def auto_chunk(device: torch.device | str, dtype: torch.dtype) -> int:
    """Positions unembedded at a time when the config leaves ``loss_chunk`` unset."""
    kind = torch.device(device).type
    return AUTO_CHUNK.get(kind, {}).get(dtype, 1 << 30)


def plain_unembed_cross_entropy(hidden: torch.Tensor, w_u: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Reference: mean cross-entropy of ``hidden @ w_u.T`` (per member when there is a member dimension)."""
    logits = hidden @ w_u.transpose(-1, -2)  # [(M,) N, vocab]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 under autocast → fp32
    if logits.dim() == 2:
        return F.cross_entropy(logits, targets)
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").mean(dim=1)  # [M]


def _as_members(hidden, w_u, targets):
    """Add the member dimension to single-model inputs; report whether it must be removed again."""
    if hidden.dim() == 2:
        return hidden[None], w_u[None], targets[None], True
    return hidden, w_u, targets, False


class _UnembedCE(torch.autograd.Function):
    """Both paths; see the module docstring. Probabilities are kept [positions, vocab] (the softmax reduces over
    contiguous memory), so that grad_W = P^T h is one matmul with all positions as its inner dimension."""

    @staticmethod
    def forward(ctx, hidden, w_u, targets, chunk, dtype, grad_enabled):
        hidden, w_u, targets, single = _as_members(hidden, w_u, targets)
        n_members, n, _ = hidden.shape
        losses = hidden.new_zeros(n_members, dtype=_accumulate(dtype))
        like = dict(dtype=dtype, device=hidden.device)
        want_h, want_w = (grad_enabled and needed for needed in ctx.needs_input_grad[:2])  # no grads for a val loss
        grads_h = torch.empty(hidden.shape, **like) if want_h else None
        vocab = w_u.shape[1]
        w_rows = vocab if dtype == w_u.dtype and not w_u.is_cuda else -(-vocab // PAD) * PAD  # see PAD
        grads_w = torch.empty(n_members, w_rows, w_u.shape[2], **like) if want_w else None
        batched = chunk >= n and hidden.is_cuda  # GPUs: one pass for all members, few launches, no host sync
        with torch.autocast(hidden.device.type, enabled=False):
            if batched:
                losses = _all_members(hidden, w_u, targets, grads_h, grads_w, dtype, w_rows)
            for m in range(0 if batched else n_members):  # CPUs: member by member, chunk by chunk (cache-sized)
                w = padded_cast(w_u[m], dtype, w_rows)  # cast once per call; [w_rows, d]
                h = hidden[m].to(dtype)
                probs = _scratch((n, w.shape[0]), dtype, w.device)  # [N, vocab_padded]
                for start in range(0, n, chunk):
                    t = targets[m, start:start + chunk]
                    rows = torch.arange(len(t), device=t.device)
                    p = probs[start:start + chunk]  # [c, vocab], a contiguous view
                    torch.mm(h[start:start + chunk], w.T, out=p)  # logits
                    p[:, vocab:] = float("-inf")  # the padding columns get no probability
                    # in place; the softmax of bf16 input computes in fp32 and rounds its output to bf16
                    torch.ops.aten._softmax.out(p, -1, False, out=p)
                    losses[m] += _neg_log_target_prob(p[rows, t], h[start:start + chunk], w[:vocab], t)
                    p[rows, t] -= 1.0  # softmax - one_hot; the mean's 1/n is applied in backward
                    if grads_h is not None:
                        torch.mm(p, w, out=grads_h[m, start:start + chunk])
                if grads_w is not None:  # [vocab_padded, d_model], all positions in one matmul, no copy
                    torch.mm(probs.T, h, out=grads_w[m])
        ctx.save_for_backward(grads_h, grads_w)
        ctx.h_dtype, ctx.w_dtype, ctx.single, ctx.scale = hidden.dtype, w_u.dtype, single, 1.0 / n
        ctx.vocab, ctx.accumulate = vocab, _accumulate(dtype)
        losses = losses / n
        return losses[0] if single else losses

    @staticmethod
    def backward(ctx, grad_loss):
        return _scaled_grads(ctx, grad_loss)


def _accumulate(dtype: torch.dtype) -> torch.dtype:
    """Where losses and gradient scaling are computed: fp32 for bf16 work, else the work's own dtype."""
    return torch.promote_types(dtype, torch.float32)


def _all_members(hidden, w_u, targets, grads_h, grads_w, dtype, w_rows) -> torch.Tensor:
    """Every member at once (GPUs): [M, N, vocab] probabilities in one buffer, batched matmuls.

    The loss of a target whose probability underflows to 0 (more than ~87 nats below the top logit) is capped at
    that bound instead of being recomputed exactly: the exact fallback would cost a host sync every step. Such a
    token never occurs in a training run (a diverging run shows NaN, which is still caught)."""
    n_members, n, _ = hidden.shape
    vocab = w_u.shape[1]
    w = padded_cast(w_u, dtype, w_rows)  # [M, vocab_padded, d]
    h = hidden.to(dtype)  # [M, N, d]
    probs = _scratch((n_members, n, w.shape[1]), dtype, w.device)
    torch.bmm(h, w.transpose(1, 2), out=probs)  # logits
    probs[..., vocab:] = float("-inf")  # the padding columns get no probability
    torch.ops.aten._softmax.out(probs, -1, False, out=probs)
    members = torch.arange(n_members, device=w.device)[:, None]
    rows = torch.arange(n, device=w.device)[None, :]
    picked = probs[members, rows, targets].to(_accumulate(dtype))  # [M, N]
    losses = -picked.clamp_min(torch.finfo(picked.dtype).tiny).log().sum(dim=1)
    probs[members, rows, targets] -= 1.0
    if grads_h is not None:
        torch.bmm(probs, w, out=grads_h)
    if grads_w is not None:
        torch.bmm(probs.transpose(1, 2), h, out=grads_w)  # padded rows; sliced to vocab in backward
    return losses


PAD = 64  # vocab rows padded to a multiple of this where W_U is copied anyway (a cast to bf16) or on a GPU: an odd
          # leading dimension (50,257) sends cuBLAS and oneDNN to slower unaligned kernels (nanoGPT pads GPT-2's
          # vocabulary to 50,304 for the same reason). fp32 on a CPU reads W_U as it is: MKL's sgemm measured
          # no faster padded, and the copy would cost a 51 MB pass per step.


def padded_cast(w_u: torch.Tensor, dtype: torch.dtype, rows: int) -> torch.Tensor:
    """W_U in ``dtype`` with zero rows up to ``rows``: W_U itself when nothing changes, else a new tensor.
    [..., vocab, d] → [..., rows, d]"""
    vocab = w_u.shape[-2]
    if rows == vocab and dtype == w_u.dtype:
        return w_u
    out = torch.empty(*w_u.shape[:-2], rows, w_u.shape[-1], dtype=dtype, device=w_u.device)
    out[..., :vocab, :].copy_(w_u)
    out[..., vocab:, :].zero_()
    return out


_SCRATCH: dict[tuple, torch.Tensor] = {}


def _scratch(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A reused buffer for the probabilities (a paper batch: 103 MB in bf16, 206 MB in fp32). A fresh one every
    step would cost the kernel's page faults and zero-fill on CPU; the contents never outlive one call."""
    key = (shape, dtype, str(device))
    if key not in _SCRATCH:
        _SCRATCH.clear()  # one shape at a time: the trainer's batch; validation and tests may differ
        _SCRATCH[key] = torch.empty(shape, dtype=dtype, device=device)
    return _SCRATCH[key]


def _neg_log_target_prob(picked: torch.Tensor, h: torch.Tensor, w: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Sum of -log p(target) from the probabilities; positions whose probability underflowed to 0 (more
    than ~87 nats below the top logit) get the exact logsumexp - logit instead of inf."""
    picked = picked.to(_accumulate(picked.dtype))
    lost = picked == 0
    total = -picked.clamp_min(torch.finfo(picked.dtype).tiny).log()
    if bool(lost.any()):
        logits = (h[lost].to(picked.dtype) @ w.to(picked.dtype).T)  # [few, vocab]
        total[lost] = logits.logsumexp(-1) - logits.gather(1, t[lost][:, None]).squeeze(1)
    return total.sum()


def _scaled_grads(ctx, grad_loss):
    """Backward of ``_UnembedCE``: the gradients computed in forward, times d(out)/d(loss) of each member."""
    grad_hidden, grad_w = ctx.saved_tensors
    g = (grad_loss.reshape(-1) * ctx.scale).to(ctx.accumulate)[:, None, None]  # [M, 1, 1]
    out_h = out_w = None
    if grad_hidden is not None:  # cast first, then scale in place: a same-dtype multiply is the vectorised one
        out_h = grad_hidden.to(ctx.accumulate).mul_(g).to(ctx.h_dtype)
        out_h = out_h[0] if ctx.single else out_h
    if grad_w is not None:
        out_w = grad_w[:, :ctx.vocab].to(ctx.accumulate).mul_(g).to(ctx.w_dtype)  # slice off the padded rows
        out_w = out_w[0] if ctx.single else out_w
    return out_h, out_w, None, None, None, None


def chunked_unembed_cross_entropy(hidden: torch.Tensor, w_u: torch.Tensor, targets: torch.Tensor,
                                  chunk: int = 128) -> torch.Tensor:
    """Full precision (the inputs' own dtype, fp32 or fp64): same value and gradients as
    ``plain_unembed_cross_entropy``, ``chunk`` positions at a time."""
    dtype = torch.promote_types(hidden.dtype, torch.float32)
    return _UnembedCE.apply(hidden, w_u, targets, chunk, dtype, torch.is_grad_enabled())


def bf16_unembed_cross_entropy(hidden: torch.Tensor, w_u: torch.Tensor, targets: torch.Tensor,
                               chunk: int = 256) -> torch.Tensor:
    """Mixed precision (bf16 matmuls, fp32 softmax); gradients returned in the inputs' own dtypes."""
    return _UnembedCE.apply(hidden, w_u, targets, chunk, torch.bfloat16, torch.is_grad_enabled())


def unembed_cross_entropy(hidden: torch.Tensor, w_u: torch.Tensor, targets: torch.Tensor,
                          chunk: int | None = None, low_precision: bool = False) -> torch.Tensor:
    """The trainer's entry point: ``chunk`` 0 is the plain reference, None picks the measured default."""
    dtype = torch.bfloat16 if low_precision else torch.float32
    if chunk == 0:
        with torch.autocast(hidden.device.type, dtype=torch.bfloat16, enabled=low_precision):
            return plain_unembed_cross_entropy(hidden, w_u, targets)
    chunk = chunk or auto_chunk(hidden.device, dtype)
    if low_precision:
        return bf16_unembed_cross_entropy(hidden, w_u, targets, chunk)
    return chunked_unembed_cross_entropy(hidden, w_u, targets, chunk)
