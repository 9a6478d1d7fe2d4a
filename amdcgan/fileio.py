"""Files in and out, safely.

Writes are atomic: a file is either the old one or the complete new one, never half written. Every temporary file
is created with O_EXCL (`tempfile.mkstemp`, or inside a fresh private folder from `mkdtemp`) in the target's folder,
so no planted name or link is ever written through, and it is removed on every exit path. Reads take regular files
only, up to a size cap, so a device, a FIFO or a huge file is refused at once. An output folder is locked for the
command that writes it. Every problem is a `UserError` naming the path.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from amdcgan.errors import UserError

MAX_INPUT_BYTES = 64 * 2**20  # the default cap on an input file (arrays)
MAX_JSON_BYTES = 16 * 2**20  # parsed JSON takes about 30 bytes of memory per byte of numbers
LOCK_NAME = ".amdcgan.lock"
_TMP_SUFFIX = ".tmp"
_NAME_MAX = 255


def cache_root() -> Path:
    """The folder for what is fetched or built once per user and kept (`$AMDCGAN_CACHE`, default
    `~/.cache/amdcgan`)."""
    return Path(os.environ.get("AMDCGAN_CACHE") or Path.home() / ".cache" / "amdcgan")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _shown(path: Path | str) -> str:
    return repr(str(path)) if str(path) in ("", ".") else str(path)


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _temp_prefix(path: Path) -> str:
    """A short prefix: the temporary name must fit where the target's name fits."""
    return f".{path.name[:32]}."


# ---------------------------------------------------------------------------------------------------------------------
# Checking outputs before any work starts


def _writable_folder(folder: Path, target: Path) -> None:
    """`folder` exists as a writable folder, or can be made (its nearest existing ancestor is one)."""
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            raise UserError(f"{_shown(target)}: cannot write there ({probe} is a dangling link)")
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{_shown(target)}: cannot write there ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{_shown(target)}: cannot write there ({probe} is not writable)")


def check_output_file(path: str | Path) -> Path:
    """A file we may write: a regular file or a new name, of a legal length, in a writable (or creatable) folder."""
    text = str(path)
    path = Path(path)
    if text in ("", "."):
        raise UserError(f"{_shown(text)}: an output file name is needed")
    if len(path.name.encode()) > _NAME_MAX:
        raise UserError(f"{path}: the file name is longer than {_NAME_MAX} bytes")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise UserError(f"{path}: exists and is not a regular file; will not write over it")
    _writable_folder(path.parent, path)
    return path


def check_output_folder(path: str | Path) -> Path:
    """A folder we may write into: an existing writable folder, or one that can be made."""
    text = str(path)
    path = Path(path)
    if text == "":
        raise UserError("'': an output folder name is needed")
    if any(len(part.encode()) > _NAME_MAX for part in path.parts):
        raise UserError(f"{path}: a folder name is longer than {_NAME_MAX} bytes")
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder")
    _writable_folder(path, path)
    return path


