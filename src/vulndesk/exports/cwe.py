"""CWE names (MITRE CWE List 4.17, ``data/cwe_names.json``). CSAF 2.0 wants the exact name beside
the id (mandatory test 6.1.11), CVE problem types use it as their description."""

import json
from functools import cache
from importlib import resources


@cache
def _names() -> dict[str, str]:
    text = resources.files("vulndesk.exports").joinpath("data/cwe_names.json").read_text(encoding="utf-8")
    return json.loads(text)["weaknesses"]


def cwe_name(number: int) -> str | None:
    """The weakness's name, or None for an id the list does not know (a category, a view, a
    deprecated or a newer entry)."""
    return _names().get(str(number))
