"""joingate/json_body.py against a reference written here: what read_json refuses and what it
returns, for bodies with and without lone surrogates, at every depth around MAX_DEPTH (its
shortcut skips the walk when the raw bytes show neither can be there)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joingate.errors import InvalidInput
from joingate.json_body import MAX_DEPTH, read_json

LONE = re.compile("[\ud800-\udfff]")

texts = st.lists(st.one_of(st.characters(), st.sampled_from(
    ["\ud800", "\udfff", "\ud83d\ude00", "[", "{", "\\", "\\u", '"'])), max_size=12).map("".join)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(texts, children, max_size=3)),
    max_leaves=12)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def reference(value: Any, replace: bool) -> Any:
    """What read_json must give for the JSON text of ``value``: ValueError for a lone surrogate
    unless ``replace`` (then U+FFFD)."""
    if isinstance(value, str):
        if LONE.search(value) and not replace:
            raise ValueError
        return LONE.sub("\ufffd", value)
    if isinstance(value, list):
        return [reference(item, replace) for item in value]
    if isinstance(value, dict):
        return {reference(key, replace): reference(item, replace)
                for key, item in value.items()}
    return value


def nested(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


@settings(max_examples=400, deadline=None)
@given(value=values, extra=st.integers(min_value=0, max_value=MAX_DEPTH + 2),
       replace=st.booleans(), ascii_only=st.booleans())
def test_read_json_refuses_and_returns_what_the_reference_does(value, extra, replace,
                                                               ascii_only):
    value = nested(value, extra)
    raw = json.dumps(value, ensure_ascii=ascii_only or bool(LONE.search(
        json.dumps(value, ensure_ascii=False))))
    raw_bytes = raw.encode("utf-8")
    try:
        expected = reference(json.loads(raw), replace)    # json pairs escaped surrogates
        if depth(value) > MAX_DEPTH:
            raise ValueError
    except ValueError:
        with pytest.raises(InvalidInput):
            read_json(raw_bytes, replace_lone_surrogates=replace)
        return
    assert read_json(raw_bytes, replace_lone_surrogates=replace) == expected


@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_depth_is_counted_whatever_the_brackets_inside_strings(levels):
    for leaf in ("plain", "[{[{" * 20, "\\ud800"):
        body = json.dumps(nested({"k": leaf}, levels - 1)).encode()
        if levels > MAX_DEPTH:
            with pytest.raises(InvalidInput):
                read_json(body, replace_lone_surrogates=True)
        else:
            assert depth(read_json(body, replace_lone_surrogates=True)) == levels
