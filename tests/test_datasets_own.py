"""A user's own collection: label folders, label tables with groups, tags, interactions."""

import re

import numpy as np
import pytest

from audio_gen import music, write
from hdpmusic.cli import main
from hdpmusic.datasets.own import (
    find_folder_tracks,
    prepare_folder,
    read_interactions,
    read_label_table,
)
from hdpmusic.datasets.splits import group_split
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.taskdata import read_task
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError

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


def planted_collection():
    """Classes whose groups differ a lot in size (a track cut into 1-12 excerpts), and
    two artists heard in two classes → (labels, groups), each of shape (n,)."""
    sizes = {"few_large": [12, 11, 10, 3, 2, 1], "equal": [6] * 6, "three": [9, 2, 1],
             "many_small": [1, 2, 3] * 15, "mixed": [12, 8, 5, 4, 3, 2, 2, 1, 1, 1],
             "two": [4, 3]}
    labels, groups = [], []
    for label, counts in sizes.items():
        for k, n in enumerate(counts):
            labels += [label] * n
            groups += [f"{label}/{k}"] * n
    labels += ["equal"] * 3 + ["mixed"] * 2 + ["three"] * 2 + ["mixed"] * 2
    groups += ["crossover"] * 5 + ["duo"] * 4
    return np.asarray(labels, dtype=object), np.asarray(groups, dtype=object)


@pytest.mark.parametrize("fractions", [(0.5, 0.25, 0.25), (0.7, 0.1, 0.2)])
def test_group_split_meets_the_fractions_per_class_for_every_seed(fractions):
    labels, groups = planted_collection()
    shares = np.asarray(fractions) / sum(fractions)
    drawn = set()
    for seed in range(20):
        split = group_split(labels, groups, fractions, seed=seed)
        drawn.add(tuple(split))
        for g in set(groups):   # no group straddles parts
            assert len(set(split[groups == g])) == 1, (seed, g)
        for label in set(labels):
            members = labels == label
            n_groups = len(set(groups[members]))
            largest = max(np.sum(members & (groups == g)) for g in set(groups[members]))
            for part, share in zip(("train", "valid", "test"), shares, strict=True):
                n = int(np.sum(split[members] == part))
                # within the class's largest group of its share of the class
                assert abs(n - share * members.sum()) <= largest, (seed, label, part, n)
                if n_groups >= 3:   # every class with 3 groups or more is in each part
                    assert n > 0, (seed, label, part)
    assert len(drawn) == 20   # the seed changes the split


def test_group_split_does_not_favour_a_part_across_seeds():
    """Six equal groups of a class: train gets its three, the other parts share three,
    each part getting the odd group in turn as the seed changes."""
    labels = ["a"] * 36 + ["b"] * 60
    groups = [f"a{k // 6}" for k in range(36)] + [f"b{k // 2}" for k in range(60)]
    counts = {tuple(np.sum((np.asarray(labels) == "a") & (split == part))
                    for part in ("train", "valid", "test"))
              for split in (group_split(labels, groups, seed=s) for s in range(20))}
    assert counts == {(18, 12, 6), (18, 6, 12)}


def test_group_split_leaves_no_part_empty_with_one_group_per_class():
    split = group_split(["a", "a", "b", "c"], ["x", "x", "y", "z"], seed=4)
    assert sorted(set(split)) == ["test", "train", "valid"]


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


def test_prepare_overwrite_keeps_the_cache_and_recompute_renews_it(collection, tmp_path):
    """--overwrite replaces --out only; --recompute computes every track again."""
    cache = tmp_path / "cache"
    argv = ["-q", "prepare", "folder", "--root", str(collection / "audio"), "--out",
            str(tmp_path / "task.h5"), "--cache", str(cache), "--jobs", "1"]

    def stamps():
        return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.rglob("*.npy")}

    assert main(argv) == 0
    made = stamps()
    assert len(made) == 12
    assert main([*argv, "--overwrite"]) == 0
    assert stamps() == made
    assert main([*argv, "--overwrite", "--recompute"]) == 0
    again = stamps()
    assert again.keys() == made.keys() and all(again[p] != made[p] for p in made)
    assert len(Corpus.open(tmp_path / "task.h5")) == 12


def write_table(collection, path, *, split=False, extra="", parts=None):
    """The label table of ``collection``; with ``split``, clips 0-3 of a label in
    train, valid, test, train, or in ``parts[label]`` where given."""
    rows = ["path,label,tags,group" + (",split" if split else "") + extra]
    for n, label in enumerate(LABELS):
        order = (parts or {}).get(label, ("train", "valid", "test", "train"))
        for k in range(4):
            sub = "live/" if k == 3 else ""
            tags = "piano;slow" if k % 2 else "drums"
            row = f"audio/{label}/{sub}clip{k}{FORMATS[k % 3]},{label},{tags},band{n}{k // 2}"
            rows.append(row + (f",{order[k]}" if split else ""))
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
                 str(plays), "--out", str(out), "--cache", str(cache), "--seed", "5",
                 "--jobs", "1"]) == 0
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
                     "--cache", str(cache), "--jobs", "1"]) == 0
    task = read_task(out)
    assert list(task.split[:4]) == ["train", "valid", "test", "train"]
    # 3 test songs, one per label: prepare says so and names the fix
    assert "only 3 test songs (fewer than 30)" in caplog.text
    assert "evaluate with --cv K" in caplog.text


