"""Tests for hdpmusic.formats.corpus (Corpus, PackedBatch), corpus_writer (CorpusWriter),
row_reads and `hdpmusic corpus`."""

from __future__ import annotations

import pickle
import threading

import h5py
import numpy as np
import pytest
import torch

from hdpmusic.cli import main
from hdpmusic.formats import corpus as corpus_mod
from hdpmusic.formats import corpus_writer, row_reads
from hdpmusic.formats.corpus import Corpus, PackedBatch, corpus_fingerprint
from hdpmusic.formats.corpus_writer import CorpusWriter
from hdpmusic.model.whitening import Whitener
from hdpmusic.runtime.errors import DataError, FormatError, HdpmusicError

DIM = 4


def make_songs(n_songs: int = 23, dim: int = DIM, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(1, 40)), dim)).astype(np.float32) + j
            for j in range(n_songs)]


def write_study_file(path, songs, ids, *, indptr_dtype="i4", extra=True) -> None:
    """A corpus in the study's layout: int32 indptr, str or int ids, no attributes."""
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.concatenate(songs))
        f.create_dataset("indptr", data=np.concatenate(
            ([0], np.cumsum([len(s) for s in songs]))).astype(indptr_dtype))
        if np.asarray(ids).dtype.kind in "iu":
            f.create_dataset("ids", data=np.asarray(ids, dtype="i4"))
        else:
            f.create_dataset("ids", data=np.array(ids, dtype=object),
                             dtype=h5py.string_dtype())
        if extra:
            f.create_dataset("targets", data=np.array(["rock"] * len(songs), dtype=object),
                             dtype=h5py.string_dtype())
            g = f.create_group("annotations")
            g.create_dataset("indptr", data=np.zeros(len(songs) + 1, "i4"))
            f.create_group("interaction").create_dataset("data", data=np.ones(3))


@pytest.fixture
def songs() -> list[np.ndarray]:
    return make_songs()


@pytest.fixture
def h5_corpus(tmp_path, songs) -> Corpus:
    path = tmp_path / "c.h5"
    Corpus.from_arrays(songs, ids=[f"s{j}" for j in range(len(songs))],
                       attrs={"sr": 22050, "hop_length": 512,
                              "feature_config": {"n_mfcc": 13}}).save(path)
    return Corpus.open(path, dim=DIM)


def naive(songs, indices):
    return np.concatenate([songs[j] for j in indices]) if len(indices) else \
        np.empty((0, DIM), np.float32)


# ----------------------------------------------------------------------- round trips


def test_round_trip_from_arrays_save_open(h5_corpus, songs):
    c = h5_corpus
    assert len(c) == len(songs) and c.dim == DIM and c.path is not None
    assert c.ids == [f"s{j}" for j in range(len(songs))]
    np.testing.assert_array_equal(c.lengths, [len(s) for s in songs])
    assert c.lengths.dtype == np.int64 and c.n_frames == sum(len(s) for s in songs)
    for j, s in enumerate(songs):
        assert c[j].dtype == np.float32
        np.testing.assert_array_equal(c[j], s)
    np.testing.assert_array_equal(c[-1], songs[-1])
    assert c.attrs["feature_config"] == {"n_mfcc": 13} and c.attrs["sr"] == 22050
    assert c.attrs["format"] == "hdpmusic-corpus"


def test_save_file_backed_corpus_streams_copy(tmp_path, h5_corpus, songs):
    out = tmp_path / "copy.h5"
    h5_corpus.save(out)
    again = Corpus.open(out)
    assert again.ids == h5_corpus.ids and again.attrs == h5_corpus.attrs
    np.testing.assert_array_equal(again.read(np.arange(len(songs)))[0], naive(
        songs, range(len(songs))))
    with pytest.raises(HdpmusicError, match="exists"):
        h5_corpus.save(out)
    h5_corpus.subset([3, 1]).save(out, overwrite=True)
    assert Corpus.open(out).ids == ["s3", "s1"]


