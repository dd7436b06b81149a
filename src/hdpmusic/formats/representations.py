"""Song-level representation files: ``ids`` × ``X`` (J, D) with provenance attributes.

Every model's ``transform`` writes one; evaluation reads them and never imports a model.
Layout (HDF5): dataset ``X`` float32 (J, D), dataset ``ids`` utf-8 strings (J,),
optionally dataset ``fitted`` bool (J,) — which songs the model was fitted on, where it
records them — and JSON-encoded file attributes (``model``, ``kind``, ``source``, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hdpmusic.formats.atomic import atomic_path, check_space
from hdpmusic.formats.filekind import REPRESENTATIONS_FORMAT, describe, require_file
from hdpmusic.runtime.errors import DataError, FormatError

FORMAT = REPRESENTATIONS_FORMAT
FORMAT_VERSION = 1


@dataclass
class Representations:
    """Song vectors with their ids.

    Attributes
    ----------
    ids : list of str, length J
    X : np.ndarray, shape (J, D)
    attrs : dict
        Provenance: ``model``, ``kind``, ``source`` (checkpoint path), ...
    fitted : np.ndarray of bool, shape (J,), or None
        Which songs the model that made the vectors was fitted on (None: not known, or
        a model whose vectors do not depend on its fit, such as G1).
    """

    ids: list[str]
    X: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    fitted: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        self.X = np.asarray(self.X)
        if self.X.ndim != 2 or self.X.shape[0] != len(self.ids):
            raise DataError(
                f"representations need X of shape (len(ids), D); got X {self.X.shape} "
                f"for {len(self.ids)} ids")
        if len(set(self.ids)) != len(self.ids):
            raise DataError("representation ids must be unique")
        if self.fitted is not None:
            self.fitted = np.asarray(self.fitted, dtype=bool)
            if self.fitted.shape != (len(self.ids),):
                raise DataError(f"representations need one 'fitted' flag per id; got shape "
                                f"{self.fitted.shape} for {len(self.ids)} ids")

    def align(self, ids: Sequence[str]) -> np.ndarray:
        """Rows of ``X`` in the order of ``ids``; a missing id is an error.

        Returns
        -------
        np.ndarray, shape (len(ids), D)
        """
        return self.X[self._rows(ids)]

    def fitted_for(self, ids: Sequence[str]) -> np.ndarray | None:
        """Which of ``ids`` the model was fitted on (in the order of ``ids``).

        Returns
        -------
        np.ndarray of bool, shape (len(ids),), or None
            None when the file does not say (:attr:`fitted`).
        """
        return None if self.fitted is None else self.fitted[self._rows(ids)]

    def _rows(self, ids: Sequence[str]) -> list[int]:
        """The row of each of ``ids``; a missing id is an error."""
        index = {song: row for row, song in enumerate(self.ids)}
        missing = [str(i) for i in ids if str(i) not in index]
        if missing:
            shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
            raise DataError(
                f"{len(missing)} of {len(ids)} ids have no representation: {shown}; the "
                f"representations hold ids such as {self.ids[0]!r} (the representations "
                "must come from a corpus with the same song ids, e.g. `hdpmusic transform` "
                "of the task's corpus)")
        return [index[str(i)] for i in ids]

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> None:
        """Write to HDF5 atomically (refused first when the disk cannot hold it)."""
        import h5py

        check_space(path, np.asarray(self.X).size * 4 + len(self.ids) * 256 + (1 << 20))
        with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("X", data=np.asarray(self.X, dtype=np.float32))
            f.create_dataset("ids", data=np.array(self.ids, dtype=object),
                             dtype=h5py.string_dtype("utf-8"))
            if self.fitted is not None:
                f.create_dataset("fitted", data=self.fitted)
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["meta"] = json.dumps(self.attrs, default=str)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Representations:
        """Read a file written by :meth:`save` (or an ``.npz`` with ``ids`` and ``X``
        or the study's ``feature``)."""
        path = _checked_path(path)
        if path.endswith(".npz"):
            return cls._load_npz(path)
        with _open_h5(path) as f:
            ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
            fitted = f["fitted"][()] if "fitted" in f else None
            return cls(ids, f["X"][()], _meta(f.attrs.get("meta", "{}"), path), fitted)

    @classmethod
    def _load_npz(cls, path: str) -> Representations:
        """An ``.npz`` with ``ids`` and ``X`` (or the study's ``feature``), without pickle."""
        import zipfile

        if not zipfile.is_zipfile(path):
            raise FormatError(f"{path} is not an .npz archive: it is {describe(path)}")
        try:
            with np.load(path, allow_pickle=False) as z:
                key = "X" if "X" in z else "feature"
                if key not in z or "ids" not in z:
                    raise FormatError(f"{path}: an .npz needs 'ids' and 'X' (or 'feature')")
                return cls([str(i) for i in z["ids"]], z[key], {"source": path})
        except ValueError as err:
            if "allow_pickle" not in str(err):
                raise
            raise FormatError(
                f"{path} stores arrays of Python objects, which hdpmusic does not load "
                "(that would run pickle code); save ids as strings and X as numbers, e.g. "
                "np.savez(path, ids=np.asarray(ids, dtype=str), X=np.asarray(X, "
                "dtype=np.float32))") from None
        except (OSError, EOFError, zipfile.BadZipFile) as err:
            raise FormatError(f"cannot read the .npz archive {path} ({err}); it is "
                              "damaged, re-create it") from None


def read_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance attributes of a representation file, without reading its vectors.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :meth:`Representations.save` (or an ``.npz``, whose only
        attribute is its ``source``).

    Returns
    -------
    dict
        What :attr:`Representations.attrs` would hold after :meth:`Representations.load`.
    """
    path = _checked_path(path)
    if path.endswith(".npz"):
        return {"source": path}
    with _open_h5(path) as f:
        return _meta(f.attrs.get("meta", "{}"), path)


def _checked_path(path: str | os.PathLike) -> str:
    """``path`` as a string, refused in one line when it is not a file."""
    path = os.fspath(path)
    require_file(path, "representation file",
                 "give the file written by `hdpmusic transform` or `hdpmusic embed`")
    return path


@contextmanager
def _open_h5(path: str) -> Iterator[Any]:
    """The open HDF5 representation file, its format and version checked."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise FormatError(f"{path} is not an hdpmusic representation file")
            version = int(f.attrs["format_version"])
            if version > FORMAT_VERSION:
                raise FormatError(
                    f"{path} has format version {version}; this hdpmusic reads "
                    f"<= {FORMAT_VERSION}: upgrade hdpmusic")
            yield f
    except OSError as err:
        raise FormatError(f"{path} is not a representation file (from `hdpmusic "
                          f"transform`): it is {describe(path)}") from err


def _meta(text: str | bytes, path: str) -> dict[str, Any]:
    """The ``meta`` attribute of a representation file: a JSON object.

    Raises
    ------
    FormatError
        Not JSON, not an object, or nested too deeply to decode (a damaged file).
    """
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        raise FormatError(f"{path}: its 'meta' attribute is not a JSON object that can be "
                          "read; the file is damaged (re-create it with `hdpmusic "
                          "transform`)")
    return meta
