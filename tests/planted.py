"""The planted corpora of the tests (see :func:`hdpmusic.datasets.synthetic.planted_hdp`)."""

from hdpmusic.datasets.synthetic import planted_hdp as planted_corpus

#: A small CPU fit of ``planted_hdp(seed=2, songs=150)`` to compare variants of the local
#: step against the default one (the eager fit converges after 10 of its 25 passes)
SMALL_FIT = dict(n_components=30, n_song_components=8, batch_size=50, max_epochs=25,
                 eta0=0.0, device="cpu", verbose=False)


def planted_hdp(seed=0, n_true=20, d=4, songs=300, per_song=3, frames=(40, 80), spread=10.0):
    """Songs that each mix ``per_song`` of ``n_true`` equally weighted Gaussians.

    Returns
    -------
    X : list of (n_j, d) float32 arrays
    Z : list of (n_j,) int arrays, the true component of every frame
    """
    c = planted_corpus(seed=seed, n_true=n_true, d=d, songs=songs,
                       per_song=(per_song, per_song + 1), frames=frames, spread=spread,
                       weight_decay=1.0)
    return c.songs, c.labels
