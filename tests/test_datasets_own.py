"""A user's own collection: label folders, label tables with groups, tags, interactions."""

import numpy as np
import pytest

from audio_gen import music, write
from hdpmusic.cli import main
from hdpmusic.corpus import Corpus
from hdpmusic.datasets.own import find_folder_tracks, prepare_folder, read_label_table
from hdpmusic.datasets.splits import group_split
from hdpmusic.errors import DataError, FormatError, HdpmusicError
from hdpmusic.taskdata import read_task

LABELS = ("calm", "loud", "odd")
FORMATS = (".wav", ".flac", ".ogg")


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """``root/<label>/[sub/]clipK.<ext>``: 3 labels × 4 one-second clips in 3 formats."""
    root = tmp_path_factory.mktemp("own")
    for n, label in enumerate(LABELS):
        for k in range(4):
            sub = "live/" if k == 3 else ""
            write(root / "audio" / label / f"{sub}clip{k}{FORMATS[k % 3]}",
                  music(1.0, seed=10 * n + k))
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("own-cache")


def test_group_split_keeps_groups_whole_and_is_seeded():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"artist{a}" for a in range(40)], rng.integers(1, 6, 40))
    labels = [f"genre{int(g[6:]) % 4}" for g in groups]
    split = group_split(labels, groups, seed=1)
    for g in set(groups):
        assert len(set(split[groups == g])) == 1, g
    assert set(split) == {"train", "valid", "test"}
    assert (split == "train").mean() == pytest.approx(0.5, abs=0.15)
    for label in set(labels):   # every class in every part
        assert {"train", "valid", "test"} <= set(split[np.asarray(labels) == label])
    assert np.array_equal(split, group_split(labels, groups, seed=1))
    assert not np.array_equal(split, group_split(labels, groups, seed=2))
    with pytest.raises(DataError, match="at least 3"):
        group_split(["a", "b", "a"], ["x", "y", "x"])


def test_folder_tracks_any_format_any_depth(collection, tmp_path):
    tracks = find_folder_tracks(collection / "audio")
    assert len(tracks) == 12
    assert {t.path.suffix for t in tracks} == set(FORMATS)
    assert tracks[3].id == "calm/live/clip3.wav" and tracks[3].label == "calm"
    write(tmp_path / "loose.wav", music(1.0))
    with pytest.raises(DataError, match="loose.wav"):
        find_folder_tracks(tmp_path)


def test_prepare_folder(collection, cache, tmp_path):
    out = prepare_folder(collection / "audio", tmp_path / "task.h5", seed=3, cache=cache,
                         progress=False)
    task = read_task(out)
    assert task.kinds == ("genre",)
    assert len(Corpus.open(out)) == 12
    assert sorted(set(task.targets)) == list(LABELS)
    for label in LABELS:   # 4 songs: 2 train, 1 valid, 1 test per label
        parts = sorted(task.split[task.targets == label])
        assert parts == ["test", "train", "train", "valid"]


def write_table(collection, path, *, split=False, extra=""):
    rows = ["path,label,tags,group" + (",split" if split else "") + extra]
    for n, label in enumerate(LABELS):
        for k in range(4):
            sub = "live/" if k == 3 else ""
            tags = "piano;slow" if k % 2 else "drums"
            row = f"audio/{label}/{sub}clip{k}{FORMATS[k % 3]},{label},{tags},band{n}{k // 2}"
            rows.append(row + (f",{('train', 'valid', 'test', 'train')[k]}" if split else ""))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_table_with_groups_tags_and_interactions(collection, cache, tmp_path, capsys):
    table = write_table(collection, collection / "labels.csv")
    plays = tmp_path / "plays.csv"
    plays.write_text("user,item,count\n"
                     "u1,audio/calm/clip0.wav,3\nu1,audio/loud/clip1.flac,1\n"
                     "u2,audio/odd/clip2.ogg,2\nu2,audio/calm/clip0.wav,1\n"
                     "u3,not/a/song.wav,5\n")
    out = tmp_path / "task.h5"
    assert main(["-q", "prepare", "table", "--labels", str(table), "--interactions",
                 str(plays), "--out", str(out), "--cache", str(cache), "--seed", "5"]) == 0
    assert "12 songs" in capsys.readouterr().out
    task = read_task(out)
    assert task.kinds == ("genre", "tagging", "recommendation")
    assert task.tags == ["drums", "piano", "slow"]
    assert task.annotations.sum() == 18
    groups = {t.id: t.group for t in read_label_table(table)}
    for g in set(groups.values()):   # no group straddles splits
        assert len({s for i, s in zip(task.ids, task.split, strict=True)
                    if groups[i] == g}) == 1
    assert set(task.split) == {"train", "valid", "test"}
    assert [groups[i] for i in task.ids] == task.groups.tolist()   # stored for the evaluation
    assert task.userlist == ["u1", "u2"] and task.interaction.nnz == 4
    assert task.interaction[0, task.ids.index("audio/calm/clip0.wav")] == 3


def test_table_with_split_column_keeps_it(collection, cache, tmp_path, caplog):
    table = write_table(collection, collection / "split.csv", split=True)
    out = tmp_path / "task.h5"
    with caplog.at_level("WARNING"):
        assert main(["-q", "prepare", "table", "--labels", str(table), "--out", str(out),
                     "--cache", str(cache)]) == 0
    task = read_task(out)
    assert list(task.split[:4]) == ["train", "valid", "test", "train"]
    # 3 test songs, one per label: prepare says so and names the fix
    assert "only 3 test songs (fewer than 30)" in caplog.text
    assert "evaluate with --cv K" in caplog.text


def test_table_refusals(collection, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,genre\na.wav,x\n")
    with pytest.raises(FormatError, match="'path' column"):
        read_label_table(bad)
    bad.write_text("path,label\nnothere.wav,x\n")
    with pytest.raises(HdpmusicError, match="nothere.wav"):
        read_label_table(bad)
    bad.write_text("path,label\naudio/calm/clip0.wav,x\naudio/calm/clip0.wav,y\n")
    with pytest.raises(FormatError, match="line 3"):
        read_label_table(bad, audio_root=collection)
    assert main(["-q", "prepare", "table", "--labels", str(bad), "--out",
                 str(tmp_path / "x.h5")]) == 1
    assert not (tmp_path / "x.h5").exists()
