"""YAML the repository's people write (config, values, decrypted secrets), read strictly.

A duplicate key is an error naming the file and line (PyYAML keeps the last one silently, so a
second `hub:` drops the first one's settings), and aliases may not expand past MAX_NODES (a
few hundred bytes of nested aliases otherwise become gigabytes for the schema check, helm and
the plan). Every error is one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from fleet.core.errors import FleetError

MAX_NODES = 100_000  # nodes of the document with every alias expanded


class _Strict(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # PyYAML reports an unhashable key itself
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {seen[key]})",
                        key_node.start_mark,
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], limit: int) -> int:
    """How many nodes `node` stands for with its aliases expanded; stops counting past `limit`."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = limit + 1  # a node inside itself (a recursive alias) is over any limit
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, limit)
        if total > limit:
            break
    sizes[id(node)] = total
    return total


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f":{mark.line + 1}" if mark else ""


def load(text: str, where: str | Path) -> object:
    """Parse one YAML document strictly; `where` (a path, or what the text is) names it in errors."""
    loader = None
    try:
        loader = _Strict(text)  # reads the first characters: may refuse them at once
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, MAX_NODES) > MAX_NODES:
            raise FleetError(
                f"{where}: YAML aliases expand to more than {MAX_NODES} nodes: write the values "
                "out, or use fewer nested aliases"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FleetError(f"{where}{_where(exc)}: invalid YAML: {problem}") from None
    except RecursionError:
        raise FleetError(f"{where}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def read(path: Path) -> object:
    """`load` of a file; a missing file is an error naming it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FleetError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise FleetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load(text, path)
