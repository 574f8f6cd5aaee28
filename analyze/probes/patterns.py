"""Probe family ``patterns``: previous-token, duplicate-token, induction, self and first-token scores.

They match TransformerLens's ``head_detector`` with ``error_measure="mul"`` (no BOS or current-token
exclusion): the share of a head's attention that falls on the positions the detection pattern marks,
``sum(pattern * detection) / sum(pattern)``, averaged over prompts. Computed here on whole batches at once
instead of one prompt at a time. Layout: patterns [head, prompt, query, key], tokens [prompt, pos].

Chance: a head attending uniformly to the n visible positions scores H_n / n on ``self`` and (H_n − 1) / n on
``prev_token`` and ``first_token`` (H_n the harmonic number: 0.211 and 0.149 at n = 16, 0.127 and 0.096 at
n = 32); on repeated random halves, ``duplicate_token`` and ``induction`` score about (H_n − H_{n/2}) / n
(0.021 at n = 32).
"""

from __future__ import annotations

from analyze.core.patterns import attention_patterns
from train.head_scores import MASKS, detection_score, repeated_random_tokens
from analyze.probes.inputs import FamilyOutput, ProbeInputs
from analyze.probes.columns import Column, ProbeFamily, uniform_offset, uniform_repeat_half, uniform_self


def brown_and_repeat_patterns(inputs: ProbeInputs) -> dict:
    """Patterns on held-out Brown prompts and on repeated random tokens, computed once per model; both start with
    the model's BOS when its family uses one."""
    def make():
        from train.head_scores import ordinary_tokens

        brown_tokens = inputs.brown_prompts(inputs.prompt_len)
        pool = ordinary_tokens(inputs.brown_frequent(None), inputs.tokenizer)
        repeat_tokens = repeated_random_tokens(inputs.cfg.repeat_prompts, brown_tokens.shape[1], inputs.cfg.seed,
                                               pool, inputs.bos_id)
        return {"brown_tokens": brown_tokens, "brown": attention_patterns(inputs.bridge, brown_tokens),
                "repeat_tokens": repeat_tokens, "repeat": attention_patterns(inputs.bridge, repeat_tokens)}
    return inputs.cached("patterns", make)


def compute(inputs: ProbeInputs) -> FamilyOutput:
    p = brown_and_repeat_patterns(inputs)
    columns = {}
    for score, mask in MASKS.items():
        on_brown = detection_score(p["brown"], mask(p["brown_tokens"]))
        on_repeat = detection_score(p["repeat"], mask(p["repeat_tokens"]))
        columns[score] = on_repeat if score in ("duplicate_token", "induction") else on_brown
        columns[f"{score}_brown"], columns[f"{score}_repeat"] = on_brown, on_repeat
    return FamilyOutput(columns, extras=pattern_samples(inputs, p))


SAMPLE_PROMPTS = 2  # prompts of each kind per head kept for the report page


def pattern_samples(inputs: ProbeInputs, p: dict) -> dict:
    """A few prompts' patterns of every probed head and their tokens, for the page's head view."""
    from analyze.core.heads import head_id
    from analyze.core.tokens import readable_tokens

    k = SAMPLE_PROMPTS
    samples = {head_id(inputs.name, layer, head): {"brown": p["brown"][row, :k], "repeat": p["repeat"][row, :k]}
               for row, layer, head in inputs.heads()}
    tokens = {kind: [readable_tokens(inputs.tokenizer, t) for t in p[f"{kind}_tokens"][:k]] for kind in ("brown", "repeat")}
    return {"pattern_samples": samples, "sample_tokens": tokens}


_UNIFORM = "uniform head: "


def _on_repeat(chance):
    """A Brown-prompt chance function read at the repeated prompts' length."""
    return lambda f: chance({**f, "n": f["n_repeat"]})


_CHANCE = {"prev_token": uniform_offset, "first_token": uniform_offset, "self": uniform_self,
           "duplicate_token": uniform_repeat_half, "induction": uniform_repeat_half}
_VARIANT_CHANCE = {  # on Brown text a duplicate or induction target exists only where a token repeats: undefined
    **{f"{s}_brown": _CHANCE[s] for s in ("prev_token", "first_token", "self")},
    **{f"{s}_repeat": _on_repeat(_CHANCE[s]) for s in ("prev_token", "first_token", "self")},
    "duplicate_token_repeat": uniform_repeat_half, "induction_repeat": uniform_repeat_half}
FAMILY = ProbeFamily(
    name="patterns", source="standard",
    summary="attention mass on the positions a pattern marks, as TransformerLens's head detector",
    columns=(
        Column("prev_token", "attention mass on key = query − 1, Brown prompts", _UNIFORM + "(H_n − 1)/n: 0.149 at n = 16",
               null=uniform_offset),
        Column("duplicate_token", "mass on earlier copies of the query token, repeated random tokens",
               _UNIFORM + "≈ (H_n − H_{n/2})/n: 0.021 at n = 32", null=uniform_repeat_half),
        Column("induction", "mass on the token after an earlier copy of the query token, repeated random tokens",
               _UNIFORM + "≈ (H_n − H_{n/2})/n: 0.021 at n = 32", null=uniform_repeat_half),
        Column("self", "mass on the query position itself, Brown prompts", _UNIFORM + "H_n/n: 0.211 at n = 16",
               null=uniform_self),
        Column("first_token", "mass on position 0 from later queries, Brown prompts",
               _UNIFORM + "(H_n − 1)/n: 0.149 at n = 16", null=uniform_offset),
        *[Column(f"{s}_{v}", f"`{s}` on {'Brown prompts' if v == 'brown' else 'repeated random tokens'}", "as above",
                 null=_VARIANT_CHANCE.get(f"{s}_{v}"))
          for s in ("prev_token", "duplicate_token", "induction", "self", "first_token") for v in ("brown", "repeat")],
    ),
    compute=compute,
)
