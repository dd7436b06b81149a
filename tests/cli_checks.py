"""Assertions and tiny inputs shared by the command-line tests."""

from pathlib import Path

import numpy as np

from hdpmusic import Corpus
from hdpmusic.cli import main

#: fit options of a model small enough to fit in well under a second
TINY = ["--n-components", "3", "--n-song-components", "2", "--batch-size", "6",
        "--epochs", "1"]


def tiny_fitted(root: Path) -> tuple[Path, Path]:
    """A six-song 2-d corpus in ``root`` and an HDPGMM fitted on it by the CLI."""
    rng = np.random.default_rng(0)
    corpus, model = root / "corpus.h5", root / "model.hdp"
    Corpus.from_arrays([rng.normal(size=(8, 2)) for _ in range(6)],
                       ids=[f"s{j}" for j in range(6)]).save(corpus)
    assert main(["-q", "fit", str(corpus), "--out", str(model), *TINY]) == 0
    return corpus, model


def one_line_error(capsys, *parts):
    """The captured stderr is one ``hdpmusic: error: ...`` line holding every part."""
    err = capsys.readouterr().err
    assert err.startswith("hdpmusic: error: ") and err.count("\n") == 1, err
    for part in parts:
        assert part in err, err
    return err
