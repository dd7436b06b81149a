"""Extraction of a collection: failures, list files, refusals, kill-and-resume."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from audio_gen import chord, clicks, noise, tone, write
from hdpmusic import Corpus
from hdpmusic.cli import main
from hdpmusic.errors import HdpmusicError
from hdpmusic.extract import cache_path, extract_collection, find_tracks
from hdpmusic.features import extract_features


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    write(root / "a" / "tone.wav", tone(330.0))
    write(root / "a" / "chord.flac", chord())
    write(root / "b" / "clicks.ogg", clicks() + noise(amp=0.01))
    write(root / "b" / "quiet.au", 0.5 * tone(880.0), subtype="PCM_16")
    write(root / "silent.wav", np.zeros(22050, np.float32))
    (root / "corrupt.mp3").write_bytes(b"ID3 but then nothing useful")
    (root / "notes.txt").write_text("not audio, not picked up")
    return root


def test_directory_with_failures(collection, tmp_path, capsys):
    out = tmp_path / "corpus.h5"
    assert main(["-q", "extract", str(collection), "--out", str(out), "--jobs", "2"]) == 0
    assert "2 failed" in capsys.readouterr().out
    corpus = Corpus.open(out)
    assert sorted(corpus.ids) == ["a/chord.flac", "a/tone.wav", "b/clicks.ogg", "b/quiet.au"]
    assert corpus.dim == 52 and corpus.attrs["columns"][39] == "log_onset"
    assert corpus.attrs["feature_config"]["hop_length"] == 512
    j = corpus.ids.index("a/tone.wav")
    np.testing.assert_allclose(corpus[j], extract_features(collection / "a" / "tone.wav"),
                               rtol=1e-4, atol=1e-4)  # workers run BLAS single-threaded
    failures = [json.loads(line) for line in
                (tmp_path / "corpus.h5.cache" / "failures.jsonl").read_text().splitlines()]
    assert {f["id"] for f in failures} == {"silent.wav", "corrupt.mp3"}
    assert all(f["error"] for f in failures)


def test_list_file_with_ids(collection, tmp_path):
    listing = tmp_path / "tracks.tsv"
    listing.write_text(f"{collection}/a/tone.wav\ttrack-1\n\n# comment\n"
                       f"{collection}/b/clicks.ogg\ttrack-2\n")
    report = extract_collection(listing, tmp_path / "c.h5", progress=False)
    assert Corpus.open(tmp_path / "c.h5").ids == ["track-1", "track-2"]
    assert report.n_ok == 2 and report.n_failed == 0 and report.failures is None
    assert [t[0] for t in find_tracks(listing)] == ["track-1", "track-2"]


def test_single_audio_file(collection, tmp_path):
    report = extract_collection(collection / "a" / "tone.wav", tmp_path / "one.h5",
                                progress=False)
    assert report.n_ok == 1 and Corpus.open(tmp_path / "one.h5").ids == ["tone.wav"]


def test_refuses_existing_output_and_leaves_it(collection, tmp_path, capsys):
    out = tmp_path / "corpus.h5"
    out.write_bytes(b"keep me")
    assert main(["extract", str(collection), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and err.count("\n") == 1
    assert out.read_bytes() == b"keep me"


def test_all_failed_is_an_error_and_writes_nothing(tmp_path, capsys):
    root = tmp_path / "bad"
    write(root / "silent.wav", np.zeros(4096, np.float32))
    (root / "junk.wav").write_bytes(b"RIFF....")
    out = tmp_path / "corpus.h5"
    assert main(["-q", "extract", str(root), "--out", str(out)]) == 1
    assert "all 2 tracks failed" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".corpus.h5*"))


def test_empty_directory_and_missing_source(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["extract", str(tmp_path / "empty"), "--out", str(tmp_path / "c.h5")]) == 1
    assert "no audio files" in capsys.readouterr().err
    with pytest.raises(HdpmusicError, match="no such"):
        extract_collection(tmp_path / "nowhere", tmp_path / "c.h5")


def test_kill_and_resume_redoes_no_finished_track(tmp_path):
    root = tmp_path / "many"
    for i in range(24):
        write(root / f"t{i:02d}.wav", tone(110.0 * (1 + i % 7), seconds=6.0, harmonics=3))
    out, cache = tmp_path / "corpus.h5", tmp_path / "cache"
    cmd = [sys.executable, "-m", "hdpmusic", "-q", "extract", str(root), "--out", str(out),
           "--cache", str(cache), "--jobs", "1"]
    proc = subprocess.Popen(cmd)
    deadline = time.time() + 120
    while len(list(cache.rglob("*.npy"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.rglob("*.npy")}
    assert 3 <= len(done) < 24, "the run should have been killed part-way"
    assert not out.exists()
    report = extract_collection(root, out, cache=cache, progress=False)
    assert report.n_cached >= len(done) and report.n_ok == 24
    for p, stamp in done.items():
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp, f"{p} was recomputed"
    assert not list(cache.rglob("*.tmp"))
    corpus = Corpus.open(out)
    np.testing.assert_array_equal(corpus[corpus.ids.index("t05.wav")],
                                  np.load(cache_path(cache, "t05.wav")))