def make_folder(path: str | Path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{_shown(path)}: cannot make the folder ({_reason(error)})") from None
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Atomic writes


def _stage(path: Path, data: bytes) -> str:
    """The complete new content in an exclusive temporary file beside `path`; returns its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=_TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_files_atomic(contents: dict[Path, bytes]) -> list[Path]:
    """Several files that belong together (a netlist and its library): every one is staged completely before the
    first replaces its old version, so a failure while staging leaves the previous set intact."""
    paths = [Path(path) for path in contents]
    for path in paths:
        if path.is_dir():
            raise UserError(f"{path}: is a folder; give a file name")
        make_folder(path.parent)
    staged: list[str] = []
    current = paths[0]
    try:
        for current in paths:
            staged.append(_stage(current, contents[current]))
        while staged:
            current = paths[len(paths) - len(staged)]
            os.replace(staged[0], current)
            staged.pop(0)
    except OSError as error:
        raise UserError(f"{_shown(current)}: cannot write ({_reason(error)})") from None
    finally:
        for tmp in staged:
            Path(tmp).unlink(missing_ok=True)
    return paths


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    write_files_atomic({path: data})
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def finite_json(obj: Any) -> Any:
    """`obj` with every non-finite float as null: JSON has no Infinity or NaN."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: finite_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(value) for value in obj]
    return obj


def json_text(obj: Any) -> str:
    return json.dumps(finite_json(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    return write_text_atomic(path, json_text(obj))


@contextmanager
def staging_folder(near: str | Path) -> Iterator[Path]:
    """A fresh private folder (`mkdtemp`, mode 0700) beside `near`, for writers that insist on opening a file by
    name (GDS writers): nobody else can plant anything in it, and it is removed on every exit path."""
    near = Path(near)
    make_folder(near.parent)
    try:
        folder = tempfile.mkdtemp(dir=near.parent, prefix=_temp_prefix(near), suffix=_TMP_SUFFIX)
    except OSError as error:
        raise UserError(f"{_shown(near)}: cannot write ({_reason(error)})") from None
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def staged_file(path: str | Path) -> Iterator[Path]:
    """A name in a `staging_folder` beside `path`, whose file replaces `path` when the block succeeds."""
    path = Path(path)
    with staging_folder(path) as folder:
        staged = folder / f"staged{path.suffix[:16]}"
        yield staged
        try:
            os.chmod(staged, 0o666 & ~_umask())
            os.replace(staged, path)
        except OSError as error:
            raise UserError(f"{_shown(path)}: cannot write ({_reason(error)})") from None


# ---------------------------------------------------------------------------------------------------------------------
# Bounded reads


def read_bytes_capped(path: str | Path, limit: int = MAX_INPUT_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Opening never blocks (a FIFO is refused, not waited
    on) and a device or folder is refused before anything is read."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as error:
        if error.errno == errno.EISDIR:
            raise UserError(f"{path}: is a folder, expected a {what}") from None
        raise UserError(f"{path}: cannot be read ({_reason(error)})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UserError(f"{path}: is a folder, expected a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{path}: is not a regular file (a device, FIFO or socket); expected a {what}")
        if info.st_size > limit:
            raise UserError(f"{path}: {info.st_size:,} bytes is more than the {limit:,} bytes a {what} may have")
        chunks, total = [], 0
        while total <= limit:  # the size may change while reading; never take more than the cap
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as error:
        raise UserError(f"{path}: cannot be read ({_reason(error)})") from None
    finally:
        os.close(fd)
    if total > limit:
        raise UserError(f"{path}: grew beyond the {limit:,} bytes a {what} may have while being read")
    return b"".join(chunks)


def read_text_capped(path: str | Path, limit: int = MAX_INPUT_BYTES, what: str = "file") -> str:
    data = read_bytes_capped(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: is not UTF-8 text (byte {error.start}); expected a {what}") from None


# ---------------------------------------------------------------------------------------------------------------------
# One writer per output folder


# What `_stage` and `staged_file` name their temporaries: "." + (part of) the target's name + 8 random characters.
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temporaries(folder: Path, depth: int = 2) -> None:
    """Temporaries left in a locked output folder (and its run subfolders) by a process killed outright (SIGKILL,
    power loss), which no exit path could remove. Only a holder of the folder's lock may call this."""
    for entry in folder.iterdir():
        if _TEMPORARY.match(entry.name) and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        elif depth > 1 and entry.is_dir() and not entry.is_symlink():
            remove_stale_temporaries(entry, depth - 1)


def _open_lock(folder: Path, lock: Path) -> int:
    """An open descriptor holding the exclusive lock on `lock`, which is still the file at that path."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(3):
        try:
            fd = os.open(lock, flags, 0o644)
        except OSError as error:
            raise UserError(f"{folder}: cannot lock the output folder ({lock}: {_reason(error)})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{folder}: another amdcgan command is writing into this folder now; wait for it to "
                            f"finish or choose another output folder") from None
        try:
            if os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder before us removed that file as it finished; lock the new one
    raise UserError(f"{folder}: other amdcgan commands keep taking this output folder; choose another one")


@contextmanager
def locked_output_folder(folder: str | Path) -> Iterator[Path]:
    """Make `folder` and hold an exclusive lock on it while the command writes there: a second command writing
    into the same folder stops at once with a message instead of mixing its files with the first one's. The lock
    file is removed on the way out (a later locker checks that the file it locked is still the one in place)."""
    folder = check_output_folder(folder)
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    make_folder(folder)
    lock = folder / LOCK_NAME
    fd = _open_lock(folder, lock)
    try:
        remove_stale_temporaries(folder)
        yield folder
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)  # closing releases the lock
        for path in created:  # a command refused before writing anything leaves no empty folder behind
            try:
                path.rmdir()
            except OSError:
                break