def test_prepare_warns_of_classes_missing_from_train_or_valid(collection, cache, tmp_path,
                                                              caplog):
    table = write_table(collection, collection / "gaps.csv", split=True,
                        parts={"loud": ("valid", "valid", "test", "test"),
                               "odd": ("train", "test", "test", "train")})
    with caplog.at_level("WARNING"):
        assert main(["-q", "prepare", "table", "--labels", str(table), "--out",
                     str(tmp_path / "task.h5"), "--cache", str(cache), "--jobs", "1"]) == 0
    assert "1 class(es) have test songs but none in train" in caplog.text
    assert "(only the final refit on train + valid does): loud" in caplog.text
    assert "1 class(es) have no valid songs, so the validation search over C cannot " \
           "score them: odd" in caplog.text


def test_a_semicolon_table_reads_as_the_comma_one(collection, tmp_path):
    """Spreadsheet programs in locales with a decimal comma save CSV with ``;``; a cell
    holding ``;`` (the tags) is then quoted, as they do. Interactions likewise."""
    commas = write_table(collection, tmp_path / "commas.csv", split=True)
    rows = [line.split(",") for line in commas.read_text().splitlines()]
    semis = tmp_path / "semis.csv"
    semis.write_text("\n".join(";".join(f'"{c}"' if ";" in c else c for c in row)
                               for row in rows) + "\n")
    assert semis.read_text().startswith("path;label;tags;group;split\n")
    want = read_label_table(commas, audio_root=collection)
    assert read_label_table(semis, audio_root=collection) == want
    assert {t.tags for t in want} == {("piano", "slow"), ("drums",)}
    plays = tmp_path / "plays.csv"
    plays.write_text("user;item;count\nu1;a;3\nu2;a;1\nu2;b;2\n")     # header skipped
    read = read_interactions(plays)
    assert read.users == ["u1", "u2"] and read.items == ["a", "b"]
    assert read.matrix.toarray().tolist() == [[3, 0], [1, 2]]


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


def test_prepare_says_its_closing_line_once(collection, cache, tmp_path, capsys, caplog):
    table = write_table(collection, collection / "labels.csv")
    with caplog.at_level("INFO"):
        assert main(["prepare", "table", "--labels", str(table), "--out",
                     str(tmp_path / "task.h5"), "--cache", str(cache), "--seed", "5",
                     "--jobs", "1"]) == 0
    said = capsys.readouterr().out + caplog.text
    assert said.count("12 songs; split") == 1
    assert said.count("split train") == 1        # the split is summed up once, at the end
    assert re.search(r"12 songs; split train \d+, valid \d+, test \d+; 3 classes", said)


def test_prepared_corpora_find_their_audio_without_the_feature_cache(collection, cache,
                                                                     tmp_path):
    """prepare folder and table record where the audio is in the corpus itself: the
    corpus used to point at a track list inside the feature cache, so deleting the cache
    lost the report's audio although the music was untouched (issue 18, item 9). The
    table gives its own ids, which are no paths."""
    import shutil
    from pathlib import Path

    from hdpmusic.audio.extract import audio_paths

    table = tmp_path / "ids.csv"
    rows = ["path,label,id"] + [f"audio/{t.id},{t.label},song{n}"
                                for n, t in enumerate(find_folder_tracks(collection / "audio"))]
    table.write_text("\n".join(rows) + "\n")
    verbs = {"folder": ["prepare", "folder", "--root", str(collection / "audio")],
             "table": ["prepare", "table", "--labels", str(table), "--root", str(collection)]}
    files = sorted(str(p.resolve()) for p in (collection / "audio").rglob("clip*"))
    for name, verb in verbs.items():
        out, features = tmp_path / f"{name}.h5", tmp_path / f"{name}.cache"
        shutil.copytree(cache, features, dirs_exist_ok=True)     # (features computed once)
        assert main(["-q", *verb, "--out", str(out), "--cache", str(features),
                     "--jobs", "1"]) == 0
        root = Path(Corpus.open(out).attrs["audio_root"])
        assert root.is_dir() and features.resolve() not in [root, *root.parents], root
        shutil.rmtree(features)
        corpus = Corpus.open(out)
        assert sorted(audio_paths(corpus)) == files, name
        if name == "table":
            assert corpus.ids[0] == "song0" and audio_paths(corpus)[0] == files[0]
    # the report plays the components' audio, with no cache left
    model = tmp_path / "m.hdp"
    assert main(["-q", "fit", str(tmp_path / "folder.h5"), "--out", str(model),
                 "--n-components", "3", "--n-song-components", "2", "--batch-size", "6",
                 "--epochs", "1"]) == 0
    for name in verbs:
        assert main(["-q", "report", "--models", str(model), "--components-corpus",
                     str(tmp_path / f"{name}.h5"), "--top-components", "1", "--out",
                     str(tmp_path / f"report-{name}")]) == 0
        page = (tmp_path / f"report-{name}" / "report.html").read_text()
        assert "<audio" in page and "No audio excerpts" not in page, name
