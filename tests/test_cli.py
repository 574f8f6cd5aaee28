"""What every command shares on its command line."""

from pathlib import Path


def device_choices(parser) -> dict[str, list]:
    """``--device`` choices of every subcommand of an argparse parser."""
    import argparse

    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update({name: a.choices for a in sub._actions if "--device" in a.option_strings})
    return out


def test_device_is_the_same_choice_in_every_command():
    from analyze.__main__ import build_parser as analyze_parser
    from train.__main__ import build_parser as train_parser

    choices = {**device_choices(train_parser()), **device_choices(analyze_parser())}
    assert set(choices) == {"fleet", "phrenology", "probes", "compare", "formation"}
    assert all(list(c) == ["auto", "cpu", "cuda"] for c in choices.values()), choices


def test_the_shared_options_become_one_run_environment():
    from analyze.__main__ import build_parser
    from train.env import RunEnv

    args = build_parser().parse_args(["probes", "--model", "m", "--nltk-data", "/data", "--no-progress"])
    assert RunEnv.from_args(args) == RunEnv(nltk_data=Path("/data"), cache_dir=None, device=None, progress=False)
    args = build_parser().parse_args(["compare", "--pretrained", "m", "--device", "cpu", "--cache-dir", "/c"])
    assert RunEnv.from_args(args) == RunEnv(nltk_data=None, cache_dir=Path("/c"), device="cpu", progress=True)
