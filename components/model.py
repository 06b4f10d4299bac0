"""The base of every config model: camelCase keys, unknown keys refused, frozen values.

Each component keeps its own config model beside it (components/<name>/config.py); the stack
model in infra/config.py only composes them. A validator raises ValueError with the value and
the rule; the stack model turns that into one line naming the key path.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ConfigModel(BaseModel):
    """A part of the stack config."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


MEMORY_QUANTITY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")
DURATION = re.compile(r"^[0-9]+(s|m|h|d|w|y)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
HOSTNAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")


def check(pattern: re.Pattern[str], value: str, rule: str) -> str:
    """`value` when it matches `pattern`, else ValueError("<value> <rule>")."""
    if not pattern.match(value):
        raise ValueError(f"{value!r} {rule}")
    return value


def cidr(value: str) -> str:
    """`value` when it is a CIDR block, else ValueError."""
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR block") from None
    return value
