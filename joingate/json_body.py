"""Request bodies as JSON: one reader for the API and the webhooks. Pure functions.

``json.loads`` alone lets through what later turns into a 500: nesting deep enough to exhaust
Python's recursion (RecursionError), lone surrogates (``"\\ud800"`` is valid JSON and not valid
Unicode: the first ``.encode()`` fails), and ``NaN``/``Infinity`` (not JSON at all). Here each
is refused with InvalidInput, or, for lone surrogates where the caller must keep what it can
(Zoom does not resend a refused delivery), replaced by U+FFFD.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from .errors import InvalidInput

MAX_DEPTH = 64                        # Zoom's events nest 5 deep, the API's bodies 3
LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")   # json pairs the valid ones itself
# Strict UTF-8 has no surrogates: a string holds one only through a \u escape in this range.
SURROGATE_ESCAPE_RE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def read_json(raw: bytes, *, replace_lone_surrogates: bool = False) -> Any:
    """The JSON value of ``raw`` (UTF-8). Raises InvalidInput, with the reason, for bytes that
    are not UTF-8 JSON, for NaN or Infinity, for nesting deeper than MAX_DEPTH, and for a lone
    surrogate in any string or key (unless ``replace_lone_surrogates``: then U+FFFD)."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not valid JSON") from None
    if isinstance(data, str):
        return _text(data, replace_lone_surrogates)
    if (raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH
            and not SURROGATE_ESCAPE_RE.search(raw)):
        return data        # no deeper than its brackets, no surrogate: the walk would pass it
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:                      # iterative: the depth is what is being checked
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(f"the body nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = _text(item, replace_lone_surrogates)
                elif isinstance(item, (list, dict)):
                    stack.append((item, depth + 1))
        elif isinstance(node, dict):
            for key, value in list(node.items()):
                if isinstance(value, str):
                    value = _text(value, replace_lone_surrogates)
                elif isinstance(value, (list, dict)):
                    stack.append((value, depth + 1))
                clean_key = _text(key, replace_lone_surrogates)
                if clean_key != key:
                    del node[key]
                node[clean_key] = value
    return data


def _text(value: str, replace: bool) -> str:
    if not LONE_SURROGATE_RE.search(value):
        return value
    if replace:
        return LONE_SURROGATE_RE.sub("\ufffd", value)
    raise InvalidInput("the body holds text that is not valid Unicode (a lone surrogate)")
