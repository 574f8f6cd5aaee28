import pytest

from train.config import ConfigError, FleetConfig, load_config, parse_cli_overrides


def test_defaults_are_the_paper_config():
    cfg = FleetConfig()
    assert (cfg.n_layers, cfg.n_heads, cfg.n_ctx, cfg.d_model, cfg.d_head, cfg.d_mlp) == (1, 8, 16, 256, 64, 2048)
    assert (cfg.act_fn, cfg.epochs, cfg.train_windows, cfg.batch_size, cfg.seed, cfg.n) == ("solu_ln", 4, 30_000, 64, 990, 9)
    assert cfg.steps_per_epoch() == 469


def test_paper_yaml_equals_defaults():
    assert load_config("configs/paper.yaml") == FleetConfig()


def test_yaml_then_cli_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 2\nlr: 1\n")
    cfg = load_config(path, parse_cli_overrides(["epochs=3", "data_seed=7"]))
    assert cfg.epochs == 3 and cfg.lr == 1.0 and cfg.data_seed == 7


@pytest.mark.parametrize("overrides, message", [
    ({"d_modle": 3}, "unknown config key"),
    ({"epochs": "four"}, "epochs must be int"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"device": "tpu"}, "device must be"),
])
def test_bad_config_is_a_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_phrenology_yaml_equals_defaults():
    from analyze.phrenology import PhrenologyConfig

    assert load_config("configs/phrenology.yaml", cls=PhrenologyConfig) == PhrenologyConfig()
