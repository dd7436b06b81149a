"""GTZAN loader: layouts, split files (refusals), random split, task data, CLI."""

import logging

import numpy as np
import pytest

from audio_gen import music, write, write_corrupt
from hdpmusic.audio.extract import audio_paths
from hdpmusic.cli import main
from hdpmusic.datasets.base import parse_split_lines
from hdpmusic.datasets.gtzan import (
    find_gtzan_tracks,
    prepare_gtzan,
    read_gtzan_split,
    track_stem,
)
from hdpmusic.datasets.splits import stratified_split
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.taskdata import read_task
from hdpmusic.runtime.errors import DataError, FormatError

GENRES = {"blues": ".au", "jazz": ".wav", "rock": ".wav"}
IDS = [f"{g}/{g}.0000{k}" for g in GENRES for k in range(3)]
SPLIT = {0: "train", 1: "valid", 2: "test"}


@pytest.fixture(scope="module")
def gtzan(tmp_path_factory):
    """``root/genres/<genre>/<genre>.0000k.{au,wav}``: 3 genres × 3 one-second clips."""
    root = tmp_path_factory.mktemp("gtzan")
    for n, (genre, ext) in enumerate(GENRES.items()):
        for k in range(3):
            write(root / "genres" / genre / f"{genre}.0000{k}{ext}",
                  music(1.0, seed=10 * n + k), subtype="PCM_16")
    (root / "genres" / "blues" / "._blues.00000.au").write_bytes(b"resource fork")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("gtzan-cache")


def split_lines(skip=(), extra=()):
    lines = []
    for song_id in IDS:
        if song_id in skip:
            continue
        genre, stem = song_id.split("/")
        path = f"{genre}/{stem}{GENRES[genre]}" if genre != "rock" else stem
        lines.append(f"{path}\t{SPLIT[int(stem[-1])]}")
    return [*lines, *extra]


def test_find_tracks_layouts(gtzan, tmp_path):
    tracks = find_gtzan_tracks(gtzan)
    assert [t.id for t in tracks] == IDS
    assert tracks[0].genre == "blues" and tracks[0].path.suffix == ".au"
    assert tracks[0].stem == "blues.00000"
    # a root holding the genre folders directly gives the same tracks
    assert [t.id for t in find_gtzan_tracks(gtzan / "genres")] == IDS
    with pytest.raises(Exception, match="no GTZAN genre folders"):
        find_gtzan_tracks(tmp_path)


def test_track_stem():
    assert track_stem("blues/blues.00000.wav") == "blues.00000"
    assert track_stem("genres/jazz/jazz.00012.au") == "jazz.00012"
    assert track_stem("rock.00003") == "rock.00003"


def test_split_parsing_rules():
    lines = ["path\tsplit", "a.wav\ttrain", "b.au\tvalidation", "", "# note", "c\tTest",
             "d,bad"]
    assert parse_split_lines(lines, "s.tsv", key=track_stem) == {
        "a": "train", "b": "valid", "c": "test", "d": "bad"}
    with pytest.raises(FormatError, match="line 2"):
        parse_split_lines(["a\ttrain", "a.wav\ttest"], "s.tsv", key=track_stem)
    with pytest.raises(FormatError, match="line 1"):
        parse_split_lines(["a\ttrain\textra"], "s.tsv")
    with pytest.raises(FormatError, match="train, valid or test"):
        parse_split_lines(["a\tbad"], "s.tsv")


