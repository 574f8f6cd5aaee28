"""Every benchmark runs to the end on a micro config, so a crash like bench.train's (its bf16-parity step read the
fleet record as a dict) is caught by the tests. They check what each prints: its figures, finite and positive."""

import math
import re

import pytest

NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def figures(text: str, pattern: str) -> list[float]:
    """Every number the pattern's groups capture, in order."""
    return [float(x) for match in re.finditer(pattern, text) for x in match.groups()]


@pytest.mark.slow
def test_bench_train_runs_through_the_bf16_parity_step(capsys, nltk_data):
    from bench.train import main

    main(["--config", "configs/tiny.yaml", "--n", "1", "--steps", "2", "--warmup", "1", "--parity-steps", "2",
          "--skip-tl", "val_windows=64"])
    out = capsys.readouterr().out
    (rate,) = figures(out, rf"members_per_step 1\s*:\s*{NUMBER} tokens/s")
    fp32, bf16 = figures(out, rf"val loss after 2 steps, same seed: fp32 {NUMBER}, bf16-mixed {NUMBER}")
    assert rate > 0 and all(math.isfinite(x) and 5 < x < 12 for x in (fp32, bf16))  # ln(50,257) = 10.8 at start
    assert abs(fp32 - bf16) < 0.1


@pytest.mark.slow
def test_bench_probes_times_a_toy_fleet(capsys, micro_fleet):
    from bench.probes import main

    main(["--fleet", str(micro_fleet[0]), "--skip-gpt2"])
    out = capsys.readouterr().out
    (seconds,) = figures(out, rf"2 model\(s\), 4 heads, all probes in {NUMBER} s")
    assert seconds > 0 and "per family: " in out


@pytest.mark.slow
def test_bench_analysis_times_phrenology_on_a_fleet(capsys, micro_fleet):
    from bench.analysis import main

    main(["--fleet", str(micro_fleet[0]), "--skip-probes"])
    out = capsys.readouterr().out
    (wall,) = figures(out, rf"phrenology of \S+: {NUMBER} s wall")
    split = dict(re.findall(rf"(\w+) {NUMBER}", out.split("target;")[1].splitlines()[1]))
    assert wall > 0 and {"extract", "autoencoder", "cluster"} <= set(split)


@pytest.mark.slow
def test_bench_formation_measures_the_recorders_share(capsys, nltk_data, tmp_path, monkeypatch):
    """The measured share is the recorder's seconds over the training's, as the recorder wrote them."""
    from bench.formation import main

    monkeypatch.setenv("TOYHEADS_HOME", str(tmp_path))
    main(["--config", "configs/tiny.yaml", "--project", "configs/tiny.yaml", "n=1", "epochs=1", "val_windows=64"])
    out = capsys.readouterr().out
    trained, records, spent, share = figures(out, rf"in {NUMBER} s with {NUMBER} records; the recorder spent "
                                                  rf"{NUMBER} s of it: {NUMBER}%")
    # Each figure is printed rounded (trained to 0.1 s, spent to 0.01 s, share to 0.1 %), so the share must lie in
    # the range those roundings allow, not within a fixed tolerance of the ratio of two rounded figures.
    lowest = 100 * (spent - 0.005) / (trained + 0.05) - 0.05
    highest = 100 * (spent + 0.005) / (trained - 0.05) + 0.05
    assert records == 11 and 0 < spent < trained and lowest <= share <= highest
    (projected,) = figures(out, rf"over 64 steps: {NUMBER}% of the training time \(projected\)")
    assert projected > 0
