"""policies/aws_taggable_types.json matches the installed pulumi-aws SDK.

Regenerate after upgrading pulumi-aws: ``python -m tests.policies.test_taggable_types``.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pulumi_aws

from policies.soc2 import taggable_types

DATA = Path(__file__).resolve().parents[2] / "policies" / "aws_taggable_types.json"
_TOKEN = re.compile(r"super\(\w+, __self__\).__init__\(\s*'(aws:[^']+)'", re.S)


def scan_sdk() -> list[str]:
    """Resource tokens whose constructor takes ``tags`` (read from the SDK's source, which is
    much faster than importing every module)."""
    found = set()
    for path in Path(pulumi_aws.__file__).parent.rglob("*.py"):
        text = path.read_text()
        for match in _TOKEN.finditer(text):
            init = text.rfind("def _internal_init(", 0, match.start())
            if init != -1 and '__props__.__dict__["tags"] = tags' in text[init : match.start()]:
                found.add(match.group(1))
    return sorted(found)


def generate() -> dict[str, object]:
    return {"pulumi-aws": metadata.version("pulumi-aws"), "types": scan_sdk()}


def test_taggable_types_match_the_sdk() -> None:
    data = json.loads(DATA.read_text())
    assert data == generate()
    assert "aws:lb/targetGroup:TargetGroup" in taggable_types()
    assert "aws:iam/rolePolicy:RolePolicy" not in taggable_types()


if __name__ == "__main__":
    DATA.write_text(json.dumps(generate(), indent=0) + "\n")
