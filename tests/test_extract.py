"""Extraction of a collection: failures, list files, refusals, cache, kill-and-resume."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

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
    write_music,
    write_silence,
    write_tone,
)
from hdpmusic.audio import extract as extract_module
from hdpmusic.audio.extract import (
    cache_path,
    extract_collection,
    find_tracks,
    source_key,
)
from hdpmusic.audio.features import FeatureConfig, extract_features, warm_up, warm_up_lock
from hdpmusic.audio.provenance import library_versions
from hdpmusic.cli import main
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.locking import exclusive_lock, output_lock
from hdpmusic.runtime.errors import HdpmusicError
from hdpmusic.runtime.threads import worker_count
from processes import dead_pid, descendants, kill_when, wait_gone

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
                 "--overwrite", "--jobs", "1"]) == 0
    assert sorted(Corpus.open(out).ids) == ["chord.flac", "tone.wav"]


def test_all_failed_is_an_error_and_writes_nothing(tmp_path, capsys):
    root = tmp_path / "bad"
    write_silence(root / "silent.wav")
    write_corrupt(root / "junk.wav", b"RIFF....")
    out = tmp_path / "corpus.h5"
    assert main(["-q", "extract", str(root), "--out", str(out), "--jobs", "1"]) == 1
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
    assert not (tmp_path / "c.h5").exists()


@pytest.mark.parametrize("verb", [["extract", "audio", "--out", "c.h5"],
                                  ["embed", "model.npz", "audio", "--out", "r.h5"],
                                  ["prepare", "gtzan", "--root", "r", "--out", "t.h5"],
                                  ["demo"]])
@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_every_verb_refuses_bad_jobs_before_any_work(verb, jobs, capsys):
    with pytest.raises(SystemExit) as done:
        main([*verb, "--jobs", jobs])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert (f"argument --jobs: expected a whole number >= 1, or -1 (one per CPU this "
            f"process may use), got '{jobs}'") in err


def test_workers_are_capped_by_cpus_and_tracks(tmp_path, monkeypatch):
    """--jobs 50 on 3 tracks with 2 CPUs granted starts 2 workers, not 50."""
    import joblib

    started = []

    class Recording(joblib.Parallel):
        def __init__(self, n_jobs=None, **kwargs):
            started.append(n_jobs)
            super().__init__(n_jobs=n_jobs, **kwargs)

    monkeypatch.setattr(joblib, "Parallel", Recording)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for i in range(3):
        write_tone(tmp_path / "audio" / f"t{i}.wav", 220.0 * (i + 1), seconds=0.5)
    report = extract_collection(tmp_path / "audio", tmp_path / "c.h5", jobs=50,
                                progress=False)
    assert report.n_ok == 3 and started == [2]
    with pytest.raises(HdpmusicError, match="jobs=-2"):
        extract_collection(tmp_path / "audio", tmp_path / "d.h5", jobs=-2, progress=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert (worker_count(100000, 4), worker_count(-1, 0), worker_count(3, 10)) == (4, 1, 3)


def test_corrupt_cache_file_leaves_no_partial_corpus(collection, tmp_path, capsys):
    out, cache = tmp_path / "corpus.h5", tmp_path / "cache"
    extract_collection(collection / "a", out, cache=cache, progress=False)
    bad = cache_path(cache, "tone.wav", source_key(collection / "a" / "tone.wav"))
    bad.write_bytes(b"garbage")
    assert main(["-q", "extract", str(collection / "a"), "--out", str(tmp_path / "new.h5"),
                 "--cache", str(cache), "--jobs", "1"]) == 1
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
    assert main(["-q", "extract", str(root), "--out", str(out), "--cache", str(cache),
                 "--jobs", "1"]) == 0
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
    # every track the killed run finished keeps its record (but one killed between
    # writing its features and its record's line)
    record = {row["tracks"]: row["libraries"] for row in
              Corpus.open(out).attrs["feature_libraries"]}
    assert sum(record) == n and max(record) >= n - 1
    assert record[max(record)] == library_versions()


def test_the_corpus_counts_its_tracks_per_set_of_library_versions(collection, tmp_path,
                                                                  monkeypatch, capsys,
                                                                  caplog):
    """Each track is recorded with the versions of the process that computed it; a later
    run with other versions adds its own tracks, the corpus counts both and the run warns
    of the mix, naming the libraries that differ."""
    cache, out = tmp_path / "cache", tmp_path / "corpus.h5"
    older = {**library_versions(), "librosa": "0.10.1", "numpy": "1.26.4"}

    def listing(names):
        path = tmp_path / f"{len(names)}.tsv"
        path.write_text("".join(f"{collection / name}\t{name}\n" for name in names))
        return path

    with monkeypatch.context() as patch:
        patch.setattr(extract_module, "library_versions", lambda: older)
        extract_collection(listing(GOOD[:2]), tmp_path / "a.h5", cache=cache, progress=False)
    assert Corpus.open(tmp_path / "a.h5").attrs["feature_libraries"] == [
        {"tracks": 2, "libraries": older}]
    assert "sets of library versions" not in caplog.text
    report = extract_collection(listing(GOOD), out, cache=cache, progress=False, jobs=2)
    assert (report.n_cached, report.n_computed) == (2, 2)
    [warning] = [r.getMessage() for r in caplog.records if "sets of library" in r.getMessage()]
    assert "computed with 2 sets" in warning and "--recompute" in warning
    assert "differ in librosa, numpy;" in warning
    record = Corpus.open(out).attrs["feature_libraries"]
    assert record == [{"tracks": 2, "libraries": older},
                      {"tracks": 2, "libraries": library_versions()}] or \
        record == [{"tracks": 2, "libraries": library_versions()},
                   {"tracks": 2, "libraries": older}]
    assert main(["corpus", "info", str(out)]) == 0
    shown = capsys.readouterr().out
    for versions in (library_versions(), older):
        assert "2 tracks: " + ", ".join(f"{k} {v}" for k, v in versions.items()) in shown


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


def _job_dying_on(song_id, path, target, config, recompute, timeout, where="here"):
    """Stands for ``hdpmusic.audio.extract._job`` in a worker: the worker kills itself (SIGKILL)
    on ``crash*`` files, and on ``flaky*`` files the first time only."""
    marker = path.with_suffix(".died")
    if path.stem.startswith("crash") or (path.stem.startswith("flaky") and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return REAL_JOB(song_id, path, target, config, recompute, timeout, where)


@pytest.mark.parametrize("bad, failed", [("crash.wav", ["crash.wav"]), ("flaky.wav", [])])
def test_a_worker_killed_on_a_track_does_not_end_the_run(tmp_path, monkeypatch, bad, failed):
    """A track whose worker dies is retried once, alone, in a fresh worker; if that one
    dies too, the track is listed as failed; the other tracks are done either way."""
    root = tmp_path / "audio"
    good = [f"t{i}.wav" for i in range(4)]
    for i, name in enumerate(good):
        write_tone(root / name, 110.0 * (i + 2))
    write_tone(root / bad, 300.0, seconds=3.0)
    monkeypatch.setattr(extract_module, "_job", _job_dying_on)
    report = extract_collection(root, tmp_path / "c.h5", jobs=2, progress=False)
    assert report.failed_ids == failed
    assert (report.n_computed, report.n_cached) == (5 - len(failed), 0)
    assert sorted(Corpus.open(tmp_path / "c.h5").ids) == sorted(
        good + ([] if failed else [bad]))
    failures = read_failures(report.failures)
    assert [f["path"] for f in failures] == [str(root / name) for name in failed]
    for failure in failures:
        assert "worker process extracting it died twice" in failure["error"]
        assert "SIGKILL" in failure["error"]


@pytest.mark.slow
def test_two_workers_on_an_empty_numba_cache(tmp_path):
    """librosa's numba functions are compiled once, before the workers start.

    Workers compiling them at once corrupted numba's disk cache (a SIGSEGV then, or in a
    later run): with NUMBA_DEBUG_CACHE numba prints every cache entry it writes, and each
    must be written once. Run twice, each time on a new empty cache.
    """
    root = tmp_path / "audio"
    for i in range(4):
        write(root / f"m{i}.wav", chord((110.0 * (i + 2), 165.0 * (i + 2))) + clicks())
    for run in range(2):
        numba_cache = tmp_path / f"numba{run}"
        numba_cache.mkdir()
        out = tmp_path / f"c{run}.h5"
        env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache), "NUMBA_DEBUG_CACHE": "1"}
        done = subprocess.run([sys.executable, "-m", "hdpmusic", "-q", "extract", str(root),
                               "--out", str(out), "--cache", str(tmp_path / f"cache{run}"),
                               "--jobs", "2"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "4 tracks (4 computed, 0 from the cache)" in done.stdout
        saved = [line for line in done.stdout.splitlines() if "data saved to" in line]
        assert saved and all(str(numba_cache) in line for line in saved)
        assert len(saved) == len(set(saved)), "a numba cache entry was written twice"


@pytest.mark.slow
def test_two_runs_at_once_on_an_empty_numba_cache(tmp_path):
    """Two extractions started together take turns to compile librosa's numba functions:
    every cache entry is written once, by one of them; the other loads it."""
    root = tmp_path / "audio"
    write(root / "m.wav", chord((220.0, 330.0)) + clicks())
    numba_cache = tmp_path / "numba"
    numba_cache.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache), "NUMBA_DEBUG_CACHE": "1"}
    runs = [subprocess.Popen([sys.executable, "-m", "hdpmusic", "-q", "extract", str(root),
                              "--out", str(tmp_path / f"c{i}.h5"), "--cache",
                              str(tmp_path / f"cache{i}"), "--jobs", "1"], env=env,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [run.communicate() for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-2000:]
    saved = [line for out, _ in outputs for line in out.splitlines() if "data saved to" in line]
    assert saved, "numba wrote no cache entry"
    assert len(saved) == len(set(saved)), "two runs wrote the same numba cache entry"


def test_workers_end_soon_after_their_parent_is_killed(tmp_path):
    pytest.importorskip("psutil")
    root = tmp_path / "audio"
    for i in range(4):
        write_music(root / f"m{i}.wav", seconds=15.0, seed=i)
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "hdpmusic", "-q", "extract", str(root),
                             "--out", str(tmp_path / "c.h5"), "--cache", str(cache),
                             "--jobs", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    workers = []

    def working():
        workers[:] = descendants(proc.pid)
        return len(workers) >= 2 and any(cache.rglob("*.npy"))

    kill_when(proc, working)
    assert len(workers) >= 2, "the run should have been killed while its workers ran"
    assert not wait_gone(workers), "worker processes outlived their parent"


@pytest.mark.parametrize("option", ["--out", "--cache"])
def test_unwritable_output_is_refused_before_any_work(collection, tmp_path, capsys, option):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    paths = {"--out": str(tmp_path / "c.h5"), "--cache": str(tmp_path / "cache")}
    paths[option] = str(blocker / "inside")  # the folder of --out is blocker
    argv = ["-q", "extract", str(collection), "--out", paths["--out"], "--cache",
            paths["--cache"]]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("hdpmusic: error: ") and err.count("\n") == 1
    if option == "--out":
        assert f"output folder {blocker} is not writable (a file is in the way)" in err
    else:
        assert f"cache folder {blocker / 'inside'} is not writable" in err
    assert not list(tmp_path.rglob("*.npy")) and not (tmp_path / "c.h5").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="a read-only folder is writable by root")
def test_read_only_output_folder_is_refused(collection, tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main(["-q", "extract", str(collection), "--out", str(folder / "c.h5"),
                     "--cache", str(tmp_path / "cache")]) == 1
    finally:
        folder.chmod(0o755)
    assert f"output folder {folder} is not writable" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.npy"))


def _stamp(path):
    return path.stat().st_ino, path.stat().st_mtime_ns


def test_changed_audio_is_recomputed_and_recompute_recomputes_all(tmp_path, capsys):
    root, cache = tmp_path / "audio", tmp_path / "cache"
    write_tone(root / "a.wav", 220.0)
    write_tone(root / "b.wav", 330.0)
    argv = ["-q", "extract", str(root), "--out", str(tmp_path / "c.h5"), "--cache", str(cache),
            "--jobs", "1"]
    assert main(argv) == 0
    a_entry = cache_path(cache, "a.wav", source_key(root / "a.wav"))
    a_made = _stamp(a_entry)
    write_chord(root / "b.wav")  # a new version of b.wav
    capsys.readouterr()
    assert main([*argv[:4], str(tmp_path / "d.h5"), *argv[5:]]) == 0
    assert "2 tracks (1 computed, 1 from the cache)" in capsys.readouterr().out
    assert len(list(cache.rglob("*.npy"))) == 2, "the old b.wav's entry should be removed"
    assert _stamp(a_entry) == a_made
    corpus = Corpus.open(tmp_path / "d.h5")
    with threadpool_limits(limits=1):
        np.testing.assert_array_equal(corpus[corpus.ids.index("b.wav")],
                                      extract_features(root / "b.wav"))
    assert main([*argv, "--overwrite"]) == 0       # replaces --out only: the cache is kept
    assert "2 tracks (0 computed, 2 from the cache)" in capsys.readouterr().out
    assert _stamp(a_entry) == a_made
    assert main([*argv[:4], str(tmp_path / "e.h5"), *argv[5:], "--recompute"]) == 0
    assert "2 tracks (2 computed, 0 from the cache)" in capsys.readouterr().out
    assert _stamp(a_entry) != a_made
    a_made = _stamp(a_entry)
    assert main([*argv, "--overwrite", "--recompute"]) == 0
    assert "2 tracks (2 computed, 0 from the cache)" in capsys.readouterr().out
    assert _stamp(a_entry) != a_made


def test_hash_keys_the_cache_on_content(tmp_path, capsys):
    root, cache = tmp_path / "audio", tmp_path / "cache"
    write_tone(root / "a.wav", 220.0)
    write_tone(root / "b.wav", 330.0)
    argv = ["-q", "extract", str(root), "--out", str(tmp_path / "c.h5"), "--cache", str(cache),
            "--hash", "--jobs", "1"]
    assert main(argv) == 0
    os.utime(root / "a.wav", ns=(1, 1))  # same bytes, another time: still cached
    when = (root / "b.wav").stat()
    write_tone(root / "b.wav", 440.0)  # same size and time, other bytes: recomputed
    os.utime(root / "b.wav", ns=(when.st_atime_ns, when.st_mtime_ns))
    assert (root / "b.wav").stat().st_size == when.st_size
    capsys.readouterr()
    assert main([*argv[:4], str(tmp_path / "d.h5"), *argv[5:]]) == 0
    assert "2 tracks (1 computed, 1 from the cache)" in capsys.readouterr().out
    corpus = Corpus.open(tmp_path / "d.h5")
    with threadpool_limits(limits=1):
        np.testing.assert_array_equal(corpus[corpus.ids.index("b.wav")],
                                      extract_features(root / "b.wav"))


def test_stale_temporary_of_the_corpus_is_removed(collection, tmp_path):
    out = tmp_path / "c.h5"
    stale = tmp_path / f".c.h5.tmp-{dead_pid()}"
    stale.write_bytes(b"left by a killed run")
    live = tmp_path / f".c.h5.tmp-{os.getppid()}"  # a live process: may still be writing
    live.write_bytes(b"in use")
    extract_collection(collection / "a", out, progress=False)
    assert not stale.exists() and live.exists() and out.exists()


def test_file_name_that_is_not_utf8_fails_alone(tmp_path, capsys):
    """A Latin-1 name (caf\\xe9.wav) is listed as failed, the other tracks are extracted."""
    root = tmp_path / "audio"
    write_tone(root / "ok.wav")
    bad = os.path.join(os.fsencode(root), b"caf\xe9.wav")
    with open(bad, "wb") as fh:
        fh.write((root / "ok.wav").read_bytes())
    out = tmp_path / "c.h5"
    assert main(["-q", "extract", str(root), "--out", str(out), "--jobs", "2"]) == 0
    assert Corpus.open(out).ids == ["ok.wav"]
    [failure] = read_failures(tmp_path / "c.h5.cache" / "failures.jsonl")
    assert failure["id"] == "caf\\xe9.wav" and failure["path"].endswith("caf\\xe9.wav")
    assert "file name is not valid UTF-8" in failure["error"]
    assert "1 failed" in capsys.readouterr().out
    assert main(["-q", "extract", os.fsdecode(bad), "--out", str(tmp_path / "d.h5"),
                 "--jobs", "1"]) == 1
    assert "all 1 tracks failed" in capsys.readouterr().err
    [failure] = read_failures(tmp_path / "d.h5.cache" / "failures.jsonl")
    assert failure["id"] == "caf\\xe9.wav"


def test_fifo_in_the_folder_is_skipped_not_waited_for(tmp_path):
    root = tmp_path / "audio"
    write_tone(root / "ok.wav")
    os.mkfifo(root / "pipe.wav")
    out = tmp_path / "c.h5"
    done = subprocess.run([sys.executable, "-m", "hdpmusic", "extract", str(root), "--out",
                           str(out), "--jobs", "1"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{root / 'pipe.wav'}: skipped: not a regular file" in done.stderr
    assert Corpus.open(out).ids == ["ok.wav"]


def test_fifo_named_in_a_list_file_fails_alone(tmp_path):
    """Neither hashed (--hash) nor decoded: both would wait for a writer forever."""
    write_tone(tmp_path / "ok.wav")
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "list.txt").write_text("ok.wav\npipe.wav\n")
    done = subprocess.run([sys.executable, "-m", "hdpmusic", "-q", "extract",
                           str(tmp_path / "list.txt"), "--out", str(tmp_path / "c.h5"),
                           "--hash", "--jobs", "1"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    [failure] = read_failures(tmp_path / "c.h5.cache" / "failures.jsonl")
    assert failure["id"] == "pipe.wav" and "not a regular file" in failure["error"]


def _slow_features(path, config=None):
    """Stands for ``extract_features``: never ends on ``slow*`` files."""
    if Path(path).stem.startswith("slow"):
        time.sleep(3600)
    return REAL_EXTRACT_FEATURES(path, config=config)


def _stuck_features(path, config=None):
    """Stands for ``extract_features`` in a worker: on ``stuck*`` files, stuck where no
    signal is handled (as in a decoder's C code)."""
    if Path(path).stem.startswith("stuck"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    return REAL_EXTRACT_FEATURES(path, config=config)


def _job_with_stuck_features(*args):
    """Stands for ``hdpmusic.audio.extract._job`` in a worker, with :func:`_stuck_features` and
    a short grace before the worker ends itself."""
    extract_module.extract_features = _stuck_features
    extract_module._HARD_GRACE = 0.5
    return REAL_JOB(*args)


REAL_EXTRACT_FEATURES, REAL_JOB = extract_module.extract_features, extract_module._job


def test_a_track_past_the_timeout_is_listed_as_failed(tmp_path, monkeypatch):
    root = tmp_path / "audio"
    write_tone(root / "ok.wav")
    write_tone(root / "slow.wav")
    monkeypatch.setattr(extract_module, "extract_features", _slow_features)
    report = extract_collection(root, tmp_path / "c.h5", progress=False, timeout=0.5)
    assert report.failed_ids == ["slow.wav"] and report.n_ok == 1
    error = read_failures(report.failures)[0]["error"]
    assert "slow.wav: took longer than 0.5 s (--timeout)" in error


def test_a_worker_stuck_past_the_timeout_ends_and_its_track_fails(tmp_path, monkeypatch):
    root = tmp_path / "audio"
    for name in ("a.wav", "b.wav", "stuck.wav"):
        write_tone(root / name)
    monkeypatch.setattr(extract_module, "_job", _job_with_stuck_features)
    report = extract_collection(root, tmp_path / "c.h5", jobs=2, progress=False, timeout=5.0)
    assert report.failed_ids == ["stuck.wav"] and report.n_ok == 2
    assert "stuck past --timeout" in read_failures(report.failures)[0]["error"]


def test_bad_timeout_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["extract", str(tmp_path), "--out", str(tmp_path / "c.h5"), "--timeout", "-1"])
    assert done.value.code == 2
    assert ("argument --timeout: expected a finite number > 0, or 0 (no limit), got '-1'"
            in capsys.readouterr().err)
    with pytest.raises(HdpmusicError, match=r"timeout -1 s \(--timeout\): give a number"):
        extract_collection(tmp_path, tmp_path / "c.h5", timeout=-1, progress=False)
    assert not (tmp_path / "c.h5").exists()


def test_a_run_leaves_no_lock_files(collection, tmp_path, monkeypatch):
    extract_collection(collection / "a", tmp_path / "c.h5", cache=tmp_path / "cache",
                       jobs=2, progress=False)
    assert not list((tmp_path / "cache").glob(".*lock"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))  # (no other run's)
    warm_up()
    assert warm_up_lock().parent == tmp_path / "numba" and not warm_up_lock().exists()
    with output_lock(tmp_path / "model.hdp"):
        assert (tmp_path / ".model.hdp.lock").exists()
    assert not (tmp_path / ".model.hdp.lock").exists()


def test_a_lock_removed_by_its_holder_is_taken_afresh(tmp_path):
    """A run that waited on the lock file its holder then removed locks the new file,
    so a third run is refused while it holds it."""
    path = tmp_path / ".x.lock"
    seen = []

    def second_run():
        with exclusive_lock(path, wait=True):
            seen.append(path.exists())
            try:
                with exclusive_lock(path, "busy"):
                    seen.append("third run got the lock")
            except HdpmusicError:
                seen.append("third run refused")

    with exclusive_lock(path):
        waiting = threading.Thread(target=second_run)
        waiting.start()
        for _ in range(500):  # until it waits on this file (a cap, not a timing)
            if _waiting_on_lock(path):
                break
            time.sleep(0.01)
    waiting.join()
    assert seen == [True, "third run refused"] and not path.exists()


def _waiting_on_lock(path):
    """Whether a process blocks on a lock of the file at ``path`` (/proc/locks)."""
    inode = os.stat(path).st_ino
    locks = Path("/proc/locks").read_text() if Path("/proc/locks").exists() else ""
    return any(":" + str(inode) + " " in line and "->" in line for line in locks.splitlines())


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 130), (signal.SIGKILL, -9)])
def test_a_killed_run_leaves_no_semaphore_warnings(tmp_path, sig, code):
    root = tmp_path / "audio"
    for i in range(4):
        write_music(root / f"m{i}.wav", seconds=15.0, seed=i)
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "hdpmusic", "-q", "extract", str(root),
                             "--out", str(tmp_path / "c.h5"), "--cache", str(cache),
                             "--jobs", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    for _ in range(6000):
        if any(cache.rglob("*.npy")) or proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    err = proc.communicate()[1]  # until the workers and loky's resource tracker are gone
    assert proc.returncode == code, err[-2000:]
    assert "leaked" not in err and "resource_tracker" not in err, err[-2000:]
    if sig == signal.SIGTERM:
        assert err == "hdpmusic: interrupted\n"
        assert not list(cache.glob(".*lock"))