@pytest.mark.parametrize("ids", [["a", "b", "c"], [11, 42, 7]])
def test_study_layout_opens(tmp_path, ids):
    songs = make_songs(3)
    path = tmp_path / "study.h5"
    write_study_file(path, songs, ids)
    c = Corpus.open(path, dim=DIM)
    assert c.ids == [str(i) for i in ids]
    assert c.attrs == {}
    np.testing.assert_array_equal(c[1], songs[1])
    assert main(["corpus", "info", str(path)]) == 0


def test_pickled_file_corpus_reopens(h5_corpus, songs):
    h5_corpus[0]  # opens the file handle, which must not be pickled
    clone = pickle.loads(pickle.dumps(h5_corpus.subset([2, 5])))
    np.testing.assert_array_equal(clone[1], songs[5])


# ----------------------------------------------------------------------------- views


@pytest.mark.parametrize("backed", [True, False])
def test_subset_is_a_view(h5_corpus, songs, backed):
    base = h5_corpus if backed else Corpus.from_arrays(songs)
    view = base.subset([5, 2, 9, 2 - len(songs)])
    assert len(view) == 4 and view.path == base.path
    assert view.ids == [base.ids[j] for j in (5, 2, 9, 2)]
    np.testing.assert_array_equal(view.lengths, [len(songs[j]) for j in (5, 2, 9, 2)])
    np.testing.assert_array_equal(view[2], songs[9])
    inner = view.subset([2, 0])
    assert inner.ids == [base.ids[9], base.ids[5]]
    np.testing.assert_array_equal(inner.read([0, 1])[0], naive(songs, [9, 5]))
    if not backed:
        assert view._store.data is base._store.data  # shared, not copied
    with pytest.raises(IndexError):
        base.subset([len(songs)])
    with pytest.raises(IndexError):
        base.subset([0.5])


# ------------------------------------------------------------------------ mini-batches


