"""The one report renderer: Markdown and HTML from the same document, HTML escaped, one number formatter."""

from __future__ import annotations

import io

from amdcgan.progress import ProgressLog, training_events
from amdcgan.report import Document, Figure, Section, Table, Verdict, fmt, render, write_report


def _document(tmp_path) -> Document:
    picture = tmp_path / "figures" / "x.png"
    picture.parent.mkdir()
    picture.write_bytes(b"\x89PNG fake")
    verdict = Verdict("a <b> claim", "differ", "ratio <= 1 & more", "ours 2")
    return Document("T <1>", "intro with `code`", [
        Section("S & T", paper="paper says <x>", verdicts=[verdict],
                blocks=["**bold** text", Table(["a|b", "c"], [[1234567, 0.000123], ["<i>", None]]),
                        Figure("cap", picture), Figure("inline", png=b"PNGDATA", name="inline_fig")])])


def test_formatter():
    assert [fmt(v) for v in (1234567, 0.5, 0.000123, 2.5e7, 12345.6, None, True, "x", 0.0)] == \
        ["1,234,567", "0.5", "1.230e-04", "2.500e+07", "12,346", "-", "yes", "x", "0"]


def test_html_is_escaped_and_markdown_says_the_same(tmp_path):
    document = _document(tmp_path)
    page = render(document, tmp_path, "html")
    assert "<b> claim" not in page and "a &lt;b&gt; claim" in page and "T &lt;1&gt;" in page
    assert "&lt;i&gt;" in page and "<b>bold</b> text" in page and "<code>code</code>" in page
    assert "src=\"figures/x.png\"" in page and "data:image/png;base64,UE5HREFUQQ==" in page
    markdown = render(document, tmp_path, "md", figure_folder="figures")
    assert "a\\|b" in markdown and "1,234,567" in markdown and "1.230e-04" in markdown
    assert "**Verdict: differ** (a <b> claim)" in markdown and "![inline](figures/inline_fig.png)" in markdown
    assert "1 verdicts against the paper: 0 agree, 1 differ" in markdown


def test_write_report_writes_figures_given_as_bytes(tmp_path):
    written = write_report(_document(tmp_path), tmp_path, "r.md", "r.html")
    assert (tmp_path / "figures" / "inline_fig.png").read_bytes() == b"PNGDATA"
    assert {path.name for path in written} == {"inline_fig.png", "r.md", "r.html"}


def test_plain_progress_prints_a_line_per_epoch_with_an_estimate():
    stream = io.StringIO()
    with ProgressLog(stream) as log:
        assert log.plain
        events = training_events(log, "float")
        events({"event": "start", "epoch": 0, "epochs": 2, "steps_per_epoch": 3})
        for epoch in (1, 2):
            for _ in range(3):
                events({"event": "step", "epoch": epoch, "loss_d": 1.0, "loss_g": 2.0})
            events({"event": "epoch", "epoch": epoch, "metrics": {"fid": 300.0, "classes": 7, "confidence": 0.5}})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "float: starting at epoch 0 of 2 (0:00 elapsed)"
    assert lines[1].startswith("float: epoch 1/2: FID 300.0, 7 classes, confidence 0.50 (50%, 0:00 elapsed, about")
    assert lines[2].startswith("float: epoch 2/2") and "(100%" in lines[2]
    assert len(lines) == 3  # steps are silent


def test_terminal_progress_uses_rich():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    with ProgressLog(stream) as log:
        assert not log.plain and log.rich is not None
        task = log.task("work", total=2)
        task.advance(status="half")
        task.note("noted")
    assert "work: noted" in stream.getvalue()


def test_a_report_is_written_as_one_set(tmp_path):
    """Every file of a report is staged before any replaces its old version: a failure on one (here the JSON's
    name is taken by a folder) leaves the previous report whole, and no temporary behind."""
    import pytest

    from amdcgan.errors import UserError

    document = Document("first", sections=[Section("a", blocks=["one"])])
    write_report(document, tmp_path, extra={tmp_path / "data.json": b"{}"})
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    (tmp_path / "blocked").mkdir()
    with pytest.raises(UserError, match="blocked"):
        write_report(Document("second", sections=[Section("b", blocks=["two"])]), tmp_path,
                     extra={tmp_path / "data.json": b"[]", tmp_path / "blocked": b"x"})
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    assert after == before