def test_stratified_split_is_seeded_and_stratified():
    labels = ["a"] * 40 + ["b"] * 20
    split = stratified_split(labels, (0.5, 0.25, 0.25), seed=3)
    assert np.array_equal(split, stratified_split(labels, (0.5, 0.25, 0.25), seed=3))
    assert not np.array_equal(split, stratified_split(labels, (0.5, 0.25, 0.25), seed=4))
    for label, n in (("a", 40), ("b", 20)):
        part = split[np.asarray(labels) == label]
        assert [(part == s).sum() for s in ("train", "valid", "test")] == [
            n // 2, n // 4, n // 4]


def test_prepare_with_split_file(gtzan, cache, tmp_path, caplog):
    split = tmp_path / "split.tsv"
    split.write_text("\n".join(split_lines(extra=["rock/rock.00099.wav\ttest"])) + "\n")
    out = tmp_path / "gtzan.h5"
    with caplog.at_level(logging.WARNING):
        assert prepare_gtzan(gtzan, out, split=split, cache=cache, progress=False) == out
    assert "rock.00099" in caplog.text  # a split line whose track is not on disk
    task = read_task(out)
    assert task.ids == IDS == Corpus.open(out).ids
    assert list(task.targets) == [i.split("/")[0] for i in IDS]
    assert list(task.split) == [SPLIT[int(i[-1])] for i in IDS]
    assert Corpus.open(out).attrs["dataset"] == "gtzan"
    # the corpus knows its audio (for KIM / CLMR): ids map back to the dataset's files
    expected = [str(gtzan / "genres" / f"{i}{GENRES[i.split('/')[0]]}") for i in IDS]
    assert audio_paths(Corpus.open(out)) == expected


def test_split_missing_tracks_is_refused(gtzan, cache, tmp_path):
    split = tmp_path / "split.tsv"
    split.write_text("\n".join(split_lines(skip={"jazz/jazz.00001", "rock/rock.00002"})))
    out = tmp_path / "gtzan.h5"
    with pytest.raises(DataError, match=r"2 of 9 tracks.*jazz/jazz\.00001.*rock/rock\.00002"):
        prepare_gtzan(gtzan, out, split=split, cache=cache, progress=False)
    assert not out.exists()


def test_filtered_lists_folder(gtzan, cache, tmp_path):
    lists = tmp_path / "GTZAN_split"
    lists.mkdir()
    (lists / "train_filtered.txt").write_text("blues/blues.00000.wav\njazz/jazz.00000.wav\n")
    (lists / "valid_filtered.txt").write_text("rock/rock.00000.wav\n")
    (lists / "test_filtered.txt").write_text("rock/rock.00001.wav\n")
    mapping, complete = read_gtzan_split(lists)
    assert not complete and mapping["rock.00001"] == "test"
    out = tmp_path / "gtzan.h5"
    prepare_gtzan(gtzan, out, split=lists, cache=cache, progress=False)
    split = dict(zip(read_task(out).ids, read_task(out).split, strict=True))
    assert split["blues/blues.00000"] == "train" and split["rock/rock.00001"] == "test"
    assert split["jazz/jazz.00002"] == "filtered"


def test_class_only_in_test_warns(gtzan, cache, tmp_path, caplog):
    split = tmp_path / "split.tsv"
    split.write_text("".join(f"{i}{GENRES[i.split('/')[0]]}\t"
                             f"{'test' if i.startswith('rock') else SPLIT[int(i[-1])]}\n"
                             for i in IDS))
    with caplog.at_level(logging.WARNING):
        prepare_gtzan(gtzan, tmp_path / "gtzan.h5", split=split, cache=cache, progress=False)
    assert "1 class(es) appear only in the test split" in caplog.text and "rock" in caplog.text


def test_random_split_warns(gtzan, cache, tmp_path, caplog):
    out = tmp_path / "gtzan.h5"
    with caplog.at_level(logging.WARNING):
        prepare_gtzan(gtzan, out, cache=cache, seed=1, progress=False)
    assert "NOT comparable" in caplog.text
    task = read_task(out)
    assert np.array_equal(task.split, stratified_split(task.targets, seed=1))
    for genre in GENRES:  # 3 per genre: one each
        assert sorted(task.split[task.targets == genre]) == ["test", "train", "valid"]


def test_failed_track_is_dropped_from_task(gtzan, tmp_path, caplog):
    root = tmp_path / "copy"
    for track in find_gtzan_tracks(gtzan)[:6]:
        dest = root / track.genre / track.path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(track.path.read_bytes())
    write_corrupt(root / "jazz" / "jazz.00054.wav")
    split = tmp_path / "split.tsv"
    split.write_text("\n".join([*split_lines()[:6], "jazz.00054\ttrain"]))
    out = tmp_path / "gtzan.h5"
    with caplog.at_level(logging.WARNING):
        prepare_gtzan(root, out, split=split, progress=False)
    assert "jazz/jazz.00054" in caplog.text
    task = read_task(out)
    assert task.ids == IDS[:6] and len(task.targets) == len(task.split) == 6


def test_cli_end_to_end(gtzan, cache, tmp_path, capsys):
    split = tmp_path / "split.tsv"
    split.write_text("\n".join(split_lines()))
    out = tmp_path / "task.h5"
    argv = ["-q", "prepare", "gtzan", "--root", str(gtzan), "--split", str(split),
            "--out", str(out), "--cache", str(cache), "--jobs", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "9 songs" in printed and "test 3" in printed and "3 classes" in printed
    assert read_task(out).ids == IDS
    assert main(argv) == 1  # exists without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(split_lines(skip={"blues/blues.00002"})))
    assert main(["-q", "prepare", "gtzan", "--root", str(gtzan), "--split", str(bad),
                 "--out", str(tmp_path / "x.h5")]) == 1
    assert "blues/blues.00002" in capsys.readouterr().err