def test_minibatch_indices_deterministic_and_cover(songs):
    c = Corpus.from_arrays(songs)
    a = c.minibatch_indices(5, seed=3, epoch=1)
    assert [len(b) for b in a] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.sort(np.concatenate(a)), np.arange(len(songs)))
    b = c.minibatch_indices(5, seed=3, epoch=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other_epoch = np.concatenate(c.minibatch_indices(5, seed=3, epoch=2))
    other_seed = np.concatenate(c.minibatch_indices(5, seed=4, epoch=1))
    assert not np.array_equal(np.concatenate(a), other_epoch)
    assert not np.array_equal(np.concatenate(a), other_seed)
    with pytest.raises(DataError):
        c.minibatch_indices(0, seed=0, epoch=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_read_matches_naive_slicing(h5_corpus, songs, seed):
    mem = Corpus.from_arrays(songs)
    rng = np.random.default_rng(seed)
    index_sets = [rng.choice(len(songs), size=k, replace=False) for k in (1, 4, 12, 23)]
    index_sets += [rng.integers(0, len(songs), size=15), np.arange(len(songs))[::-1],
                   np.r_[3:9, 1, 9:12, 0], np.array([], dtype=np.int64)]
    for idx in index_sets:
        for c, merge in ((h5_corpus, True), (h5_corpus, False), (mem, True)):
            frames, offsets = c.read(idx, merge=merge)
            np.testing.assert_array_equal(frames, naive(songs, idx))
            np.testing.assert_array_equal(np.diff(offsets), [len(songs[j]) for j in idx])
            assert frames.dtype == np.float32 and offsets.dtype == np.int64


def test_read_into_a_given_array(h5_corpus, songs):
    """``out=`` (how a batch bound for a GPU is read into pinned memory) gets the same
    frames, from a file or memory, and a wrong shape or dtype is refused."""
    idx = np.array([7, 2, 3, 11])
    n = sum(len(songs[j]) for j in idx)
    for c in (h5_corpus, Corpus.from_arrays(songs)):
        out = np.full((n, songs[0].shape[1]), np.nan, np.float32)
        frames, _ = c.read(idx, out=out)
        assert frames is out
        np.testing.assert_array_equal(out, naive(songs, idx))
        for wrong in (np.empty((n + 1, out.shape[1]), np.float32), out.astype(np.float64)):
            with pytest.raises(ValueError, match="out must be float32"):
                c.read(idx, out=wrong)


def test_a_batch_for_a_gpu_is_read_straight_into_pinned_memory(h5_corpus, songs,
                                                                monkeypatch):
    """The frames are read into the tensor allocated pinned (no second host copy); on
    this CPU-only machine pinning is simulated (tests/test_cuda.py runs it for real)."""
    pinned = []
    empty = torch.empty

    def fake_empty(*args, pin_memory=False, **kwargs):
        out = empty(*args, **kwargs)
        if pin_memory:
            pinned.append(out)
        return out

    monkeypatch.setattr(torch, "empty", fake_empty)
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: self)
    idx = np.array([4, 0, 9])
    frames, offsets, _ = h5_corpus._host_batch(idx, "cuda")
    assert len(pinned) == 1 and frames is pinned[0]
    np.testing.assert_array_equal(frames.numpy(), naive(songs, idx))
    np.testing.assert_array_equal(offsets.numpy(), h5_corpus.read(idx)[1])


def test_contiguous_pieces_join_only_what_is_contiguous_in_file_and_output():
    starts, lengths = np.array([10, 0, 5, 30, 40]), np.array([5, 5, 5, 1, 2])
    dest = np.array([5, 0, 20, 25, 40])  # 30 and 40 follow in the output, not the file
    s, n, d = row_reads.contiguous_pieces(starts, lengths, dest)
    np.testing.assert_array_equal(s, [0, 5, 10, 30, 40])
    np.testing.assert_array_equal(n, [5, 5, 5, 1, 2])
    np.testing.assert_array_equal(d, [0, 20, 5, 25, 40])
    s, n, d = row_reads.contiguous_pieces(np.array([0, 5, 10]), np.array([5, 5, 3]),
                                             np.array([0, 5, 10]))
    np.testing.assert_array_equal(np.c_[s, n, d], [[0, 13, 0]])


def test_plan_runs_merges_adjacent_and_near_segments():
    starts, stops = np.array([10, 0, 5, 30]), np.array([20, 5, 10, 31])
    rs, re, pos = row_reads.plan_runs(starts, stops, max_gap=0)
    np.testing.assert_array_equal(rs, [0, 30])
    np.testing.assert_array_equal(re, [20, 31])
    np.testing.assert_array_equal(pos, [10, 0, 5, 20])
    rs, re, _ = row_reads.plan_runs(starts, stops, max_gap=10)
    np.testing.assert_array_equal(rs, [0])
    np.testing.assert_array_equal(re, [31])
    rs, _, _ = row_reads.plan_runs(starts, stops, max_gap=9)  # 10 rows apart: too far
    np.testing.assert_array_equal(rs, [0, 30])


def test_load_batch_packs_whole_songs(h5_corpus, songs):
    idx = np.array([7, 0, 3])
    batch = h5_corpus.load_batch(idx)
    assert isinstance(batch, PackedBatch) and batch.n_songs == 3
    assert batch.frames.dtype == torch.float32 and batch.offsets.dtype == torch.int64
    np.testing.assert_array_equal(batch.lengths.numpy(), [len(songs[j]) for j in idx])
    for b, j in enumerate(idx):
        song = batch.frames[batch.offsets[b]:batch.offsets[b + 1]]
        np.testing.assert_array_equal(song.numpy(), songs[j])
    np.testing.assert_array_equal(batch.indices, idx)
    assert h5_corpus.load_batch(idx, dtype=torch.float64).frames.dtype == torch.float64
    w = Whitener().fit(h5_corpus)
    white = h5_corpus.load_batch(idx, whitener=w).frames
    np.testing.assert_allclose(white.numpy(), w.transform(naive(songs, idx)), atol=1e-5)


def test_iter_batches_equals_load_batch(h5_corpus):
    batches = h5_corpus.minibatch_indices(4, seed=0, epoch=0)
    got = list(h5_corpus.iter_batches(batches, prefetch=2, dtype=torch.float64))
    assert len(got) == len(batches)
    for b, idx in zip(got, batches, strict=True):
        ref = h5_corpus.load_batch(idx, dtype=torch.float64)
        assert torch.equal(b.frames, ref.frames) and torch.equal(b.offsets, ref.offsets)
        np.testing.assert_array_equal(b.indices, idx)


def test_iter_batches_propagates_reader_error(h5_corpus, monkeypatch):
    calls = []
    original = row_reads.H5Store.read_into

    def flaky(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk on fire")
        return original(self, *args)

    monkeypatch.setattr(row_reads.H5Store, "read_into", flaky)
    it = h5_corpus.iter_batches(h5_corpus.minibatch_indices(2, seed=0, epoch=0))
    next(it), next(it)
    with pytest.raises(OSError, match="disk on fire"):
        list(it)


def test_iter_batches_closed_early_stops_thread(h5_corpus):
    it = h5_corpus.iter_batches(h5_corpus.minibatch_indices(1, seed=0, epoch=0), prefetch=1)
    next(it)
    it.close()
    assert not any(t.name == "hdpmusic-prefetch" for t in threading.enumerate())


def test_iter_frames_covers_every_frame_once(h5_corpus, songs):
    chunks = list(h5_corpus.iter_frames(chunk_frames=50))
    assert len(chunks) > 1 and all(len(c) <= max(50, max(map(len, songs))) for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), np.concatenate(songs))
    view = h5_corpus.subset([9, 1, 4])
    np.testing.assert_array_equal(np.concatenate(list(view.iter_frames(10))),
                                  naive(songs, [1, 4, 9]))


@pytest.mark.parametrize("gap", [0, 2048])
def test_sample_frames(h5_corpus, songs, monkeypatch, gap):
    monkeypatch.setattr(corpus_mod, "_SAMPLE_READ_ROWS", 7)  # exercise split reads
    monkeypatch.setattr(Corpus, "sample_gap_frames", gap)
    all_rows = np.concatenate(songs)
    sample = h5_corpus.sample_frames(60, seed=1)
    assert sample.shape == (60, DIM) and sample.dtype == np.float32
    rows = [np.flatnonzero((all_rows == s).all(axis=1)) for s in sample]
    assert all(len(r) == 1 for r in rows) and len({int(r[0]) for r in rows}) == 60
    np.testing.assert_array_equal(sample, h5_corpus.sample_frames(60, seed=1))
    np.testing.assert_array_equal(sample, Corpus.from_arrays(songs).sample_frames(60, seed=1))
    assert not np.array_equal(sample, h5_corpus.sample_frames(60, seed=2))
    whole = h5_corpus.sample_frames(h5_corpus.n_frames, seed=0)
    np.testing.assert_array_equal(np.sort(whole, axis=0), np.sort(all_rows, axis=0))
    with pytest.raises(DataError):
        h5_corpus.sample_frames(h5_corpus.n_frames + 1, seed=0)


def test_to_device_serves_batches_from_memory(h5_corpus, songs, monkeypatch):
    view = h5_corpus.subset([4, 8, 15])
    on = view.to("cpu", dtype=torch.float64)
    assert on.device == torch.device("cpu") and on.path is None and on.ids == view.ids
    batch = on.load_batch([2, 0])
    assert batch.frames.dtype == torch.float32
    np.testing.assert_array_equal(batch.frames.numpy(), naive(songs, [15, 4]))
    got = list(on.iter_batches([[1], [0, 2]], dtype=torch.float64))
    np.testing.assert_array_equal(got[1].frames.numpy(), naive(songs, [4, 15]))
    monkeypatch.setattr(corpus_mod, "available_bytes", lambda device: 100)
    with pytest.raises(DataError, match="do not fit"):
        h5_corpus.to("cpu")


# ------------------------------------------------------------------------- bad input


def test_check_finite_names_bad_songs(tmp_path):
    songs = make_songs(8)
    songs[2][1, 0] = np.nan
    songs[6][0, 3] = np.inf
    path = tmp_path / "nan.h5"
    write_study_file(path, songs, [f"id{j}" for j in range(8)])
    c = Corpus.open(path)
    with pytest.raises(DataError, match=r"2 song.*'id2', 'id6'"):
        c.check_finite(chunk_frames=30)
    c.subset([0, 1, 3]).check_finite()


def test_open_rejects_bad_files(tmp_path, songs):
    good = tmp_path / "good.h5"
    Corpus.from_arrays(songs).save(good)
    with pytest.raises(DataError, match="dimension 4, expected 52"):
        Corpus.open(good, dim=52)
    with pytest.raises(HdpmusicError, match="does not exist"):
        Corpus.open(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all" * 100)
    with pytest.raises(FormatError, match=r"junk\.h5"):
        Corpus.open(junk)
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FormatError, match=r"trunc\.h5"):
        Corpus.open(truncated).read(np.arange(len(songs)))


@pytest.mark.parametrize("damage, message", [
    (lambda f: f.__delitem__("indptr"), "missing dataset"),
    (lambda f: f.__delitem__("data") or f.create_dataset("data", data=np.zeros(3)), "2-D"),
    (lambda f: f["indptr"].__setitem__(1, 10**6), "indptr"),
    (lambda f: f["indptr"].__setitem__(0, 1), "indptr"),
    (lambda f: f.__delitem__("ids") or f.create_dataset("ids", data=np.arange(2)), "ids"),
    (lambda f: f.attrs.__setitem__("format_version", "99"), "newer"),
    (lambda f: f.attrs.__setitem__("format", '"something-else"'), "not a corpus"),
])
def test_open_rejects_inconsistent_datasets(tmp_path, songs, damage, message):
    path = tmp_path / "bad.h5"
    Corpus.from_arrays(songs).save(path)
    with h5py.File(path, "a") as f:
        damage(f)
    with pytest.raises(FormatError, match=message):
        Corpus.open(path)


def test_open_rejects_empty_corpus(tmp_path):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros((0, DIM), "f4"))
        f.create_dataset("indptr", data=np.zeros(1, "i4"))
        f.create_dataset("ids", data=np.zeros(0, "i4"))
    with pytest.raises(DataError, match="no songs"):
        Corpus.open(path)


