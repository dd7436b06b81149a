"""Write files so that a crash never leaves a partial file in place of a good one.

:func:`atomic_path` writes to a hidden temporary name beside the destination,
``.NAME.tmp-PID``, and renames it into place. A process killed while writing leaves that
temporary behind; :func:`remove_stale_temporaries` removes those of dead processes (call
it before writing the same output again). :func:`check_writable` tells before any work
whether an output folder can be written. :func:`check_not_input` refuses an output that
is one of the command's inputs.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hdpmusic.errors import HdpmusicError

__all__ = ["atomic_path", "check_not_input", "check_writable", "remove_stale_temporaries"]

_TMP_MARK = ".tmp-"


def _temporary(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}{_TMP_MARK}{pid}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        The final destination.
    overwrite : bool
        If False and ``path`` exists, raise :class:`HdpmusicError` before anything is
        written.

    Yields
    ------
    pathlib.Path
        Where to write (``.NAME.tmp-PID`` beside ``path``). It is removed if the block
        raises.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise HdpmusicError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, os.getpid())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that killed writers of ``path`` left behind.

    A temporary of :func:`atomic_path` (``.NAME.tmp-PID`` beside ``path``) is stale when
    no process ``PID`` is alive on this machine; those of live processes (another run
    writing the same output) are kept.

    Parameters
    ----------
    path : path-like
        The output whose stale temporaries to remove (it need not exist).

    Returns
    -------
    list of pathlib.Path
        The temporaries removed.
    """
    path = Path(path)
    stem = _temporary(path, 0).name[:-1]  # ".NAME.tmp-"
    removed = []
    for tmp in path.parent.glob(glob.escape(stem) + "*"):
        pid = tmp.name[len(stem):]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(tmp)
            removed.append(tmp)
    return removed


def check_writable(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Make ``folder`` (and its parents) if needed and check that files can be written in it.

    Parameters
    ----------
    folder : path-like
    what : str
        What the folder is for, to name it in the message (e.g. ``"cache folder"``).

    Returns
    -------
    pathlib.Path
        ``folder``.

    Raises
    ------
    HdpmusicError
        The folder cannot be made or written (read-only, no permission, a file in the
        way), before any work is done.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        reason = ("a file is in the way" if folder.is_file() else
                  err.strerror or type(err).__name__)
        raise HdpmusicError(f"{what} {folder} is not writable ({reason}); choose another "
                            f"path or fix its permissions") from None
    return folder


def check_not_input(out: str | os.PathLike, inputs: dict[str, str | os.PathLike | None],
                    option: str = "--out") -> None:
    """Refuse an output path that is one of the inputs, whatever ``--overwrite`` says.

    Writing the output would replace that input (a corpus, a model, a list file) for
    good; the paths are compared after resolving links (:func:`os.path.samefile` where
    both exist).

    Parameters
    ----------
    out : path-like
        The file about to be written.
    inputs : dict of str to path-like or None
        What each input is (for the message, e.g. ``"the corpus"``) -> its path; None
        entries are skipped.
    option : str
        The option that names ``out`` (for the message).

    Raises
    ------
    HdpmusicError
        ``out`` is the same file as one of ``inputs``.
    """
    for what, path in inputs.items():
        if path is not None and _same_file(out, path):
            raise HdpmusicError(f"{option} {out} is {what} given as input; writing it would "
                                f"destroy it: choose another {option} path")


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (links resolved; missing files by their path)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (of any user)."""
    if pid == os.getpid() or os.name == "nt":  # Windows: os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, OSError):
        return False
    return True


def _remove(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
