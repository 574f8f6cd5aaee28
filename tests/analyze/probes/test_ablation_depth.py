"""Mean ablation on models deeper than one layer, where the batched pass widens into one copy per head only at the
ablated layer (``analyze.core.hooks.widen_and_ablate``): each head's loss change must equal a pass of its own
through the whole model, with the bridge's own logits and the antonym-heads post's loss taken by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from analyze.core.hooks import mean_head_outputs
from analyze.core.models import load_model
from analyze.probes.ablation import antonym_chunks, mean_ablation_deltas

VOCAB = 50_257  # GPT-2's, so that the models load with the GPT-2 tokenizer as any checkpoint without its own


def random_llama(path):
    """Three layers, 4 query heads over 2 key/value groups, rotary positions, RMSNorm, gated MLP: SmolLM2's kind."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                 tie_word_embeddings=True, initializer_range=0.1)).save_pretrained(path)
    return path


def random_gpt2(path):
    """Two layers of GPT-2: learned positions, LayerNorm, biases."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                               initializer_range=0.1)).save_pretrained(path)
    return path


def random_gemma2(path):
    """Two layers of Gemma 2: soft-capped attention scores and logits, norms after attention and MLP. The loss
    unembeds only the positions it scores, so it must apply the logit cap as the bridge's own forward does."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    Gemma2ForCausalLM(Gemma2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                   max_position_embeddings=64, final_logit_softcapping=3.0,
                                   attn_logit_softcapping=5.0, initializer_range=0.2)).save_pretrained(path)
    return path


@pytest.mark.parametrize("build", [random_llama, random_gpt2, random_gemma2], ids=["llama", "gpt2", "gemma2"])
def test_widened_mean_ablation_equals_one_pass_per_head(build, tmp_path):
    bridge = load_model(str(build(tmp_path / "model")), "cpu")
    rng = np.random.default_rng(0)
    first, second = rng.integers(3, VOCAB, 9), rng.integers(3, VOCAB, 9)
    chunks = antonym_chunks(first, second, 13, 1, 2)  # BOS + 4 triples a chunk: chunks of 13, 13 and 4 tokens
    assert [len(c) for c in chunks] == [13, 13, 4]
    brown = torch.randint(3, VOCAB, (20, 13), generator=torch.Generator().manual_seed(1))
    mean_z = mean_head_outputs(bridge, brown, rows_per_pass=3)  # 20 prompts in passes of 3: the sums add up

    with torch.no_grad():
        names = [f"blocks.{layer}.attn.hook_z" for layer in range(bridge.cfg.n_layers)]
        _, cache = bridge.run_with_cache(brown, names_filter=lambda n: n in names)
        for layer, name in enumerate(names):
            torch.testing.assert_close(mean_z[layer], cache[name].mean(dim=0), rtol=1e-5, atol=1e-6)

        def loss(hooks=()) -> float:
            total, count = 0.0, 0
            for chunk in chunks:
                logits = bridge.run_with_hooks(chunk[None], fwd_hooks=list(hooks))[0]
                targets = torch.arange(2, len(chunk), 3)  # b_k after BOS: positions 2, 5, 8, 11
                total += float(F.cross_entropy(logits[targets - 1].float(), chunk[targets], reduction="sum"))
                count += len(targets)
            return total / count

        def ablate(layer, head):
            def hook(z, hook):
                z = z.clone()
                z[:, :, head] = mean_z[layer][: z.shape[1], head]
                return z
            return f"blocks.{layer}.attn.hook_z", hook

        intact = loss()
        by_hand = np.array([[loss([ablate(layer, head)]) - intact for head in range(bridge.cfg.n_heads)]
                            for layer in range(bridge.cfg.n_layers)])
        widened = mean_ablation_deltas(bridge, chunks, 1, mean_z)
    # The losses are ~11 nats (a random model over 50,257 tokens, weights of std 0.1 so that heads matter); fp32 rounds them at ~1e-6 each, and a pass of
    # other rows rounds otherwise, so the differences of two losses agree to ~1e-5. The heads' effects are
    # 1e-3 to 1e-2 and differ from head to head by more than that: a head's score landing on another head fails.
    assert np.abs(by_hand).max() > 5e-3 and np.diff(np.sort(by_hand.ravel())).max() > 1e-3
    np.testing.assert_allclose(widened, by_hand, rtol=0, atol=2e-5)
    only_last = mean_ablation_deltas(bridge, chunks, 1, mean_z, layers=[bridge.cfg.n_layers - 1])
    np.testing.assert_allclose(only_last[-1], by_hand[-1], rtol=0, atol=2e-5)
    assert np.isnan(only_last[:-1]).all()


