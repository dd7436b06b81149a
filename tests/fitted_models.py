"""Tiny fitted models of every kind on generated songs (shared by the embed/HEAR tests)."""

from audio_gen import music, write
from hdpmusic import HDPGMM, Corpus
from hdpmusic.baselines.clmr import CLMR
from hdpmusic.baselines.g1 import G1
from hdpmusic.baselines.kim import KIM
from hdpmusic.baselines.vq import VQCodebook
from hdpmusic.cli import main


def songs_and_models(root, n_songs=6, seconds=1.5, kinds=("hdpgmm", "g1", "vq", "clmr")):
    """Write ``n_songs`` songs (float WAV, under ``root/songs/a`` and ``.../b``), extract
    them to ``root/corpus.h5`` with `hdpmusic extract`, and fit and save the models.

    Returns
    -------
    songs : pathlib.Path
    corpus : pathlib.Path
    models : dict, name -> model file
    """
    songs = root / "songs"
    for i in range(n_songs):
        write(songs / ("a" if i < n_songs // 2 else "b") / f"s{i}.wav",
              music(seconds, seed=i), subtype="FLOAT")
    corpus_path = root / "corpus.h5"
    assert main(["-q", "extract", str(songs), "--out", str(corpus_path), "--jobs", "1"]) == 0
    corpus = Corpus.open(corpus_path)
    paths = [str(songs / song) for song in corpus.ids]
    makers = {
        "hdpgmm": lambda: HDPGMM(6, 3, batch_size=6, max_epochs=1, init_samples=200,
                                 device="cpu", verbose=False).fit(corpus),
        "g1": lambda: G1(device="cpu").fit(corpus),
        "vq": lambda: VQCodebook(4, batch_size=64, max_epochs=1, device="cpu",
                                 verbose=False).fit(corpus),
        "clmr": lambda: CLMR(channels=(8, 8, 8, 8, 8, 16, 16), projection_dim=8, batch_size=2,
                             max_steps=1, num_workers=0, device="cpu",
                             verbose=False).fit(paths),
        "kim": lambda: KIM(n_mels=32, chunk_frames=32, channels=(8, 16, 32), hidden_dim=16,
                           head_dim=8, batch_size=2, max_steps=1, num_workers=0,
                           device="cpu", verbose=False).fit(paths),
    }
    models = {}
    for name in kinds:
        models[name] = root / f"{name}.ckpt"
        makers[name]().save(models[name])
    return songs, corpus_path, models
