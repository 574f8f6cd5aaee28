"""The probe registry is the one list of probe families: the CLI help, the report and the table in docs/probes.md come from it."""

import re
from pathlib import Path

from analyze.__main__ import build_parser
from analyze.probes.registry import cli_help, families, markdown_table

README = Path(__file__).resolve().parents[3] / "docs" / "probes.md"


def test_readme_probe_table_is_the_registry():
    text = README.read_text()
    found = re.search(r"<!-- probe-table:start -->\n(.*?)\n<!-- probe-table:end -->", text, re.S)
    assert found, "docs/probes.md lacks the probe-table markers"
    assert found.group(1).strip() == markdown_table().strip(), (
        "docs/probes.md probe table differs from the registry; regenerate it: python -m analyze.probes.registry")


def test_every_column_states_its_definition_and_chance_level():
    for family in families().values():
        assert family.source and family.summary and family.columns, family.name
        for column in family.columns:
            assert column.meaning and column.chance, f"{family.name}.{column.name}"


def test_cli_help_lists_every_family():
    help_text = build_parser()._subparsers._group_actions[0].choices["probes"].format_help()
    for name in families():
        assert name in cli_help() and name in help_text