def test_from_arrays_rejects_bad_input():
    with pytest.raises(DataError, match="no songs"):
        Corpus.from_arrays([])
    with pytest.raises(DataError, match="'b'"):
        Corpus.from_arrays([np.zeros((2, 3)), np.zeros((2, 4))], ids=["a", "b"])
    with pytest.raises(DataError, match="no frames"):
        Corpus.from_arrays([np.zeros((2, 3)), np.zeros((0, 3))])
    with pytest.raises(DataError, match="unique"):
        Corpus.from_arrays([np.zeros((2, 3))] * 2, ids=["a", "a"])
    for flat in ([np.zeros(5)], [np.zeros((2, 3)), np.zeros(3)], [np.float32(1.0)]):
        with pytest.raises(DataError, match=r"has shape \(\d*,?\); each song is a 2-D array "
                                            r"of shape \(n_frames, n_features\)"):
            Corpus.from_arrays(flat)


# ---------------------------------------------------------------------------- writer


def test_writer_streams_and_records_attrs(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_writer, "_FLUSH_ROWS", 10)  # several flushes
    songs = make_songs(9)
    path = tmp_path / "w.h5"
    with CorpusWriter(path, DIM, attrs={"sr": 16000, "columns": ["a", "b"]}) as w:
        for j, s in enumerate(songs):
            w.append(f"t{j}", s.astype(np.float64))
        assert len(w) == 9 and not path.exists()
    with h5py.File(path) as f:
        assert f["indptr"].dtype == np.int64 and f["data"].dtype == np.float32
        assert f["data"].chunks is not None
    c = Corpus.open(path, dim=DIM)
    assert c.attrs["columns"] == ["a", "b"] and c.attrs["dim"] == DIM
    np.testing.assert_array_equal(c.read(np.arange(9))[0], np.concatenate(songs))


