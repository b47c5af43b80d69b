"""`dialog-rl validate --help` documents every key of a scenario file, from the schema itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from dialog_rl.cli import main
from dialog_rl.scenario import schema
from dialog_rl.scenario.reference import format_reference

SHOPPING = (Path(__file__).resolve().parents[1] / "scenarios" / "shopping.yaml").read_text()


def _models() -> list[type[BaseModel]]:
    return [
        m
        for m in vars(schema).values()
        if isinstance(m, type) and issubclass(m, schema.Strict) and m is not schema.Strict
    ]


def test_validate_help_prints_the_format_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["validate", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "usage: dialog-rl validate" in out
    assert "scenario file format" in out
    assert "    persona_satisfaction.<name>\n" in out
    assert "    max_turns: int in [1, 1000] = 25\n" in out
    assert "  personas[]*\n" in out


def test_every_key_of_every_section_is_listed_with_its_meaning():
    text = format_reference()
    keys = {m.group(1) for m in re.finditer(r"^ +([a-z_]+)", text, re.M)}
    for model in _models():
        for name, field in model.model_fields.items():
            assert name in keys, f"{model.__name__}.{name} missing"
            # every field's docstring is shown (it is what the user reads)
            first = " ".join((field.description or "").replace("``", "`").split())[:40]
            assert first and first.split()[0] in text, f"{model.__name__}.{name}: no description"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            SHOPPING + "\nnmae: y\n",
            "unknown key (check the spelling; see `dialog-rl validate --help`",
        ),
        ("name: x\n", "required field is missing (`dialog-rl validate --help` lists every key)"),
    ],
)
def test_errors_about_keys_point_to_the_reference(tmp_path, capsys, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["validate", str(bad)]) == 2
    assert message in capsys.readouterr().err
