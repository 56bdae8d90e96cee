"""Block-style YAML text for JSON-like data (dicts, lists, strings, numbers, booleans, None) (pure).

For documents the project writes and people read, such as docs/asyncapi.yaml, without a YAML library:
keys stay plain where YAML reads them as the same string; every other key and every string value is
written as a JSON string, which YAML reads alike.

>>> print(render({"a": [1, {"on": None}], "b": "x: y"}))
a:
  - 1
  - "on": null
b: "x: y"
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.-]*")
# Plain scalars YAML 1.1 would read as booleans or null.
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}


def render(document: Any, indent: int = 0) -> str:
    """Block-style YAML for JSON-like data: plain keys where YAML reads them as the same string, every
    other key and every string value double-quoted as JSON, which YAML reads alike."""
    pad = " " * indent
    if isinstance(document, dict):
        if not document:
            return "{}"
        lines = []
        for key, value in document.items():
            label = key if _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS else json.dumps(key)
            if isinstance(value, dict | list) and value:
                lines.append(f"{pad}{label}:\n{render(value, indent + 2)}")
            else:
                lines.append(f"{pad}{label}: {render(value)}")
        return "\n".join(lines)
    if isinstance(document, list):
        if not document:
            return "[]"
        items = []
        for value in document:
            text = render(value, indent + 2)
            items.append(f"{pad}- {text.lstrip()}" if isinstance(value, dict | list) and value else f"{pad}- {text}")
        return "\n".join(items)
    return json.dumps(document, ensure_ascii=False)
