"""Overlays: a scenario file that ``extends`` another and replaces some of its keys.

The base's keys are read first, then the overlay's replace them: mappings are merged key by key
(``goals.constraints.area`` alone may change), lists and values are replaced whole (an overlay's
``personas`` is the whole persona list). The merge is done twice, alike: on the YAML node trees,
whose nodes keep the file and line they were written at (so an error names the file that wrote
the key), and on the plain data built from them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["MAX_EXTENDS", "merge_data", "merge_nodes", "written_at"]

#: how many files a chain of ``extends`` may span (an overlay of an overlay of ...)
MAX_EXTENDS = 8


def merge_data(base: object, overlay: object) -> object:
    """``overlay`` over ``base``: mappings merged key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge_data(base[key], value) if key in base else value
        return out
    return overlay


def merge_nodes(base: yaml.Node, overlay: yaml.Node) -> yaml.Node:
    """``merge_data`` on YAML node trees: the result's nodes are the files' own (with their
    marks), new mapping nodes only where both files wrote a mapping."""
    if not (isinstance(base, yaml.MappingNode) and isinstance(overlay, yaml.MappingNode)):
        return overlay
    pairs = list(base.value)
    index = {_key(k): j for j, (k, _) in enumerate(pairs)}
    for key, value in overlay.value:
        j = index.get(_key(key))
        if j is None:
            index[_key(key)] = len(pairs)
            pairs.append((key, value))
        else:
            pairs[j] = (key, merge_nodes(pairs[j][1], value))
    return yaml.MappingNode(
        overlay.tag, pairs, overlay.start_mark, overlay.end_mark, overlay.flow_style
    )


def written_at(node: yaml.Node | None, loc: tuple[str | int, ...], default: Path) -> Path:
    """The file that wrote the field at ``loc`` (or its nearest written parent)."""
    if node is None:
        return default
    mark = node.start_mark
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    mark, node = key.start_mark, value
                    break
            else:
                break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    name = getattr(mark, "name", None)
    return Path(name) if name and not name.startswith("<") else default


def _key(node: yaml.Node) -> object:
    return node.value if isinstance(node, yaml.ScalarNode) else id(node)
