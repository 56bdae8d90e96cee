"""Sanitising a message's HTML body for the sandboxed frame: what is removed, what stays, and what is refused."""

from __future__ import annotations

import doctest

import pytest

from intake.config_api.console import html_bodies
from intake.config_api.console.html_bodies import MAX_SHOWN_BYTES, html_view


def test_docstring_examples() -> None:
    result = doctest.testmod(html_bodies)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '"><svg onload=alert(1)>',
        '<iframe src="https://evil.example"></iframe>',
        '<object data="https://evil.example/x.swf"></object>',
        '<form action="https://evil.example"><input name=p></form>',
        '<p style="background:url(https://tracker.example/p.gif)">x</p>',
        '<img src="https://tracker.example/pixel.gif">',
        '<link rel=stylesheet href="https://evil.example/x.css">',
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<base href="https://evil.example/">',
    ],
)
def test_nothing_active_or_remote_survives(hostile: str) -> None:
    view = html_view(f"<p>before</p>{hostile}<p>after</p>")
    assert view is not None
    assert view.document is not None
    lowered = view.document.lower()
    for marker in ("<script", "onerror", "onload", "javascript:", "<iframe", "<object", "<form", "<input", "style=",
                   "evil.example", "tracker.example", "<link", "<meta", "<base"):  # fmt: skip
        assert marker not in lowered, (hostile, view.document)
    assert "before" in view.document
    assert "after" in view.document


def test_what_a_reader_needs_stays() -> None:
    body = (
        "<h1>Order</h1><table><tr><td><b>Qty</b></td><td>3</td></tr></table>"
        '<a href="https://shop.example/o/1">your order</a><img alt="logo" src="data:image/png;base64,iVBORw0KGgo=">'
    )
    view = html_view(body)
    assert view is not None
    assert view.document is not None
    assert '<a href="https://shop.example/o/1" rel="noopener noreferrer nofollow">your order</a>' in view.document
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in view.document
    assert "<table>" in view.document
    assert "<b>Qty</b>" in view.document


def test_no_html_and_too_much_html() -> None:
    assert html_view(None) is None
    assert html_view("  \n") is None
    big = html_view("<p>" + "x" * (MAX_SHOWN_BYTES + 10) + "</p>")
    assert big is not None
    assert big.document is None
    assert big.note is not None
    assert "too large" in big.note
