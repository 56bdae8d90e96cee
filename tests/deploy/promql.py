"""The metric names a PromQL expression reads, for comparing dashboards and alert rules with the services.

A small tokenizer, not a parser: it drops string literals, label matchers `{…}`, ranges and subqueries
`[…]`, durations (`offset 1h`), numbers, and the label lists of `by`, `without`, `on`, `ignoring`,
`group_left` and `group_right`; what remains that looks like an identifier and is neither a function
call, a keyword nor a number is a metric name.
Grafana's `$variables` are dropped too. `label_values(metric, label)` (a Grafana query) names `metric`.
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_DURATION = re.compile(r"(?<![\w:])(?:\d+(?:ms|[smhdwy]))+(?![\w:])")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,")
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan", "atan2", "start", "end",
}  # fmt: skip


def metric_names(expression: str) -> set[str]:
    """Every metric name `expression` selects.

    >>> sorted(metric_names('sum by (le) (rate(a_bucket{x="y{z}"}[5m])) / on (i) b_total offset 1h > 1e3'))
    ['a_bucket', 'b_total']
    """
    grafana = _LABEL_VALUES.match(expression)
    if grafana:
        return {grafana.group(1)}
    text = _VARIABLE.sub(" ", _STRING.sub('""', expression))
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _DURATION.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end() :].lstrip()
        name = match.group(0)
        if rest.startswith("(") or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names
