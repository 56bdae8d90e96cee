"""html_text.html_to_text: script/style dropped, line breaks, lists and tables laid out, bad markup survived."""

from __future__ import annotations

import pytest

from intake.ingestor.html_text import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<script>var x = '<p>';</script>kept<style>.a{}</style>", "kept"),
        ("<html><head><title>T</title></head><body>Body</body></html>", "Body"),
        ("Tom &amp; Jerry &lt;3 &#8364;", "Tom & Jerry <3 €"),
        ("<ul><li>one</li><li>two</li></ul>", "* one\n  * two"),
        ("wrapped\nsource   lines", "wrapped source lines"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a  b"),
        # Columns stay aligned: an order table in an HTML-only mail stays readable.
        (
            "<table><tr><th>Item</th><th>Qty</th></tr><tr><td>Toner cartridge</td><td>2</td></tr></table>",
            "Item             Qty\nToner cartridge  2",
        ),
        ('<?xml version="1.0" encoding="utf-8"?><p>declared</p>', "declared"),
        ("<p>\x00nul</p>", "\ufffdnul"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("<!DOCTYPE html><![if !mso]>x<![endif]>", "x"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
