"""Overlays: a scenario file that ``extends`` another and replaces some of its keys.

The base's keys are read first, then the overlay's replace them: mappings are merged key by key
(``goals.constraints.area`` alone may change), lists and values are replaced whole (an overlay's
``personas`` is the whole persona list), except the action catalogs (``actions``), merged item by
item as Kubernetes merges lists in a strategic merge patch: an overlay's action replaces the
base's action of the same kind, slot and task, and a new one is added at the end (a ``book``
action, say), so an overlay never repeats the catalog it extends. The merge is done twice,
alike: on the YAML node trees, whose nodes keep the file and line they were written at (so an
error names the file that wrote the key), and on the plain data built from them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

__all__ = ["MAX_EXTENDS", "merge_data", "merge_nodes", "written_at"]

#: how many files a chain of ``extends`` may span (an overlay of an overlay of ...)
MAX_EXTENDS = 8
#: lists merged item by item, and the fields that name an item
KEYED_LISTS = {"actions": ("act", "slot", "task")}


def merge_data(base: object, overlay: object, name: str = "") -> object:
    """``overlay`` over ``base`` (the value of key ``name``): mappings merged key by key, keyed
    lists item by item, anything else replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge_data(base[key], value, key) if key in base else value
        return out
    if name in KEYED_LISTS and isinstance(base, list) and isinstance(overlay, list):
        fields = KEYED_LISTS[name]

        def ident(item: object) -> object:
            return tuple(item.get(f) for f in fields) if isinstance(item, dict) else id(item)

        return _merge_items(base, overlay, ident)
    return overlay


def merge_nodes(base: yaml.Node, overlay: yaml.Node, name: str = "") -> yaml.Node:
    """``merge_data`` on YAML node trees: the result's nodes are the files' own (with their
    marks), new mapping and sequence nodes only where both files wrote one."""
    if name in KEYED_LISTS and all(isinstance(n, yaml.SequenceNode) for n in (base, overlay)):
        fields = KEYED_LISTS[name]

        def ident(item: yaml.Node) -> object:
            if not isinstance(item, yaml.MappingNode):
                return id(item)
            own = {_key(k): v.value for k, v in item.value if isinstance(v, yaml.ScalarNode)}
            return tuple(own.get(f) for f in fields)

        items = _merge_items(list(base.value), list(overlay.value), ident)
        return yaml.SequenceNode(
            overlay.tag, items, overlay.start_mark, overlay.end_mark, overlay.flow_style
        )
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
            pairs[j] = (key, merge_nodes(pairs[j][1], value, str(_key(key))))
    return yaml.MappingNode(
        overlay.tag, pairs, overlay.start_mark, overlay.end_mark, overlay.flow_style
    )


def _merge_items(base: list, overlay: list, ident) -> list:
    """``base`` with each ``overlay`` item in place of the base item it names, else appended."""
    out = list(base)
    where = {ident(item): j for j, item in enumerate(out)}
    for item in overlay:
        j = where.get(ident(item))
        if j is None:
            where[ident(item)] = len(out)
            out.append(item)
        else:
            out[j] = item
    return out


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
