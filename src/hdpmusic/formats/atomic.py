"""Write files so that a crash never leaves a partial file in place of a good one.

:func:`atomic_path` writes to a hidden temporary name beside the destination,
``.NAME.tmp-PID``, and renames it into place; :func:`atomic_folder` does the same for a
folder of files, which it replaces whole. A process killed while writing leaves that
temporary behind; :func:`remove_stale_temporaries` removes those of dead processes (call
it before writing the same output again). A write that fails for want of space or
permission is a one-line :class:`~hdpmusic.runtime.errors.HdpmusicError` naming the file and why
(:func:`write_failure`), and the destination is left as it was. :func:`check_output` tells
before any work whether an output file can be written: not a folder, not one of the
command's inputs (:func:`check_not_input`), in a writable folder (:func:`check_writable`);
:func:`check_output_folder` the same for an output folder.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hdpmusic.runtime.errors import HdpmusicError

__all__ = ["atomic_folder", "atomic_path", "check_not_input", "check_output",
           "check_output_folder", "check_space", "check_writable", "remove_stale_temporaries",
           "write_failure"]

_TMP_MARK = ".tmp-"
#: errno values of a write that failed for want of space or permission
_WRITE_ERRNOS = frozenset(getattr(errno, name) for name in (
    "ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM") if hasattr(errno, name))
#: free bytes under which a failed write is put down to a full disk (torch and numpy
#: report a short write without an errno)
_FULL_BYTES = 1 << 20


def _temporary(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}{_TMP_MARK}{pid}")


@contextlib.contextmanager
def _failures_named(path: Path) -> Iterator[None]:
    """Turn a write into ``path`` that failed for want of space or permission into the
    one-line :class:`HdpmusicError` of :func:`write_failure`; other errors pass."""
    try:
        yield
    except Exception as err:
        reason = write_failure(err, path.parent)
        if reason is None:
            raise
        raise HdpmusicError(f"cannot write {path}: {reason}; nothing was written there"
                            ) from err


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

    Raises
    ------
    HdpmusicError
        ``path`` is a folder; it exists and ``overwrite`` is False; or the write failed
        for want of space or permission (:func:`write_failure`: one line naming the
        file and why; ``path`` is left as it was).
    """
    path = Path(path)
    _refuse_folder(path)
    if not overwrite and path.exists():
        raise HdpmusicError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    tmp = _temporary(path, os.getpid())
    try:
        with _failures_named(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            os.replace(tmp, path)
    finally:
        _remove(tmp)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary folder beside ``path``; on success it replaces ``path`` whole.

    A crash or an error in the block leaves ``path`` as it was, and no file of an
    earlier ``path`` outlives the replacement (a report written again without its
    components leaves none of their images behind).

    Parameters
    ----------
    path : path-like
        The folder to write (it need not exist).

    Yields
    ------
    pathlib.Path
        The folder to write into (``.NAME.tmp-PID`` beside ``path``), removed if the
        block raises.

    Raises
    ------
    HdpmusicError
        ``path`` is a file, or the write failed for want of space or permission
        (:func:`write_failure`; ``path`` is left as it was).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HdpmusicError(f"{path} is a file; give the path of a folder to write")
    tmp = _temporary(path, os.getpid())
    old = tmp.with_name(tmp.name + ".old")
    try:
        with _failures_named(path):
            _remove(tmp)
            tmp.mkdir(parents=True)
            yield tmp
            if path.exists():
                os.rename(path, old)
                try:
                    os.rename(tmp, path)
                except OSError:
                    os.rename(old, path)
                    raise
            else:
                os.rename(tmp, path)
    finally:
        _remove(tmp)
        _remove(old)


def check_output_folder(out: str | os.PathLike, *, overwrite: bool,
                        inputs: dict[str, str | os.PathLike | None] | None = None,
                        what: str = "its files", option: str = "--out") -> Path:
    """Check before any work that the folder ``out`` may be written.

    Parameters
    ----------
    out : path-like
        The folder a command is about to write.
    overwrite : bool
        Whether a folder that holds files may be replaced (``--overwrite``).
    inputs : dict of str to path-like or None, optional
        The command's inputs (what each is, as the message names it, e.g. ``"the
        results r/results.json"`` -> its path): ``out`` may neither be one of them nor
        hold one, whatever ``overwrite`` says.
    what : str
        What replacing the folder replaces (for the message).
    option : str
        The option that names ``out`` (for the messages).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    HdpmusicError
        ``out`` is a file, holds files and ``overwrite`` is False, is or holds one of the
        ``inputs``, or cannot be made (:func:`check_writable`).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HdpmusicError(f"{option} {out} is a file; give the path of a folder")
    for name, path in (inputs or {}).items():
        if path is not None and _inside(path, out):
            raise HdpmusicError(f"{option} {out} holds {name}; writing it would destroy "
                                f"it: choose another {option} folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise HdpmusicError(f"{option} {out} exists and is not empty; pass --overwrite to "
                            f"replace {what}")
    check_writable(out, "output folder", create=False)
    return out


def _inside(path: str | os.PathLike, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (links resolved)."""
    inner, outer = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return inner == outer or outer in inner.parents


def write_failure(err: BaseException, folder: str | os.PathLike) -> str | None:
    """Why a write into ``folder`` failed, when it was for want of space or permission.

    Parameters
    ----------
    err : BaseException
        What the writer raised.
    folder : path-like
        The folder written into (its free space is looked at when ``err`` carries no
        errno: torch reports a short write as a ``RuntimeError``, numpy as an
        ``OSError`` without one).

    Returns
    -------
    str or None
        A few words to follow "cannot write PATH:" (``"no space left on device (12 KiB
        free in out)"``, ``"Read-only file system"``), or None for any other error
        (a bug, bad data), which the caller re-raises as it is.
    """
    code = getattr(err, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)) or (
            code is None and isinstance(err, OSError | RuntimeError)
            and _free_bytes(folder) < _FULL_BYTES):
        return (f"no space left on device ({_free_bytes(folder) >> 10} KiB free in "
                f"{folder}); free some space or write elsewhere")
    if code in _WRITE_ERRNOS:
        return (f"{os.strerror(code)}; choose another path or fix its permissions")
    return None


