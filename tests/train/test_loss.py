import torch

from train.config import load_config
from train.loss import bf16_unembed_cross_entropy, chunked_unembed_cross_entropy, plain_unembed_cross_entropy
from train.model import build_native_model, final_hidden


def test_chunked_loss_matches_plain_value_and_gradients():
    torch.manual_seed(0)
    hidden = torch.randn(70, 12, dtype=torch.float64, requires_grad=True)
    w_u = torch.randn(50, 12, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (70,))
    plain = plain_unembed_cross_entropy(hidden, w_u, targets)
    g_plain = torch.autograd.grad(plain * 3, (hidden, w_u))
    chunked = chunked_unembed_cross_entropy(hidden, w_u, targets, chunk=16)  # 70 = 4 chunks + a ragged one
    g_chunked = torch.autograd.grad(chunked * 3, (hidden, w_u))
    torch.testing.assert_close(chunked, plain)
    for a, b in zip(g_chunked, g_plain):
        torch.testing.assert_close(a, b)


def test_final_hidden_times_unembedding_is_the_model_output():
    cfg = load_config(None, dict(d_model=32, n_heads=2, d_head=16, d_mlp=64))
    model = build_native_model(cfg.tl_config(0))
    x = torch.randint(0, 50_257, (3, 16))
    torch.testing.assert_close(final_hidden(model, x) @ model.head.weight.T, model(x))


def test_same_seed_same_init_different_seed_different_init():
    cfg = load_config(None, dict(d_model=32, n_heads=2, d_head=16, d_mlp=64))
    a, b, c = (build_native_model(cfg.tl_config(i)) for i in (0, 0, 1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].attn.q.weight, c.layers[0].attn.q.weight)


def test_a_loss_without_grad_is_the_same_loss():
    """Validation runs under no_grad, where the loss skips its gradient matmuls; the value must not change."""
    torch.manual_seed(1)
    hidden = torch.randn(2, 40, 8, requires_grad=True)
    w_u = torch.randn(2, 30, 8, requires_grad=True)
    targets = torch.randint(0, 30, (2, 40))
    for loss in (chunked_unembed_cross_entropy, bf16_unembed_cross_entropy):
        with torch.no_grad():
            quiet = loss(hidden, w_u, targets, chunk=16)
        torch.testing.assert_close(quiet, loss(hidden, w_u, targets, chunk=16), rtol=0, atol=0)
    torch.testing.assert_close(quiet, plain_unembed_cross_entropy(hidden, w_u, targets).detach(), rtol=0, atol=2e-2)
