"""Extraction of a collection: failures, list files, refusals, cache, kill-and-resume."""

import fcntl
import json
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from audio_gen import (
    chord,
    clicks,
    noise,
    tone,
    write,
    write_chord,
    write_corrupt,
    write_silence,
    write_tone,
)
from hdpmusic.cli import main
from hdpmusic.corpus import Corpus
from hdpmusic.errors import HdpmusicError
from hdpmusic.extract import cache_path, extract_collection, find_tracks, source_key
from hdpmusic.features import FeatureConfig, extract_features
from processes import kill_when

GOOD = ["a/chord.flac", "a/tone.wav", "b/clicks.ogg", "b/quiet.au"]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    write(root / "a" / "tone.wav", tone(330.0))
    write(root / "a" / "chord.flac", chord())
    write(root / "b" / "clicks.ogg", clicks() + noise(amp=0.01))
    write(root / "b" / "quiet.au", 0.5 * tone(880.0), subtype="PCM_16")
    write_silence(root / "silent.wav")
    write_corrupt(root / "corrupt.mp3", b"ID3 but then nothing useful")
    (root / "notes.txt").write_text("not audio, not picked up")
    write_corrupt(root / "._tone.wav")  # macOS resource fork: hidden, skipped
    return root


def read_failures(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_directory_with_failures(collection, tmp_path, capsys):
    out = tmp_path / "corpus.h5"
    assert main(["-q", "extract", str(collection), "--out", str(out), "--jobs", "2"]) == 0
    summary = capsys.readouterr().out
    assert "4 tracks" in summary and "2 failed" in summary and "failures.jsonl" in summary
    corpus = Corpus.open(out)
    assert sorted(corpus.ids) == GOOD
    assert corpus.dim == 52 and corpus.attrs["columns"] == FeatureConfig().column_names
    assert FeatureConfig.from_dict(corpus.attrs["feature_config"]) == FeatureConfig()
    assert corpus.attrs["sr"] == 22050 and corpus.attrs["hop_length"] == 512
    with threadpool_limits(limits=1):  # as in the workers (BLAS rounding differs with threads)
        for song_id in GOOD:
            np.testing.assert_array_equal(corpus[corpus.ids.index(song_id)],
                                          extract_features(collection / song_id))
    failures = read_failures(tmp_path / "corpus.h5.cache" / "failures.jsonl")
    assert {f["id"]: f["path"] for f in failures} == {
        "silent.wav": str(collection / "silent.wav"),
        "corrupt.mp3": str(collection / "corrupt.mp3")}
    by_id = {f["id"]: f["error"] for f in failures}
    assert "silent" in by_id["silent.wav"] and "cannot decode" in by_id["corrupt.mp3"]


def test_list_file_relative_paths_ids_and_missing_file(collection, tmp_path):
    listing = collection / "tracks.tsv"
    listing.write_text("a/tone.wav\ttrack-1\n\n# a comment\n"
                       f"{collection}/b/clicks.ogg\ttrack-2\r\n"
                       "a/chord.flac\n"
                       "gone.wav\tmissing\n")
    try:
        report = extract_collection(listing, tmp_path / "c.h5", progress=False)
    finally:
        listing.unlink()
    assert Corpus.open(tmp_path / "c.h5").ids == ["track-1", "track-2", "a/chord.flac"]
    assert (report.n_ok, report.n_failed, report.failed_ids) == (3, 1, ["missing"])
    assert (report.n_computed, report.n_cached) == (3, 0)
    [failure] = read_failures(report.failures)
    assert failure["id"] == "missing" and "no such file" in failure["error"].lower()


def test_list_file_with_repeated_id_is_refused(tmp_path):
    listing = tmp_path / "tracks.txt"
    listing.write_text("x.wav\tsame\ny.wav\tsame\n")
    with pytest.raises(HdpmusicError, match="line 2: track id 'same' already used on line 1"):
        find_tracks(listing)


def test_single_audio_file(collection, tmp_path):
    report = extract_collection(collection / "a" / "tone.wav", tmp_path / "one.h5",
                                progress=False)
    assert report.n_ok == 1 and Corpus.open(tmp_path / "one.h5").ids == ["tone.wav"]
    assert report.failures.read_text() == ""


def test_refuses_existing_output_unless_overwrite(collection, tmp_path, capsys):
    out = tmp_path / "corpus.h5"
    out.write_bytes(b"keep me")
    assert main(["-q", "extract", str(collection / "a"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hdpmusic: error: ") and err.count("\n") == 1
    assert str(out) in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me" and not (tmp_path / "corpus.h5.cache").exists()
    assert main(["-q", "extract", str(collection / "a"), "--out", str(out),
                 "--overwrite"]) == 0
    assert sorted(Corpus.open(out).ids) == ["chord.flac", "tone.wav"]


def test_all_failed_is_an_error_and_writes_nothing(tmp_path, capsys):
    root = tmp_path / "bad"
    write_silence(root / "silent.wav")
    write_corrupt(root / "junk.wav", b"RIFF....")
    out = tmp_path / "corpus.h5"
    assert main(["-q", "extract", str(root), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "all 2 tracks failed" in err and "failures.jsonl" in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.glob(".corpus.h5*"))
    assert len(read_failures(tmp_path / "corpus.h5.cache" / "failures.jsonl")) == 2


def test_empty_directory_missing_source_and_bad_jobs(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no audio here")
    assert main(["extract", str(tmp_path / "empty"), "--out", str(tmp_path / "c.h5")]) == 1
    err = capsys.readouterr().err
    assert "no audio files found" in err and err.count("\n") == 1
    assert main(["extract", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c.h5")]) == 1
    assert "no such directory or list file" in capsys.readouterr().err
    assert main(["extract", str(tmp_path), "--out", str(tmp_path / "c.h5"), "--jobs", "0"]) == 1
    assert "--jobs 0" in capsys.readouterr().err
    assert not (tmp_path / "c.h5").exists()


def test_corrupt_cache_file_leaves_no_partial_corpus(collection, tmp_path, capsys):
    out, cache = tmp_path / "corpus.h5", tmp_path / "cache"
    extract_collection(collection / "a", out, cache=cache, progress=False)
    bad = cache_path(cache, "tone.wav", source_key(collection / "a" / "tone.wav"))
    bad.write_bytes(b"garbage")
    assert main(["-q", "extract", str(collection / "a"), "--out", str(tmp_path / "new.h5"),
                 "--cache", str(cache)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "delete it" in err
    assert not list(tmp_path.glob("*new.h5*"))


def test_cache_of_other_settings_or_in_use_is_refused(collection, tmp_path):
    cache = tmp_path / "cache"
    extract_collection(collection / "a", tmp_path / "c1.h5", cache=cache, progress=False)
    with pytest.raises(HdpmusicError, match="other settings"):
        extract_collection(collection / "a", tmp_path / "c2.h5", cache=cache,
                           config=FeatureConfig(n_mfcc=20), progress=False)
    with open(cache / ".lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(HdpmusicError, match="in use by another extraction"):
            extract_collection(collection / "a", tmp_path / "c3.h5", cache=cache,
                               progress=False)
    assert not (tmp_path / "c2.h5").exists() and not (tmp_path / "c3.h5").exists()
    report = extract_collection(collection / "a", tmp_path / "c4.h5", cache=cache,
                                progress=False)
    assert (report.n_cached, report.n_computed) == (2, 0)


def test_cache_paths_are_distinct_and_stay_inside(tmp_path):
    ids = ["a/b.wav", "a__b.wav", "a%2Fb.wav", "A/b.wav", "../../etc/x", ".hidden",
           "x" * 400, "x" * 399 + "y", "ünï cödé/ß.ogg"]
    paths = [cache_path(tmp_path, i, "123-456") for i in ids]
    assert len(set(paths)) == len(ids)
    for p in paths:
        assert p.parent.parent == tmp_path and p.suffix == ".npy"
        assert not p.name.startswith(".") and len(p.name.encode()) < 255


def test_kill_and_resume_redoes_no_finished_track(tmp_path, capsys):
    root = tmp_path / "many"
    n = 24
    for i in range(n):
        write_tone(root / f"t{i:02d}.wav", 110.0 * (1 + i % 7), seconds=6.0)
    write_chord(root / "sub" / "last.wav", seconds=6.0)
    n += 1
    out, cache = tmp_path / "corpus.h5", tmp_path / "cache"
    cmd = [sys.executable, "-m", "hdpmusic", "-q", "extract", str(root), "--out", str(out),
           "--cache", str(cache), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: len(list(cache.rglob("*.npy"))) >= 3)
    done = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.rglob("*.npy")}
    assert 3 <= len(done) < n, "the run should have been killed part-way"
    assert not out.exists()
    assert main(["-q", "extract", str(root), "--out", str(out), "--cache", str(cache)]) == 0
    summary = capsys.readouterr().out
    assert f"{n} tracks ({n - len(done)} computed, {len(done)} from the cache)" in summary
    for p, stamp in done.items():
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp, f"{p} was recomputed"
    assert len(list(cache.rglob("*.npy"))) == n
    assert not [p for p in cache.rglob("*") if ".tmp" in p.name]
    corpus = Corpus.open(out)
    assert len(corpus) == n and "sub/last.wav" in corpus.ids
    for song_id in ("t05.wav", "sub/last.wav"):
        np.testing.assert_array_equal(corpus[corpus.ids.index(song_id)],
                                      np.load(cache_path(cache, song_id,
                                                         source_key(root / song_id))))
    again = extract_collection(root, out, cache=cache, overwrite=True, progress=False)
    assert (again.n_ok, again.n_cached, again.n_computed) == (n, n, 0)


def test_dask_cluster_backend(collection, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    # OpenBLAS ignores thread limits set from a non-main thread, so a task cannot limit
    # its worker's BLAS; dask's nanny starts worker processes with OPENBLAS_NUM_THREADS=1
    # (``distributed.nanny.pre-spawn-environ``). This in-process worker shares the test
    # process's pools instead: give it the same single thread a real worker has.
    with threadpool_limits(limits=1), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                     dashboard_address=None) as cluster:
        out = tmp_path / "corpus.h5"
        assert main(["-q", "extract", str(collection), "--out", str(out), "--jobs", "-1",
                     "--dask-scheduler", cluster.scheduler_address]) == 0
    assert "4 tracks (4 computed, 0 from the cache), 2 failed" in capsys.readouterr().out
    corpus = Corpus.open(out)
    assert sorted(corpus.ids) == GOOD
    with threadpool_limits(limits=1):
        np.testing.assert_array_equal(corpus[corpus.ids.index("a/tone.wav")],
                                      extract_features(collection / "a" / "tone.wav"))
