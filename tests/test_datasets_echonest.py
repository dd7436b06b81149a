"""Echonest loader: triplets, song→track map, the Liang et al. filter, interactions, CLI."""

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from audio_gen import music, write, write_corrupt
from hdpmusic.cli import main
from hdpmusic.datasets.echonest import (
    frequency_filter,
    parse_track_map,
    parse_triplets,
    prepare_echonest,
)
from hdpmusic.datasets.msd import msd_audio_path
from hdpmusic.formats.taskdata import read_task
from hdpmusic.runtime.errors import FormatError, ParameterError


def song(k):
    return f"SOAAAAA{k:011d}"


def track(k):
    return f"TR{'ABCDEFG'[k]}{'HIJKLMN'[k]}X{k:013d}"


# user, song, count. With songs >= 2 users then users >= 2 songs (one round):
# S3 (1 user) goes, then U3 (1 song left) goes. S4 has no audio, S5 no track, S6 corrupt
# audio: U5 (S4, S5) is left with nothing and goes at the end.
TRIPLETS = [
    ("U1", 1, 3), ("U1", 2, 1), ("U1", 4, 2), ("U1", 1, 2), ("U1", 6, 1),
    ("U2", 1, 1), ("U2", 2, 5), ("U2", 6, 2),
    ("U3", 2, 2), ("U3", 3, 1),
    ("U4", 1, 1), ("U4", 4, 1), ("U4", 5, 1),
    ("U5", 4, 1), ("U5", 5, 3),
]
MAPPED = (1, 2, 3, 4, 6)  # S5 has no track


def naive_core(pairs, min_user, min_item):
    """Fixed point of the filter on a set of (user, item) pairs, by plain set logic."""
    pairs = set(pairs)
    while True:
        items = {}
        for u, i in pairs:
            items.setdefault(i, set()).add(u)
        pairs = {(u, i) for u, i in pairs if len(items[i]) >= min_item}
        users = {}
        for u, i in pairs:
            users.setdefault(u, set()).add(i)
        kept = {(u, i) for u, i in pairs if len(users[u]) >= min_user}
        if kept == pairs:
            return kept
        pairs = kept


def test_filter_hand_checked():
    # users u0..u4 × items i0..i3
    rows = {0: [0, 1, 2], 1: [0, 1], 2: [0, 3], 3: [1], 4: [2]}
    pairs = [(u, i) for u, items in rows.items() for i in items]
    matrix = sp.csr_matrix((np.ones(len(pairs)), tuple(np.array(pairs).T)), shape=(5, 4))
    one = frequency_filter(matrix, min_user_items=2, min_item_users=2, rounds=1)
    # round 1: i3 has 1 user -> out; then u2, u3, u4 have 1 item -> out
    assert one.user_mask.tolist() == [True, True, False, False, False]
    assert one.item_mask.tolist() == [True, True, True, False]
    assert one.history == [{"round": 1, "users": 2, "items": 3, "interactions": 5}]
    assert not one.converged
    fixed = frequency_filter(matrix, min_user_items=2, min_item_users=2, rounds=None)
    # round 2: i2 is left with u0 only -> out; round 3 changes nothing
    assert fixed.item_mask.tolist() == [True, True, False, False]
    assert fixed.user_mask.tolist() == [True, True, False, False, False]
    assert [h["interactions"] for h in fixed.history] == [5, 4, 4]
    assert fixed.converged
    assert frequency_filter(matrix, min_user_items=2, min_item_users=2,
                            rounds=0).history == fixed.history
    with pytest.raises(ParameterError):
        frequency_filter(matrix, rounds=-1)


@pytest.mark.parametrize("seed", range(5))
def test_filter_fixed_point_matches_set_logic(seed):
    rng = np.random.default_rng(seed)
    dense = rng.random((40, 30)) < 0.15
    matrix = sp.csr_matrix(dense * rng.integers(1, 9, size=dense.shape))
    result = frequency_filter(matrix, min_user_items=3, min_item_users=4, rounds=0)
    kept = {(u, i) for u, i in zip(*np.nonzero(dense), strict=True)
            if result.user_mask[u] and result.item_mask[i]}
    assert kept == naive_core(zip(*np.nonzero(dense), strict=True), 3, 4)
    sub = dense[result.user_mask][:, result.item_mask]
    assert (sub.sum(0) >= 4).all() and (sub.sum(1) >= 3).all()