@pytest.mark.parametrize("name, cut_at", [("song.ogg", 0.5), ("song.flac", 0.5)])
def test_cut_ogg_and_flac_are_listed_as_truncated(tmp_path, name, cut_at):
    root = tmp_path / "audio"
    write_tone(root / "ok.wav")
    path = write_music(root / name, seconds=10.0)
    path.write_bytes(path.read_bytes()[:int(cut_at * path.stat().st_size)])
    report = extract_collection(root, tmp_path / "c.h5", progress=False)
    assert report.failed_ids == [name]
    assert "the file is truncated" in read_failures(report.failures)[0]["error"]


def test_the_corpus_keeps_its_audio_files_without_the_list_it_was_read_from(collection,
                                                                             tmp_path):
    """A corpus records its songs' audio files itself, relative to the folder recorded
    as ``audio_root``: the list file it was read from (for ``prepare``, a file inside
    the feature cache) may go, a subset saved from it keeps them, and a collection
    moved elsewhere is found with --audio-root NEW_FOLDER (issue 18, item 9)."""
    import shutil

    from hdpmusic.audio.extract import audio_paths

    music = tmp_path / "music"
    shutil.copytree(collection / "a", music / "a")
    shutil.copytree(collection / "b", music / "b")
    listing = tmp_path / "tracks.tsv"
    listing.write_text(f"{music}/a/tone.wav\tT1\n{music}/b/clicks.ogg\tT2\n"
                       f"{music}/a/chord.flac\tT3\n")
    out = tmp_path / "c.h5"
    extract_collection(listing, out, cache=tmp_path / "cache", jobs=1, progress=False)
    listing.unlink()
    shutil.rmtree(tmp_path / "cache")
    corpus = Corpus.open(out)
    assert corpus.attrs["audio_root"] == str(music.resolve())
    files = [str(music.resolve() / name) for name in ("a/tone.wav", "b/clicks.ogg",
                                                       "a/chord.flac")]
    assert corpus.ids == ["T1", "T2", "T3"] and audio_paths(corpus) == files
    corpus.subset([2, 0]).save(tmp_path / "sub.h5")
    assert audio_paths(Corpus.open(tmp_path / "sub.h5")) == [files[2], files[0]]
    moved = tmp_path / "moved"
    music.rename(moved)
    with pytest.raises(HdpmusicError, match="does not exist; pass --audio-root DIR, the "
                                            "folder that holds them as"):
        audio_paths(corpus)
    assert audio_paths(corpus, moved) == [f.replace(str(music.resolve()), str(moved))
                                          for f in files]


