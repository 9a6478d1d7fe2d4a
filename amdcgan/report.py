"""The reproduction report: sections that set each of the paper's tables and figures beside ours, written as
Markdown and as an offline HTML page (images beside it, referenced by relative paths)."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from amdcgan.fileio import write_text_atomic


@dataclass
class Table:
    headers: list[str]
    rows: list[list[object]]


@dataclass
class Section:
    """One of the paper's tables or figures beside ours."""

    title: str  # e.g. "Table II: training time and power"
    paper: str  # what the paper reports
    verdict: str  # agrees / differs by how much, and why
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)  # (path, caption)


@dataclass
class StageOutcome:
    name: str
    status: str  # done | skipped | failed
    reason: str = ""
    seconds: float = 0.0
    sections: list[Section] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(_cell(value).replace("|", "\\|") for value in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def to_markdown(title: str, intro: str, stages: list[StageOutcome], root: Path) -> str:
    parts = [f"# {title}", "", intro, "", "## Stages", "",
             _markdown_table(Table(["stage", "status", "time (s)", "note"],
                                   [[s.name, s.status, f"{s.seconds:.1f}", s.reason] for s in stages])), ""]
    for stage in stages:
        for section in stage.sections:
            parts += [f"## {section.title}", "", f"**Paper:** {section.paper}", "", f"**Verdict:** {section.verdict}", ""]
            if section.text:
                parts += [section.text, ""]
            for table in section.tables:
                parts += [_markdown_table(table), ""]
            for path, caption in section.images:
                parts += [f"![{caption}]({_relative(path, root)})", "", f"*{caption}*", ""]
    return "\n".join(parts)


STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1d2330; line-height: 1.45; }
h1 { border-bottom: 3px solid #2b6cb0; padding-bottom: .3em; }
h2 { margin-top: 2em; color: #2b6cb0; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #cbd5e0; padding: 4px 9px; text-align: right; }
th { background: #edf2f7; } td:first-child, th:first-child { text-align: left; }
.paper { background: #fffbea; border-left: 4px solid #d69e2e; padding: .5em 1em; }
.verdict { background: #ebf8ff; border-left: 4px solid #2b6cb0; padding: .5em 1em; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; border: 1px solid #e2e8f0; }
figcaption { font-size: .9em; color: #4a5568; max-width: 520px; }
.done { color: #276749; } .skipped { color: #b7791f; } .failed { color: #c53030; }
pre { white-space: pre-wrap; background: #f7fafc; padding: .6em; }
"""


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(title: str, intro: str, stages: list[StageOutcome], root: Path) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1><p>{esc(intro)}</p><h2>Stages</h2>"]
    rows = "".join(
        f"<tr><td>{esc(s.name)}</td><td class='{s.status}'>{esc(s.status)}</td><td>{s.seconds:.1f}</td>"
        f"<td>{esc(s.reason)}</td></tr>" for s in stages
    )
    parts.append(f"<table><thead><tr><th>stage</th><th>status</th><th>time (s)</th><th>note</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
    for stage in stages:
        for section in stage.sections:
            parts.append(f"<h2>{esc(section.title)}</h2>")
            parts.append(f"<p class='paper'><b>Paper:</b> {esc(section.paper)}</p>")
            parts.append(f"<p class='verdict'><b>Verdict:</b> {esc(section.verdict)}</p>")
            if section.text:
                parts.append(f"<pre>{esc(section.text)}</pre>")
            parts += [_html_table(table) for table in section.tables]
            for path, caption in section.images:
                parts.append(f"<figure><img src='{esc(_relative(path, root))}' alt='{esc(caption)}'>"
                             f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(root: Path, title: str, intro: str, stages: list[StageOutcome]) -> list[Path]:
    return [
        write_text_atomic(root / "report.md", to_markdown(title, intro, stages, root)),
        write_text_atomic(root / "index.html", to_html(title, intro, stages, root)),
    ]
