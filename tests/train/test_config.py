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


def test_unknown_keys_are_sorted_with_a_suggestion():
    with pytest.raises(ConfigError) as err:
        load_config(None, {"zz_top": 1, "d_modle": 3, "epoch": 2})
    message = str(err.value)
    assert message.startswith("unknown config key(s) d_modle (did you mean d_model?), epoch (did you mean epochs?), "
                              "zz_top; known keys: act_fn, attn_only, batch_size,")


def test_yaml_syntax_error_is_one_line_naming_the_file_and_line(tmp_path):
    from train.errors import run_command

    path = tmp_path / "broken.yaml"
    path.write_text("epochs: 2\nlr: [0.1\nn: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:3: not valid YAML") and len(message.splitlines()) == 1
    assert run_command(lambda: load_config(path)) == 2
