"""Writing exports: all or nothing, and clear errors for paths that cannot be written.

Every export is written to a temporary name next to its destination and renamed into place,
so a failure (bad path, full disk, a bug half way) never leaves a half-written export behind,
and readers never see one being written.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from reprolam.errors import ReprolamError


class ExportError(ReprolamError):
    """An export could not be written (unusable output path, I/O failure)."""


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path written."""

    def write(tmp: Path) -> None:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return write_atomically(path, write, directory=False)


def write_atomically(path: Path, write: Callable[[Path], None], *, directory: bool) -> Path:
    """Let ``write`` fill a temporary sibling of ``path``, then rename it to ``path``.

    ``directory``: the export is a directory (it may replace an empty one, never a full one).
    """
    target = path.expanduser().absolute()
    _check_destination(target, directory=directory)
    # the name cut short: a file name may be 255 bytes long, and so may this one
    tmp = target.parent / f".{target.name[:64]}.{secrets.token_hex(4)}.tmp"
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, OSError):
            raise ExportError(
                f"cannot write export to {str(path)!r}: {exc.strerror or exc}: "
                "choose another {output=PATH}"
            ) from exc
        raise
    return target


def _check_destination(target: Path, *, directory: bool) -> None:
    parent = target.parent
    if not parent.exists():
        raise ExportError(
            f"cannot write export to {str(target)!r}: directory {str(parent)!r} does not exist: "
            "create it first or choose another {output=PATH}"
        )
    if not parent.is_dir():
        raise ExportError(
            f"cannot write export to {str(target)!r}: {str(parent)!r} is a file, not a "
            "directory: choose another {output=PATH}"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(
            f"cannot write export to {str(target)!r}: directory {str(parent)!r} is not "
            "writable: choose another {output=PATH}"
        )
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ExportError(
            f"cannot write export to {str(target)!r}: {exc.strerror or exc}: "
            "choose another {output=PATH}"
        ) from exc
    if stat.S_ISLNK(mode):
        raise ExportError(
            f"refusing to write export to {str(target)!r}: it is a symbolic link, and an "
            "export only replaces a regular file: remove the link or choose another {output=PATH}"
        )
    if directory:
        if not (stat.S_ISDIR(mode) and not any(target.iterdir())):
            raise ExportError(
                f"cannot write the crate to {str(target)!r}: it exists and is not an empty "
                "directory: remove it, or choose a new directory or a .zip path"
            )
    elif stat.S_ISDIR(mode):
        raise ExportError(
            f"cannot write export to {str(target)!r}: it is a directory: give a file path"
        )
    elif not stat.S_ISREG(mode):
        raise ExportError(
            f"refusing to write export to {str(target)!r}: it is not a regular file (a device, "
            "pipe or socket), which an atomic export cannot replace: give a file path, or "
            "{output=-} for standard output"
        )


def _remove(tmp: Path) -> None:
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)