def check_space(path: str | os.PathLike, need: int) -> None:
    """Refuse to write about ``need`` bytes to ``path`` when its folder has less free.

    A writer that runs out of space mid-way is refused cleanly by :func:`atomic_path`,
    but HDF5 can crash the process at exit after a failed write; checking first also
    spares the work of writing.

    Parameters
    ----------
    path : path-like
        The file about to be written (its folder must exist).
    need : int
        Bytes it will take, about.

    Raises
    ------
    HdpmusicError
        Naming both sizes.
    """
    folder = Path(path).parent
    free = _free_bytes(folder)
    if need > free:
        raise HdpmusicError(f"cannot write {path}: it needs about {_mib(need)} and "
                            f"{folder} has {_mib(free)} free; free some space or write "
                            f"elsewhere")


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def _free_bytes(folder: str | os.PathLike) -> int:
    """Bytes an unprivileged writer may still use in ``folder`` (huge when unknown)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62


def _refuse_folder(path: Path, option: str | None = None) -> None:
    """Refuse a destination that is a folder (its files would be lost or the rename fail)."""
    if path.is_dir():
        named = f"{option} {path}" if option else str(path)
        raise HdpmusicError(f"{named} is a folder; give the path of the file to write "
                            f"(e.g. {path / 'NAME'})")


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


def check_writable(folder: str | os.PathLike, what: str = "output folder", *,
                   create: bool = True) -> Path:
    """Make ``folder`` (and its parents) if needed and check that files can be written in it.

    Parameters
    ----------
    folder : path-like
    what : str
        What the folder is for, to name it in the message (e.g. ``"cache folder"``).
    create : bool
        If False, a missing ``folder`` is not made: its nearest existing parent is
        checked instead (for a command that makes the folder only once it succeeds).

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
    probe = folder
    if not create:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
    try:
        probe.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=probe, prefix=".write-test-"):
            pass
    except OSError as err:
        reason = ("a file is in the way" if probe.is_file() else
                  err.strerror or type(err).__name__)
        raise HdpmusicError(f"{what} {folder} is not writable ({reason}); choose another "
                            f"path or fix its permissions") from None
    return folder


def check_output(out: str | os.PathLike,
                 inputs: dict[str, str | os.PathLike | None] | None = None,
                 option: str = "--out") -> Path:
    """Check before any work that the file ``out`` can be written.

    Parameters
    ----------
    out : path-like
        The file a command is about to write.
    inputs : dict of str to path-like or None, optional
        The command's inputs, as in :func:`check_not_input`.
    option : str
        The option that names ``out`` (for the messages).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    HdpmusicError
        ``out`` is a folder, one of ``inputs``, or in a folder that cannot be written
        (:func:`check_writable`).
    """
    out = Path(out)
    _refuse_folder(out, option)
    check_not_input(out, inputs or {}, option)
    check_writable(out.parent, "output folder")
    return out


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
    if not os.path.lexists(tmp):  # (unlink on a read-only file system says EROFS)
        return
    with contextlib.suppress(FileNotFoundError):
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
