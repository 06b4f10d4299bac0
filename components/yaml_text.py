"""YAML text for the documents the program writes: Kubernetes manifests, rule and route files."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """No anchors or aliases: shared settings are repeated in full, as hand-written files do."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Multi-line strings (PromQL, templates) read best as block scalars.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(document: Any, *, width: int = 100) -> str:
    """`document` as block-style YAML, keys in their given order."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=width,
        allow_unicode=True,
    )
