"""The dashboard's HTML builder escapes every text and attribute value that is not already markup."""

from __future__ import annotations

import pytest

from invorder.api.markup import Markup, render, tag


def test_text_children_and_attribute_values_are_escaped() -> None:
    html = tag("td", '<script>alert("x")</script> & co', title='"><b>', data_testid="queue-ready-<k>")
    assert html == (
        '<td title="&quot;&gt;&lt;b&gt;" data-testid="queue-ready-&lt;k&gt;">'
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</td>"
    )


def test_markup_children_pass_through_and_lists_flatten() -> None:
    html = tag("tr", [tag("td", 1), None, tag("td", "a<b")], class_="row")
    assert html == '<tr class="row"><td>1</td><td>a&lt;b</td></tr>'
    assert render(Markup("<br>"), "<br>") == "<br>&lt;br&gt;"


def test_a_plain_str_made_from_markup_is_escaped_again() -> None:
    mixed = tag("b", "x") + "<i>"  # str + Markup is a plain str: treated as text
    assert render(mixed) == "&lt;b&gt;x&lt;/b&gt;&lt;i&gt;"


def test_void_elements_and_boolean_attributes() -> None:
    assert tag("meta", http_equiv="refresh", content="5") == '<meta http-equiv="refresh" content="5">'
    assert tag("input", disabled=True, hidden=False) == "<input disabled>"


@pytest.mark.parametrize("name", ["td onclick", "x>", ""])
def test_names_that_are_not_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        tag(name)
