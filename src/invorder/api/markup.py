"""A tiny HTML builder that escapes by default: text and attribute values are escaped unless they
are already `Markup`, so data from the database can only ever appear as text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

# Names of elements and attributes come from our code, never from data; checked all the same.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_VOID = frozenset({"br", "hr", "img", "input", "link", "meta"})


class Markup(str):
    """HTML that is safe to send as it is: built here, or a literal of this package. Concatenating
    it with a plain `str` gives a plain `str` again, which is escaped when used: a mistake shows
    as visible markup, not as HTML."""

    __slots__ = ()


def escape(value: object) -> Markup:
    return Markup(html.escape(str(value), quote=True))


def render(*children: object) -> Markup:
    """The children as HTML: `Markup` as it is, None skipped, lists flattened, anything else
    escaped as text."""
    parts: list[str] = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, Markup):
            parts.append(child)
        elif isinstance(child, str | int | float):
            parts.append(escape(child))
        elif isinstance(child, Iterable):
            parts.append(render(*child))
        else:
            parts.append(escape(child))
    return Markup("".join(parts))


def tag(name: str, /, *children: object, **attrs: object) -> Markup:
    """`<name attrs>children</name>`. Attribute names are the keyword names with `_` as `-` and a
    trailing `_` dropped (`class_`, `data_testid`); None or False leaves one out, True writes it bare."""
    if not _NAME.match(name):
        raise ValueError(f"not an element name: {name!r}")
    rendered = [name]
    for key, value in attrs.items():
        attr = key.rstrip("_").replace("_", "-")
        if not _NAME.match(attr):
            raise ValueError(f"not an attribute name: {attr!r}")
        if value is None or value is False:
            continue
        rendered.append(attr if value is True else f'{attr}="{escape(value)}"')
    opening = f"<{' '.join(rendered)}>"
    if name in _VOID:
        return Markup(opening)
    return Markup(f"{opening}{render(*children)}</{name}>")
