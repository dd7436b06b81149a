"""Write files so that a crash never leaves a partial file in place of a good one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from hdpmusic.errors import HdpmusicError


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
        Where to write. It is removed if the block raises.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise HdpmusicError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp)
            else:
                tmp.unlink()
