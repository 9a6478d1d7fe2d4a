"""The reproduction report renders in a real browser: headless Chromium takes a screenshot of index.html."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from amdcgan.cli import main


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_has_every_stage_and_a_verdict(tmp_path, capsys):
    assert main(["reproduce", "-o", str(tmp_path), "--only", "describe"]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "## Architecture" in markdown and "**Verdict:**" in markdown and "**Paper:**" in markdown
    assert "1,052,802" in markdown  # the weight count derived by hand in test_hdl_counts


def test_unknown_stage_is_a_clear_error(tmp_path, capsys):
    assert main(["reproduce", "-o", str(tmp_path), "--only", "nosuch"]) == 2
    assert "unknown stage" in capsys.readouterr().err


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path, capsys):
    assert main(["reproduce", "-o", str(tmp_path), "--only", "describe"]) == 0
    shot = tmp_path / "shot.png"
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
               (tmp_path / "index.html").as_uri()]
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    import matplotlib.image

    pixels = np.asarray(matplotlib.image.imread(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    ink = (pixels[..., :3].mean(axis=2) < 0.5).mean()  # share of dark pixels: text and tables
    assert 0.002 < ink < 0.5, ink
