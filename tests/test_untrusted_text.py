"""Model-written text is shown as text: no remote image is fetched, no link acts, no markup escapes."""
from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from synthrl.records import Attempt, Sample
from ui import views

HOSTILE = [
    "![x](http://127.0.0.1:9/pixel.png)",
    "<img src=http://127.0.0.1:9/raw.png>",
    "[click me](http://127.0.0.1:9/link)",
    "see http://127.0.0.1:9/bare and www.example.org",
    "<http://127.0.0.1:9/auto>",
    "```\nbreak out\n```\n![y](http://127.0.0.1:9/after-fence.png)",
    "````\n![z](http://127.0.0.1:9/four.png)",
    "`code` ![w](http://127.0.0.1:9/span.png) `x`",
    "<script>alert(1)</script> <a href='http://127.0.0.1:9/a'>a</a>",
]


def _render(md: str) -> str:
    """Markdown as a browser would get it (CommonMark + tables + bare-URL links, as Gradio's renderer)."""
    return MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "linkify"]).render(md)


def _acts(html: str) -> bool:
    return any(tag in html for tag in ("<img", "<a ", "<script", "<iframe"))


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_literally(text):
    html = _render(views._md_escape(text))
    assert not _acts(html), html
    html = _render(f"**Reference answer:** {views._code(text)}")
    assert not _acts(html), html
    assert not _acts(_render(views._block(text)))


@pytest.mark.parametrize("text", HOSTILE)
def test_sample_detail_never_renders_model_text_as_markup(store, text):
    sid = store.add_sample(Sample(None, question=text, answer=text, reference=text, status="verified"))
    kid = store.add_sample(Sample(None, question=text, answer="2", reference="2", parent_id=sid, origin="harder"))
    store.add_attempts([Attempt(sid, "base", "greedy", text, text, False)])
    store.update_sample(sid, author="ui", question=text + " (edited)")
    for s in (sid, kid):
        html = _render(views.sample_detail(store, s, "base"))
        assert not _acts(html), html
        assert "pixel.png" in html or "raw.png" in html or "127.0.0.1" in html or "example" in html or "break" in html


def test_escaped_text_keeps_what_the_model_wrote():
    text = "x*y_z [a](b) #1 <b>&amp;"
    html = _render(views._md_escape(text))
    # the reader sees exactly the characters the model wrote
    import html as h
    from bs4 import BeautifulSoup

    assert BeautifulSoup(html, "html.parser").get_text().strip() == text
    assert "&lt;b&gt;" in html and h.unescape("&amp;amp;") == "&amp;"
