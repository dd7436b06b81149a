"""MagnaTagATune loader: annotations_final.csv, top-50 tags, split, dropped clips, CLI."""

import io
import logging

import numpy as np
import pytest
import scipy.sparse as sp
import soundfile as sf

from audio_gen import music, write
from hdpmusic.cli import main
from hdpmusic.datasets.mtat import (
    MTAT_TOP50,
    MtatAnnotations,
    folder_split,
    parse_annotations,
    prepare_mtat,
    select_tags,
)
from hdpmusic.formats.taskdata import read_task
from hdpmusic.runtime.errors import FormatError

EXTRA = ["jazz", "bass"]  # two tags outside the top 50, placed first to reorder columns
TAGS = [*EXTRA, *MTAT_TOP50]
# clip_id: (mp3_path, tags, has audio)
CLIPS = {
    2: ("0/a_clip-0-29.mp3", ["guitar", "classical"], True),
    6: ("0/b_clip-30-59.mp3", ["techno", "jazz"], True),
    10: ("c/c_clip-0-29.mp3", ["choral"], True),
    11: ("d/d_clip-0-29.mp3", ["bass"], True),
    12: ("f/missing-0-29.mp3", ["rock"], False),
    15: ("e/e_clip-0-29.mp3", ["piano"], True),
    20: ("", ["piano"], False),
}
SPLIT = "clip_id,split\n2,train\n6,train\n10,valid\n11,test\n12,test\n20,test\n999,test\n"


def mp3_works(tmp_path):
    """Whether this soundfile writes MP3 that it reads back (libsndfile >= 1.1)."""
    try:
        path = tmp_path / "probe.mp3"
        sf.write(path, music(0.5), 22050, format="MP3")
        return sf.info(path).frames > 0
    except Exception:
        return False


def annotations_text(paths):
    head = "\t".join(f'"{c}"' for c in ["clip_id", *TAGS, "mp3_path"])
    rows = [head]
    for clip, (_, tags, _) in CLIPS.items():
        values = ["1" if t in tags else "0" for t in TAGS]
        rows.append("\t".join(f'"{v}"' for v in [str(clip), *values, paths[clip]]))
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def mtat(tmp_path_factory):
    """MTAT layout: annotations_final.csv and mp3/<folder>/<name>.mp3 (1-s clips).

    Real MP3 content where soundfile can write it; otherwise WAV content under .wav names
    in the fake annotations (the loader takes the mp3_path column as given).
    """
    root = tmp_path_factory.mktemp("mtat")
    use_mp3 = mp3_works(root)
    paths = {c: (p if use_mp3 or not p else p[:-4] + ".wav") for c, (p, _, _) in CLIPS.items()}
    for k, (clip, (_, _, exists)) in enumerate(CLIPS.items()):
        if exists:
            write(root / "mp3" / paths[clip], music(1.0, seed=k),
                  **({"format": "MP3"} if use_mp3 else {}))
    (root / "annotations_final.csv").write_text(annotations_text(paths))
    return root


def test_parse_annotations(mtat):
    ann = parse_annotations(io.StringIO((mtat / "annotations_final.csv").read_text()), "a")
    assert ann.clip_ids == [str(c) for c in CLIPS] and ann.tags == TAGS
    assert ann.matrix.shape == (len(CLIPS), len(TAGS))
    assert [ann.tags[k] for k in ann.matrix[0].indices] == ["guitar", "classical"]
    with pytest.raises(FormatError, match="header"):
        parse_annotations(["id\tguitar\tpath"], "bad.csv")
    with pytest.raises(FormatError, match="line 2.*0 or 1"):
        parse_annotations(["clip_id\tguitar\tmp3_path", "1\t2\tx.mp3"], "bad.csv")


def test_select_tags():
    tags = ["a", "b", "c", "d"]
    matrix = sp.csr_matrix(np.array([[1, 0, 1, 1], [0, 0, 1, 1], [1, 0, 0, 1]]))
    ann = MtatAnnotations(["1", "2", "3"], tags, matrix, ["x", "y", "z"])
    assert select_tags(ann, "frequency", 2) == ["d", "a"]  # 3 > 2 = 2 (tie: file order)
    assert select_tags(ann, "frequency", 3) == ["d", "a", "c"]
    assert select_tags(ann, "all") == tags
    assert select_tags(ann, ["c", "a"]) == ["c", "a"]
    with pytest.raises(FormatError, match="guitar"):
        select_tags(ann, "top50")
    assert len(MTAT_TOP50) == len(set(MTAT_TOP50)) == 50


def test_folder_split():
    assert [folder_split(p) for p in ("0/x.mp3", "b/x.mp3", "c/x.mp3", "d/x.mp3",
                                      "f/x.mp3", "")] == [
        "train", "train", "valid", "test", "test", "bad"]


def test_prepare_with_split(mtat, tmp_path, caplog):
    split = tmp_path / "split.csv"
    split.write_text(SPLIT)
    out = tmp_path / "mtat.h5"
    with caplog.at_level(logging.WARNING):
        prepare_mtat(mtat, out, split=split, progress=False)
    assert "999" in caplog.text  # in the split, not in the annotations
    assert "not in the split" in caplog.text and "15" in caplog.text
    assert "without audio" in caplog.text and "12, 20" in caplog.text
    task = read_task(out)
    assert task.ids == ["2", "6", "10", "11"]
    assert list(task.split) == ["train", "train", "valid", "test"]
    assert task.tags == list(MTAT_TOP50)
    dense = task.annotations.toarray()
    assert dense.shape == (4, 50) and dense.sum() == 4
    for row, clip in enumerate(task.ids):
        positives = {task.tags[k] for k in np.flatnonzero(dense[row])}
        assert positives == set(CLIPS[int(clip)][1]) & set(MTAT_TOP50)


def test_prepare_folder_split_frequency_tags(mtat, tmp_path, caplog):
    out = tmp_path / "mtat.h5"
    with caplog.at_level(logging.WARNING):
        prepare_mtat(mtat, out, tags="frequency", n_tags=3, drop_untagged=True,
                     progress=False)
    assert "folder split" in caplog.text
    task = read_task(out)
    # frequencies over all clips: piano 2; then guitar, classical, ... 1 (file order)
    assert task.tags == ["piano", "jazz", "bass"]
    # clip 6 (jazz), 11 (bass), 15 (piano) have one of those tags; 12/20 have no audio
    assert task.ids == ["6", "11", "15"]
    assert list(task.split) == ["train", "test", "test"]


def test_cli(mtat, tmp_path, capsys):
    split = tmp_path / "split.tsv"
    split.write_text(SPLIT.replace(",", "\t"))
    out = tmp_path / "task.h5"
    assert main(["-q", "prepare", "mtat", "--root", str(mtat), "--split", str(split),
                 "--out", str(out), "--tags", "choral,guitar", "--jobs", "1"]) == 0
    assert "4 songs" in capsys.readouterr().out
    task = read_task(out)
    assert task.tags == ["choral", "guitar"]
    assert task.annotations.toarray().tolist() == [[0, 1], [0, 0], [1, 0], [0, 0]]
