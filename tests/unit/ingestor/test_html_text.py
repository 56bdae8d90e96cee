"""html_text.html_to_text: tags stripped, script/style dropped, line breaks kept, bad markup survived."""

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
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("wrapped\nsource   lines", "wrapped source lines"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("<!DOCTYPE html><![if !mso]>x<![endif]>", "x"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