def test_writer_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "w.h5"
    with pytest.raises(RuntimeError), CorpusWriter(path, DIM) as w:
        w.append("a", np.zeros((3, DIM)))
        raise RuntimeError("boom")
    with pytest.raises(DataError, match="'b'"), CorpusWriter(path, DIM) as w:
        w.append("b", np.zeros((3, DIM + 1)))
    with pytest.raises(DataError, match="no songs"), CorpusWriter(path, DIM):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("frames, message", [
    (np.full((2, DIM), np.nan), "NaN"), (np.zeros((0, DIM)), "no frames"),
    (np.zeros(DIM), "shape"),
])
def test_writer_rejects_bad_songs(tmp_path, frames, message):
    with pytest.raises(DataError, match=message), CorpusWriter(tmp_path / "x.h5", DIM) as w:
        w.append("bad", frames)


def test_writer_refuses_existing_path_and_duplicates(tmp_path):
    path = tmp_path / "w.h5"
    path.write_bytes(b"precious")
    with pytest.raises(HdpmusicError, match="exists"), CorpusWriter(path, DIM):
        pass
    assert path.read_bytes() == b"precious"
    with pytest.raises(DataError, match="twice"), CorpusWriter(path, DIM,
                                                                 overwrite=True) as w:
        w.append("a", np.zeros((1, DIM)))
        w.append("a", np.zeros((1, DIM)))
    assert path.read_bytes() == b"precious"
    with CorpusWriter(path, DIM, overwrite=True) as w:
        w.append("a", np.zeros((1, DIM)))
    assert Corpus.open(path).ids == ["a"]


