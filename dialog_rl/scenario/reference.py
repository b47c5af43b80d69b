"""The scenario file format as text, generated from the schema (``dialog-rl validate --help``).

Generated rather than written so that it cannot drift from what the loader accepts: every key,
its type, its default and the docstring of its field in ``schema.py``.
"""

from __future__ import annotations

import textwrap
import types
import typing

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dialog_rl.scenario.schema import Scenario

WIDTH = 100


def format_reference() -> str:
    """Every key of a scenario file, nested as in the file, with type, default and meaning."""
    lines = [
        "scenario file format (YAML; * marks a required key, [] a list of such items,",
        "<name> a mapping keyed by names you choose):",
    ]
    _model(Scenario, 1, lines)
    return "\n".join(lines) + "\n"


def _model(model: type[BaseModel], depth: int, lines: list[str]) -> None:
    for name, field in model.model_fields.items():
        inner, suffix = _nested(field.annotation)
        key = name + suffix + ("*" if field.is_required() else "")
        kind = "" if inner is not None else _type_name(field.annotation) + _bounds(field)
        default = field.get_default(call_default_factory=True)
        if default is not PydanticUndefined and not field.is_required() and inner is None:
            kind += f" = {_show(default)}"
        head = f"{'  ' * depth}{key}" + (f": {kind.strip()}" if kind.strip() else "")
        doc = " ".join((field.description or "").replace("``", "`").split())
        lines.append(head)
        if doc:
            indent = "  " * (depth + 2)
            lines += textwrap.wrap(doc, WIDTH, initial_indent=indent, subsequent_indent=indent)
        if inner is not None:
            _model(inner, depth + 1, lines)


def _nested(annotation: object) -> tuple[type[BaseModel] | None, str]:
    """(the model a key holds, directly or in a list, mapping or optional; how it is written)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if a is not type(None)]
        if len(models) == 1:
            return _nested(models[0])
    if origin is list and args:
        inner, suffix = _nested(args[0])
        if inner is not None:
            return inner, "[]" + suffix
    if origin is dict and len(args) == 2:
        inner, suffix = _nested(args[1])
        if inner is not None:
            return inner, ".<name>" + suffix
    return None, ""


def _bounds(field: FieldInfo) -> str:
    """ " in [0, 1]", " > 0", ...: the limits the schema puts on a number."""
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    found = {}
    for item in field.metadata:
        for attr in signs:
            if getattr(item, attr, None) is not None:
                found[attr] = getattr(item, attr)
    if "ge" in found and "le" in found:
        return f" in [{found['ge']:g}, {found['le']:g}]"
    return "".join(f" {signs[k]} {v:g}" for k, v in found.items())


def _type_name(annotation: object) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (list, tuple):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"list of {inner}" if origin is list else f"[{inner}]"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    return getattr(annotation, "__name__", str(annotation))


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, (dict, list)) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)