def test_parse_triplets_sums_duplicates():
    lines = [f"{u}\t{song(s)}\t{c}" for u, s, c in TRIPLETS]
    data = parse_triplets(lines, "t.txt")
    assert data.users == ["U1", "U2", "U3", "U4", "U5"]
    assert data.items[:3] == [song(1), song(2), song(4)]
    assert data.matrix[0, 0] == 5 and data.matrix.nnz == len(TRIPLETS) - 1
    for sep in ",;":
        other = parse_triplets([f"{u}{sep}{song(s)}{sep}{c}" for u, s, c in TRIPLETS], "t.csv")
        assert other.items == data.items and (other.matrix != data.matrix).nnz == 0
    with pytest.raises(FormatError, match="line 2"):
        parse_triplets(["a\tb\t1", "a\tb"], "t.txt")


def test_parse_track_map_layouts():
    unique = [f"{track(1)}<SEP>{song(1)}<SEP>Artist<SEP>Title",
              f"{track(2)}<SEP>{song(1)}<SEP>Artist<SEP>Other take"]
    assert parse_track_map(unique, "u.txt") == {song(1): track(1)}  # first track wins
    assert parse_track_map([f"{song(2)}\t{track(2)}"], "m.tsv") == {song(2): track(2)}
    assert parse_track_map([f"{track(2)}\t{song(2)}"], "m.tsv") == {song(2): track(2)}
    assert parse_track_map(["s\tt"], "m.tsv") == {"s": "t"}
    with pytest.raises(FormatError, match="line 1"):
        parse_track_map(["only-one-column"], "m.tsv")


@pytest.fixture(scope="module")
def echonest(tmp_path_factory):
    """Triplets, unique_tracks.txt and 1-s clips in the MSD layout (.wav names)."""
    root = tmp_path_factory.mktemp("echonest")
    (root / "train_triplets.txt").write_text(
        "".join(f"{u}\t{song(s)}\t{c}\n" for u, s, c in TRIPLETS))
    (root / "unique_tracks.txt").write_text(
        "".join(f"{track(k)}<SEP>{song(k)}<SEP>Artist {k}<SEP>Title {k}\n" for k in MAPPED))
    audio = root / "audio"
    layout = "{id[2]}/{id[3]}/{id[4]}/{id}.wav"
    for k in (1, 2, 3):
        write(msd_audio_path(audio, track(k), layout), music(1.0, seed=k))
    write_corrupt(msd_audio_path(audio, track(6), layout))
    return root, audio, layout


def check_task(task):
    assert task.ids == task.itemlist == [track(1), track(2)]
    assert task.userlist == ["U1", "U2", "U4"]
    assert task.interaction.toarray().tolist() == [[5, 1], [1, 5], [1, 0]]


def test_prepare(echonest, tmp_path, caplog):
    root, audio, layout = echonest
    out = tmp_path / "echonest.h5"
    with caplog.at_level(logging.INFO):
        prepare_echonest(audio, out, triplets=root / "train_triplets.txt",
                         track_map=root / "unique_tracks.txt", layout=layout,
                         min_user_songs=2, min_song_users=2, progress=False)
    text = caplog.text
    assert "filter round 1" in text and "4 users, 5 songs, 12 interactions" in text
    assert song(5) in text and track(4) in text and track(6) in text
    assert "1 users have no interaction left" in text
    check_task(read_task(out))
    with pytest.raises(ParameterError, match="split"):
        prepare_echonest(audio, tmp_path / "x.h5", split="s.txt")


def test_cli(echonest, tmp_path, capsys):
    root, audio, layout = echonest
    out = tmp_path / "task.h5"
    argv = ["-q", "prepare", "echonest", "--root", str(audio), "--out", str(out),
            "--triplets", str(root / "train_triplets.txt"),
            "--track-map", str(root / "unique_tracks.txt"), "--layout", layout,
            "--min-user-songs", "2", "--min-song-users", "2", "--filter-rounds", "0",
            "--jobs", "1"]
    assert main(argv) == 0
    assert "3 users x 2 items, 5 interactions" in capsys.readouterr().out
    check_task(read_task(out))
    # a list of 'path<TAB>track' lines instead of the folder
    listing = tmp_path / "audio.txt"
    listing.write_text("".join(f"{msd_audio_path(audio, track(k), layout)}\t{track(k)}\n"
                               for k in (1, 2, 6)))
    argv[argv.index(str(audio))] = str(listing)
    argv[argv.index(str(out))] = str(tmp_path / "task2.h5")
    assert main(argv) == 0
    check_task(read_task(tmp_path / "task2.h5"))