# ------------------------------------------------------------------------------- CLI


def test_cli_corpus_info(h5_corpus, tmp_path, capsys):
    assert main(["corpus", "info", str(h5_corpus.path)]) == 0
    out = capsys.readouterr().out
    lengths = h5_corpus.lengths
    assert f"songs:     {len(h5_corpus)}" in out and f"frames:    {h5_corpus.n_frames}" in out
    assert f"min {lengths.min()}" in out and f"max {lengths.max()}" in out
    assert "length (s):" in out and '"n_mfcc": 13' in out
    study = tmp_path / "study.h5"
    write_study_file(study, make_songs(2), ["a", "b"], extra=False)
    assert main(["corpus", "info", str(study)]) == 0
    assert "no attributes (study layout)" in capsys.readouterr().out
    assert main(["corpus", "info", str(tmp_path / "none.h5")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_corpus_fingerprint_tells_corpora_apart(tmp_path):
    rng = np.random.default_rng(0)
    songs = [rng.normal(size=(n, 2)) for n in (3, 5, 4)]
    a = Corpus.from_arrays(songs, ids=["a", "b", "c"])
    a.save(tmp_path / "a.h5")
    print_ = corpus_fingerprint(a)
    assert print_.startswith("sha256:")
    assert corpus_fingerprint(Corpus.open(tmp_path / "a.h5")) == print_
    # the frames are not hashed: ids and lengths are
    assert corpus_fingerprint(Corpus.from_arrays([s + 1 for s in songs], ids=["a", "b", "c"])) \
        == print_
    for other in (Corpus.from_arrays(songs, ids=["a", "b", "d"]),
                  Corpus.from_arrays(songs[::-1], ids=["c", "b", "a"]),
                  Corpus.from_arrays([songs[0], songs[1][:4], songs[2]], ids=["a", "b", "c"])):
        assert corpus_fingerprint(other) != print_


@pytest.mark.parametrize("chunked", [False, True])
def test_frames_declared_beyond_the_stored_data_are_refused(tmp_path, chunked):
    """A small file declaring 1e11 frames is refused on opening, before anything is
    allocated for them."""
    path = tmp_path / "huge.h5"
    n = 10**11
    with h5py.File(path, "w") as fh:
        fh.create_dataset("data", shape=(n, DIM), dtype="f4",
                          chunks=(4096, DIM) if chunked else None)
        fh["indptr"] = np.array([0, n], dtype=np.int64)
        fh["ids"] = np.array([b"a"])
    assert path.stat().st_size < 10_000
    with pytest.raises(FormatError, match="declares 100000000000 frames"):
        Corpus.open(path)
    assert main(["fit", str(path), "--out", str(tmp_path / "m.hdp")]) == 1
    assert not (tmp_path / "m.hdp").exists()


def test_content_fingerprint_tells_rescaled_frames_apart(tmp_path):
    from hdpmusic.formats.corpus import content_fingerprint

    songs = make_songs()
    a = Corpus.from_arrays(songs)
    a.save(tmp_path / "a.h5")
    opened = Corpus.open(tmp_path / "a.h5")
    assert content_fingerprint(opened) == content_fingerprint(a)
    scaled = Corpus.from_arrays([s * 1000 for s in songs])
    assert corpus_fingerprint(scaled) == corpus_fingerprint(a)
    assert content_fingerprint(scaled) != content_fingerprint(a)
    view = opened.subset([3, 1])
    assert content_fingerprint(view) == content_fingerprint(Corpus.from_arrays(
        [songs[3], songs[1]]))


def test_audio_files_are_stored_for_every_song_or_none(tmp_path):
    """The songs' audio files travel with the corpus, views and saved subsets included
    (issue 18, item 9); a writer given some songs' files only refuses to finish."""
    frames = np.ones((3, 2), dtype=np.float32)
    with CorpusWriter(tmp_path / "c.h5", 2, attrs={"audio_root": "/music"}) as w:
        for name in ("a", "b", "c"):
            w.append(name, frames, audio_file=f"{name}/song.wav")
    corpus = Corpus.open(tmp_path / "c.h5")
    assert corpus.audio_files() == ["a/song.wav", "b/song.wav", "c/song.wav"]
    assert corpus.subset([2, 0]).audio_files() == ["c/song.wav", "a/song.wav"]
    corpus.subset([1]).save(tmp_path / "one.h5")
    assert Corpus.open(tmp_path / "one.h5").audio_files() == ["b/song.wav"]
    assert Corpus.from_arrays([frames]).audio_files() is None
    with pytest.raises(DataError, match="1 of 2 songs were appended without"):
        with CorpusWriter(tmp_path / "half.h5", 2) as w:
            w.append("a", frames, audio_file="a.wav")
            w.append("b", frames)
    assert not (tmp_path / "half.h5").exists()
    damaged = tmp_path / "damaged.h5"                 # one file short
    damaged.write_bytes((tmp_path / "c.h5").read_bytes())
    with h5py.File(damaged, "a") as f:
        del f["audio_files"]
        f["audio_files"] = np.array([b"a.wav", b"b.wav"])
    with pytest.raises(FormatError, match="must hold one string per song"):
        Corpus.open(damaged).audio_files()


def test_the_writer_names_moved_from_corpus_are_found_there_with_a_warning():
    """Release 0.1 had CorpusWriter and the format names in formats.corpus: they are still
    found there, with a DeprecationWarning, and are the writer module's own."""
    for name in ("CorpusWriter", "AUDIO_FILES", "FORMAT", "FORMAT_VERSION"):
        with pytest.warns(DeprecationWarning, match=f"corpus.{name} moved to "
                                                    "hdpmusic.formats.corpus_writer"):
            old = getattr(corpus_mod, name)
        assert old is getattr(corpus_writer, name)
    with pytest.raises(AttributeError):
        corpus_mod.no_such_name  # noqa: B018
