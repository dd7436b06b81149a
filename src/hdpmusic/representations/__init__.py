"""Song representations by model name: the registry of every model that turns songs into
vectors (HDPGMM and the baselines), how each is loaded, and what a file records of it.

Release 0.1 had the representation file format at this path: ``Representations`` is still
found here, with a DeprecationWarning, until the next release (it lives in
:mod:`hdpmusic.formats.representations`; ``hdpmusic.Representations`` is unchanged).
"""

from __future__ import annotations

import warnings
from typing import Any

from hdpmusic.formats import representations as _file_format


def __getattr__(name: str) -> Any:
    if name == "Representations":
        warnings.warn("hdpmusic.representations.Representations moved to "
                      "hdpmusic.formats.representations; the old path goes in the next "
                      "release", DeprecationWarning, stacklevel=2)
        return _file_format.Representations
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
