"""MSD loader: track lists, the MSD layout, subsampling, subsets, CLI."""

import logging

import numpy as np
import pytest

from audio_gen import music, write
from hdpmusic.cli import main
from hdpmusic.datasets.msd import (
    collect_msd_tracks,
    make_subsets,
    msd_audio_path,
    parse_subsets,
    prepare_msd,
    read_track_list,
    subsample_tracks,
    subset_paths,
)
from hdpmusic.formats.corpus import Corpus
from hdpmusic.runtime.errors import DataError, HdpmusicError, ParameterError

IDS = [f"TR{a}{b}{c}128F42{k:07d}" for k, (a, b, c) in enumerate(
    ["AAA", "AAB", "ABC", "BCD", "ZZZ", "QRS"])]


@pytest.fixture(scope="module")
def msd(tmp_path_factory):
    """Six 1-s tracks at <root>/<id[2]>/<id[3]>/<id[4]>/<id>.mp3 (WAV content when
    soundfile cannot write MP3: librosa reads by content, not by name)."""
    root = tmp_path_factory.mktemp("msd")
    for k, track in enumerate(IDS):
        path = msd_audio_path(root, track)
        try:
            write(path, music(1.0, seed=k), format="MP3")
        except Exception:
            write(path, music(1.0, seed=k), format="WAV")
    return root


def test_layout():
    assert msd_audio_path("/m", "TRABCDE128F42ABCDE").as_posix() == \
        "/m/A/B/C/TRABCDE128F42ABCDE.mp3"
    assert msd_audio_path("/m", "TRABCDE128F42ABCDE", "{id}.wav").as_posix() == \
        "/m/TRABCDE128F42ABCDE.wav"
    with pytest.raises(ParameterError, match="layout"):
        msd_audio_path("/m", "TRX", "{id[9]}/{id}.mp3")


def test_read_track_list(msd, tmp_path):
    other = write(tmp_path / "elsewhere" / "my song.wav", music(1.0))
    listing = tmp_path / "list.txt"
    listing.write_text(f"# ids and paths\n{IDS[0]}\n{IDS[1]}\n\n{other}\tcustom-id\n"
                       f"elsewhere/my song.wav\n")
    tracks = read_track_list(listing, msd)
    assert [t[0] for t in tracks] == [IDS[0], IDS[1], "custom-id", "my song"]
    assert tracks[0][1] == msd_audio_path(msd, IDS[0])
    assert tracks[3][1] == msd / "elsewhere" / "my song.wav"  # relative to the root
    with pytest.raises(HdpmusicError, match="needs the audio root"):
        read_track_list(listing, None)
    listing.write_text(f"{IDS[0]}\n{IDS[0]}\n")
    with pytest.raises(HdpmusicError, match="line 2"):
        read_track_list(listing, msd)


def test_collect_missing_and_subsample(msd, tmp_path, caplog):
    missing = "TRMISSING128F42ABCD"[:18]
    listing = tmp_path / "ids.txt"
    listing.write_text("\n".join([*IDS, missing]) + "\n")
    with caplog.at_level(logging.WARNING):
        tracks = collect_msd_tracks(msd, listing)
    assert missing in caplog.text and [t[0] for t in tracks] == IDS
    sub = subsample_tracks(tracks, 3, seed=7)
    assert sub == subsample_tracks(tracks, 3, seed=7) and len(sub) == 3
    assert [t for t in tracks if t in sub] == sub  # original order kept
    assert any(subsample_tracks(tracks, 3, seed=s) != sub for s in range(8, 20))
    # no list: every audio file under the root, id = stem
    assert [t[0] for t in collect_msd_tracks(msd)] == sorted(IDS)


def test_parse_subsets():
    """SIZExCOUNT, as `experiment sweep --subsets`; parsed to (count, size)."""
    assert parse_subsets("2000x5,20000x5") == [(5, 2000), (5, 20000)]
    assert parse_subsets(" 3X2 ") == [(2, 3)]
    for bad in ("5", "x3", "0x3", "2x", "ax3"):
        with pytest.raises(ParameterError, match="SIZExCOUNT"):
            parse_subsets(bad)
    # the old COUNTxSIZE order is caught, not read as 2000 subsets of 5 songs
    with pytest.raises(ParameterError, match="write 2000x5"):
        parse_subsets("5x2000")


def test_prepare_and_subsets(msd, tmp_path):
    out = tmp_path / "msd.h5"
    listing = tmp_path / "list.txt"
    prepare_msd(msd, out, subsample=5, seed=1, subsets=[(2, 3), (1, 4)], list_out=listing,
                progress=False)
    corpus = Corpus.open(out)
    assert len(corpus) == 5 and set(corpus.ids) <= set(IDS)
    assert [line.split("\t")[1] for line in listing.read_text().splitlines()] == corpus.ids
    paths = subset_paths(out, [(2, 3), (1, 4)])
    assert [p.name for p in paths] == ["msd_subset3_0.h5", "msd_subset3_1.h5",
                                       "msd_subset4_0.h5"]
    for path, size in zip(paths, (3, 3, 4), strict=True):
        sub = Corpus.open(path)
        assert len(sub) == size and set(sub.ids) <= set(corpus.ids)
        j = corpus.ids.index(sub.ids[0])
        assert np.array_equal(sub[0], corpus[j])
    first = [Corpus.open(p).ids for p in paths]
    with pytest.raises(HdpmusicError, match="exist"):
        make_subsets(out, [(2, 3), (1, 4)])
    make_subsets(out, [(2, 3), (1, 4)], seed=2022, overwrite=True)  # same seed, same sets
    assert [Corpus.open(p).ids for p in paths] == first
    with pytest.raises(DataError, match="fewer than the subset size"):
        make_subsets(out, [(1, 6)], overwrite=True)
    with pytest.raises(ParameterError, match="split"):
        prepare_msd(msd, tmp_path / "x.h5", split="s.txt")


def test_cli(msd, tmp_path, capsys):
    listing = tmp_path / "tracks.txt"
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(IDS[:4]) + "\n")
    assert main(["-q", "prepare", "msd", "--root", str(msd), "--list", str(ids),
                 "--write-list", str(listing)]) == 0
    assert "4 tracks" in capsys.readouterr().out
    out = tmp_path / "corpus.h5"
    assert main(["-q", "extract", str(listing), "--out", str(out), "--jobs", "1"]) == 0
    assert Corpus.open(out).ids == IDS[:4]
    out2 = tmp_path / "msd.h5"
    assert main(["-q", "prepare", "msd", "--root", str(msd), "--out", str(out2),
                 "--subsets", "2x2", "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "6 songs" in printed and "msd_subset2_1.h5: 2 songs" in printed
    assert main(["-q", "prepare", "msd", "--root", str(msd)]) == 1
    assert "--out" in capsys.readouterr().err
