"""Say what a file is, for error messages that name what was given instead of the
expected corpus, model or representation file.

:func:`describe` looks at a file's first bytes and, for the kinds hdpmusic writes, its
format marker; it never runs pickle code (PyTorch files are read with
``weights_only=True``).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from hdpmusic.runtime.errors import HdpmusicError

#: The format markers of the files hdpmusic writes (each file module takes its own from
#: here, so that this module can name them all without importing any of them)
CHECKPOINT_FORMAT = "hdpmusic-checkpoint"
REPRESENTATIONS_FORMAT = "hdpmusic-representations"
#: file name extensions taken as audio when a directory is searched
AUDIO_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".au",
                              ".snd", ".aiff", ".aif", ".aifc", ".m4a", ".opus"})
#: What the verbs that read a corpus expect, for messages
CORPUS_HINT = "a corpus .h5 made by `hdpmusic extract` or `hdpmusic prepare`"
_HEAD_BYTES = 4096


def require_file(path: str | os.PathLike, what: str, hint: str = "") -> None:
    """Refuse a missing ``path`` or a folder where a file is expected, naming which.

    Parameters
    ----------
    path : path-like
    what : str
        What the file is for, to start the message (``"corpus file"``).
    hint : str
        What to give instead, appended to the message about a folder.

    Raises
    ------
    HdpmusicError
        ``"corpus file PATH does not exist"`` or ``"corpus file PATH is a folder, not a
        file; give ..."``.
    """
    if os.path.isdir(path):
        raise HdpmusicError(f"{what} {path} is a folder, not a file{'; ' + hint if hint else ''}")
    if not os.path.isfile(path):
        raise HdpmusicError(f"{what} {path} does not exist")


def describe(path: str | os.PathLike) -> str:
    """A few words on what ``path`` is: ``"an audio file (WAV)"``, ``"a text file"``,
    ``"a model file (hdpgmm, from `hdpmusic fit`)"``, ``"a representation file (from
    `hdpmusic transform`)"``, ``"a corpus file"``, ...

    Parameters
    ----------
    path : path-like

    Returns
    -------
    str
        A noun phrase with its article, to follow "is".
    """
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_dir():
        return "a folder"
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    if not head:
        return "an empty file"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return _describe_hdf5(path)
    if head.startswith(b"PK\x03\x04"):
        return _describe_zip(path)
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array"
    if head[:1] == b"\x80":
        return "a Python pickle (hdpmusic never loads pickles)"
    audio = _audio_format(path)
    if audio is not None:
        return f"an audio file ({audio})"
    if b"\0" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as err:
            if err.start < len(head) - 4:      # not just a character cut at the end
                return "a file of unknown type"
        return "a text file"
    return "a file of unknown type"


def _describe_hdf5(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt == REPRESENTATIONS_FORMAT:
                return "a representation file (from `hdpmusic transform`)"
            if all(isinstance(f.get(k, getlink=False), h5py.Dataset)
                   for k in ("data", "indptr", "ids")):
                return "a corpus file"
            return "an HDF5 file without a corpus's 'data', 'indptr' and 'ids'"
    except OSError:
        return "a damaged HDF5 file (corrupt or truncated)"


def _describe_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return "a damaged ZIP archive"
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return _describe_torch(path)
    if names and all(n.endswith(".npy") for n in names):
        return "a NumPy .npz archive"
    return "a ZIP archive"


def _describe_torch(path: Path) -> str:
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        header = json.loads(payload["header"])
    except Exception:  # anything short of an hdpmusic checkpoint
        return "a PyTorch file that is not an hdpmusic model"
    if isinstance(header, dict) and header.get("format") == CHECKPOINT_FORMAT:
        return f"a model file ({header.get('model')}, from `hdpmusic fit`)"
    return "a PyTorch file that is not an hdpmusic model"


def _audio_format(path: Path) -> str | None:
    """The audio format soundfile reads in ``path`` (or the suffix's), else None."""
    import soundfile

    try:
        return str(soundfile.info(str(path)).format)
    except Exception:  # not audio soundfile can read
        pass
    return path.suffix.lstrip(".").upper() if path.suffix.lower() in AUDIO_EXTENSIONS else None