@pytest.mark.parametrize("build", [random_llama, random_gpt2, random_gemma2], ids=["llama", "gpt2", "gemma2"])
def test_logits_at_one_position_equal_the_bridges_own_forward(build, tmp_path):
    """``logits_at`` runs no token after the position and the last MLP on that position alone; with and without a
    head knocked out, its logits must be the bridge's own forward's at that position. The knockouts of the last
    layer widen into their copies inside it (``copies_from_last_attention``): each copy must be its own head's."""
    from analyze.core.hooks import copies_from_last_attention, knockout_logits, last_mlp_at_final_position, logits_at

    bridge = load_model(str(build(tmp_path / "model")), "cpu")
    assert last_mlp_at_final_position(bridge)  # the shortcut is taken on every architecture here
    tokens = torch.randint(3, VOCAB, (5, 12), generator=torch.Generator().manual_seed(2))
    last = bridge.cfg.n_layers - 1
    with torch.no_grad():
        full = bridge(tokens)
        zeroed = bridge.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{last}.attn.hook_z", zero_head(1))])
        zeroed_0 = bridge.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{last}.attn.hook_z", zero_head(0))])
        zeroed_first = bridge.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_z", zero_head(1))])
    seen = []
    mlp_input = (f"blocks.{last}.mlp.hook_in", lambda x, hook: seen.append(x.shape[1]))
    for position in (11, 6):
        torch.testing.assert_close(logits_at(bridge, tokens, position, [mlp_input]), full[:, position].float(),
                                   rtol=1e-5, atol=1e-5)
    assert seen == [1, 1]  # the last MLP ran on one position
    ablations = [(1, None), (0, torch.zeros(12, bridge.cfg.d_head))]
    assert copies_from_last_attention(bridge, last, ablations, 5) is not None  # the copies start inside the layer
    knocked = knockout_logits(bridge, tokens, last, ablations, 11)
    torch.testing.assert_close(knocked[0], zeroed[:, 11].float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(knocked[1], zeroed_0[:, 11].float(), rtol=1e-5, atol=1e-5)
    assert (knocked[0] - knocked[1]).abs().max() > 1e-3  # two heads, two different copies
    first = knockout_logits(bridge, tokens, 0, ablations, 11)  # a layer with layers after it: copies from the start
    torch.testing.assert_close(first[0], zeroed_first[:, 11].float(), rtol=1e-5, atol=1e-5)
    assert (knocked[0] - full[:, 11]).abs().max() > 1e-3  # the knockout changed the logits it is checked on


def zero_head(head):
    def hook(z, hook):
        z = z.clone()
        z[:, :, head] = 0.0
        return z
    return hook


def test_the_ablation_progress_bar_moves_layer_by_layer(tmp_path, monkeypatch):
    """On a deep model the ablation takes minutes: its bar advances once per layer instead of sitting still."""
    from analyze.probes import ablation

    seen = []

    def recording_tqdm(items, disable=False, **kwargs):
        for item in items:
            if not disable:
                seen.append((kwargs.get("desc"), item))
            yield item

    monkeypatch.setattr(ablation, "tqdm", recording_tqdm)
    bridge = load_model(str(random_llama(tmp_path / "model")), "cpu")
    chunks = antonym_chunks(np.arange(3, 12), np.arange(12, 21), 13, 1, 2)
    brown = torch.randint(3, VOCAB, (4, 13), generator=torch.Generator().manual_seed(1))
    mean_ablation_deltas(bridge, chunks, 1, mean_head_outputs(bridge, brown), progress=True)
    assert seen == [("ablation: layers", layer) for layer in range(3)]
