"""One report renderer for every report of the package (the reproduction, the estimate): a `Document` of sections,
each a list of blocks (paragraphs, tables, figures) with the paper's claim and the verdicts computed beside it,
rendered through Jinja2 templates as Markdown and as HTML (escaped), from the same data so that both say the same.

Every number in a table goes through `fmt`, the one number formatter.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path


OUTCOMES = ("agree", "differ", "not comparable", "inconclusive")


@dataclass
class Table:
    headers: list[str]
    rows: list[list[object]]


@dataclass
class Figure:
    """An image: a file the report links to (`path`), or bytes embedded in a self-contained page (`png`)."""

    caption: str
    path: Path | None = None
    png: bytes | None = None
    name: str = ""  # file name without suffix when written from bytes; default: from the caption


@dataclass
class Verdict:
    """One comparison with the paper, decided by `criterion` from the numbers in `figures`."""

    claim: str  # what is judged, e.g. "Fig. 4: each signal settles within its 100 ns pulse"
    outcome: str  # one of OUTCOMES
    criterion: str  # the test and its threshold, printed beside the outcome
    measured: str  # what the data show, in words and numbers
    figures: dict = field(default_factory=dict)
    back_solved: bool = False  # judged on an input fitted to the paper's own numbers: a fit, not a test

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"verdict outcome {self.outcome!r}: expected one of {OUTCOMES}")

    def as_dict(self) -> dict:
        return {"claim": self.claim, "outcome": self.outcome, "criterion": self.criterion, "measured": self.measured,
                "back_solved": self.back_solved, "figures": self.figures}


@dataclass
class Section:
    title: str
    paper: str = ""  # what the paper reports; empty for sections of ours only
    verdicts: list[Verdict] = field(default_factory=list)
    blocks: list = field(default_factory=list)  # str paragraphs, Tables and Figures


@dataclass
class Document:
    title: str
    intro: str = ""
    sections: list[Section] = field(default_factory=list)
    stages: Table | None = None  # how each part of the job went

    def verdicts(self) -> list[Verdict]:
        return [verdict for section in self.sections for verdict in section.verdicts]

    def scoreboard(self) -> dict:
        """How many verdicts came out each way, and how many of them were judged on back-solved inputs."""
        verdicts = self.verdicts()
        return {"total": len(verdicts), **{outcome: sum(v.outcome == outcome for v in verdicts) for outcome in OUTCOMES},
                "back_solved": sum(v.back_solved for v in verdicts)}


def fmt(value, digits: int = 4) -> str:
    """The one number formatter: thousands separators for integers, `digits` significant digits, scientific
    notation outside 1e-3..1e6; None is '-', booleans 'yes'/'no', anything else its text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if value == 0:
        return "0"
    if value != value:  # NaN
        return "-"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _environment():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("amdcgan", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
    )
    environment.filters["fmt"] = fmt
    # Cells may carry text from input files (a component's source); Markdown renderers pass raw HTML through.
    environment.filters["md_cell"] = lambda value: html.escape(fmt(value), quote=False).replace("|", "\\|").replace(
        "\n", " ")
    environment.filters["marked"] = _marked
    environment.tests["table"] = lambda block: isinstance(block, Table)
    environment.tests["figure"] = lambda block: isinstance(block, Figure)
    return environment


def _marked(text: str):
    """Escaped text with the Markdown form's **bold** and `code` markers and line breaks as HTML."""
    from markupsafe import Markup, escape

    escaped = str(escape(text))
    for marker, tag in (("**", "b"), ("`", "code")):
        while escaped.count(marker) >= 2:
            escaped = escaped.replace(marker, f"<{tag}>", 1).replace(marker, f"</{tag}>", 1)
    return Markup(escaped.replace("\n\n", "<br><br>").replace("\n", "<br>"))


def _image_source(figure: Figure, root: Path, embed: bool) -> str:
    if embed or figure.path is None:
        return "data:image/png;base64," + base64.b64encode(figure.png or figure.path.read_bytes()).decode("ascii")
    return Path(os.path.relpath(figure.path, root)).as_posix()


def render(document: Document, root: Path, fmt_name: str, embed_images: bool = False, figure_folder: str = "") -> str:
    """`fmt_name` "md" or "html". Images are linked relative to `root`, or embedded (`embed_images`); figures
    given only as bytes are linked as `figure_folder`/NAME in Markdown, where the caller writes them."""
    sources = {}
    for section in document.sections:
        for block in section.blocks:
            if isinstance(block, Figure):
                if fmt_name == "md" and block.path is None:
                    sources[id(block)] = f"{figure_folder}/{figure_file_name(block)}"
                else:
                    sources[id(block)] = _image_source(block, root, embed_images and fmt_name == "html")
    template = _environment().get_template(f"report.{fmt_name}")
    return template.render(document=document, scoreboard=document.scoreboard(), outcomes=OUTCOMES,
                           source=lambda figure: sources[id(figure)])


def _slug(caption: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in caption.lower()).strip("_")[:60]


def figure_file_name(figure: Figure) -> str:
    """Where the Markdown form expects a figure given only as bytes, inside its figure folder."""
    return f"{figure.name or _slug(figure.caption)}.png"


def write_report(document: Document, root: Path, markdown: str = "report.md", page: str = "index.html",
                 embed_images: bool = False, figure_folder: str = "figures",
                 extra: dict[Path, bytes] | None = None) -> list[Path]:
    """The Markdown and HTML forms of `document` in `root`; figures given as bytes are written to
    `root/figure_folder` for the Markdown form (the HTML page embeds them). Everything, with the `extra` files, is
    rendered first and written as one set: a failure leaves the previous report whole."""
    from amdcgan.fileio import write_files_atomic

    contents: dict[Path, bytes] = dict(extra or {})
    for section in document.sections:
        for block in section.blocks:
            if isinstance(block, Figure) and block.path is None:
                contents[root / figure_folder / figure_file_name(block)] = block.png
    contents[root / markdown] = render(document, root, "md", figure_folder=figure_folder).encode("utf-8")
    contents[root / page] = render(document, root, "html", embed_images).encode("utf-8")
    return write_files_atomic(contents)
