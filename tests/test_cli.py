"""What every command shares on its command line."""


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
    assert set(choices) == {"fleet", "phrenology", "probes", "compare"}
    assert all(list(c) == ["auto", "cpu", "cuda"] for c in choices.values()), choices
