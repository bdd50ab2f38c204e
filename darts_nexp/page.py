"""One self-contained HTML page, as `darts-nexp report` writes it: headings, notes, tables and images. Every image
is embedded as a data: URI and the style sheet is inline, so the file opens from disk, mails as one attachment and
needs no network."""
from __future__ import annotations

import base64
import html

import markdown

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1240px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
div.side { display: flex; gap: 1em; align-items: flex-start; }
div.side img { flex: 1 1 0; min-width: 0; }
p.missing { background: #fff4e0; border-left: 4px solid #e0a030; padding: 0.3em 0.6em; }
p.meta, p.help { color: #555; font-size: 0.92em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
nav li { margin: 0.1em 0; }
"""


def esc(text) -> str:
    return html.escape(str(text))


def image(data: bytes, alt: str, fmt: str = "png") -> str:
    """An <img> of PNG (or, with fmt="svg", SVG) bytes."""
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f'<img alt="{esc(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}">'


def missing(text: str) -> str:
    """A line that says what the page cannot show, and why."""
    return f'<p class="missing">{esc(text)}</p>'


def para(text: str, cls: str = "") -> str:
    return f'<p class="{cls}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def side_by_side(images: list[str]) -> str:
    """Images in one row, sharing its width."""
    return '<div class="side">' + "".join(images) + "</div>"


def table(header: list[str] | None, rows: list[list]) -> str:
    """A table of text, with a header row unless `header` is None; numbers are right-aligned, floats shown to 4
    places."""

    def cell(value) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.4f}</td>'
        if isinstance(value, int):
            return f'<td class="num">{value:,}</td>'
        return f"<td>{esc('' if value is None else value)}</td>"

    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header is not None else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def from_markdown(text: str) -> str:
    """Markdown (headings, paragraphs, lists, pipe tables) as HTML; raw HTML in it is escaped, not passed on."""
    return markdown.markdown(html.escape(text, quote=False), extensions=["tables"])


def heading(level: int, title: str, anchor: str | None = None) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<h{level}{ident}>{esc(title)}</h{level}>"


def document(title: str, meta: str, contents: list[tuple[str, str]], body: list[str]) -> str:
    """The whole page: a title, a line about it, a list of links to its sections ((anchor, title)), then `body`."""
    links = "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t in contents)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{esc(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{esc(title)}</h1>\n<p class=\"meta\">{esc(meta)}</p>\n"
            f"<nav><ul>{links}</ul></nav>\n" + "\n".join(body) + "\n</body>\n</html>\n")