def test_a_folder_given_for_the_audio_may_hold_the_ids_as_paths(collection, tmp_path):
    """--audio-root DIR of a corpus read from a list file whose ids are paths: found in
    DIR by the ids, as before the corpus recorded its files (relative to the folder
    holding them all, here a/); what is missing is named."""
    from hdpmusic.audio.extract import audio_paths

    listing = collection / "ids.tsv"
    listing.write_text("a/tone.wav\na/chord.flac\n")
    try:
        extract_collection(listing, tmp_path / "c.h5", cache=tmp_path / "cache", jobs=1,
                           progress=False)
    finally:
        listing.unlink()
    corpus = Corpus.open(tmp_path / "c.h5")
    assert corpus.ids == ["a/tone.wav", "a/chord.flac"]
    assert corpus.audio_files() == ["tone.wav", "chord.flac"]
    assert corpus.attrs["audio_root"] == str((collection / "a").resolve())
    copy = tmp_path / "copy"
    (copy / "a").mkdir(parents=True)
    (copy / "a" / "tone.wav").write_bytes((collection / "a" / "tone.wav").read_bytes())
    with pytest.raises(HdpmusicError, match=r"2 of 2 audio files .* \(e\.g\. .*copy/tone"):
        audio_paths(corpus, copy)
    (copy / "a" / "chord.flac").write_bytes((collection / "a" / "chord.flac").read_bytes())
    assert audio_paths(corpus, copy) == [str(copy / "a" / "tone.wav"),
                                         str(copy / "a" / "chord.flac")]
    assert audio_paths(corpus, copy / "a") == audio_paths(corpus, copy)
