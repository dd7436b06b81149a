"""`hdpmusic embed`: equal to `extract` + `transform`, chunked, resumable through the cache."""

import numpy as np
import pytest

from audio_gen import write_corrupt
from fitted_models import songs_and_models
from hdpmusic import HDPGMM, Corpus, Representations
from hdpmusic.baselines.g1 import G1
from hdpmusic.cli import main
from hdpmusic.pipeline.embed import embed_collection
from hdpmusic.runtime.errors import HdpmusicError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Six generated songs (one corrupt file besides), their corpus, and fitted models."""
    root = tmp_path_factory.mktemp("embed")
    write_corrupt(root / "songs" / "b" / "broken.wav")
    songs, corpus, models = songs_and_models(root)
    return {"songs": songs, "corpus": corpus, "models": models}


@pytest.mark.parametrize("name", ["hdpgmm", "g1", "vq", "clmr"])
def test_embed_equals_extract_then_transform(setup, tmp_path, name):
    model = str(setup["models"][name])
    assert main(["-q", "transform", model, str(setup["corpus"]), "--out",
                 str(tmp_path / "t.h5")]) == 0
    assert main(["-q", "embed", model, str(setup["songs"]), "--out", str(tmp_path / "e.h5"),
                 "--chunk-songs", "4", "--jobs", "1"]) == 0
    want, got = Representations.load(tmp_path / "t.h5"), Representations.load(tmp_path / "e.h5")
    assert got.ids == want.ids == Corpus.open(setup["corpus"]).ids
    assert "b/broken.wav" not in got.ids
    if name == "clmr":  # a network: chunk batches of other sizes may round differently
        np.testing.assert_allclose(got.X, want.X, rtol=1e-5, atol=1e-6)
    elif name == "hdpgmm":  # float32 GEMMs over batches of 3 songs, not 6: a few ulps
        np.testing.assert_allclose(got.X, want.X, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got.X, want.X)
    for key in ("model", "kind", "log", "source"):
        assert got.attrs.get(key) == want.attrs.get(key)


def test_embed_hdpgmm_options(setup, tmp_path):
    model = str(setup["models"]["hdpgmm"])
    out = tmp_path / "e.h5"
    assert main(["-q", "embed", model, str(setup["songs"]), "--out", str(out),
                 "--kind", "loglik", "--no-log", "--batch-size", "2", "--jobs", "1"]) == 0
    reps = Representations.load(out)
    assert reps.attrs["kind"] == "loglik" and reps.attrs["log"] is False
    # what it read, under the key a corpus records it with (issue 18, item 9)
    assert reps.attrs["audio_root"] == str(setup["songs"].resolve())
    corpus = Corpus.open(setup["corpus"])
    np.testing.assert_allclose(reps.X, HDPGMM.load(model).transform(
        corpus, kind="loglik", log=False), rtol=1e-5, atol=1e-8)   # entries near 0 too


def test_embed_resumes_from_the_feature_cache(setup, tmp_path, monkeypatch):
    model = setup["models"]["g1"]
    out = tmp_path / "reps.h5"
    calls = []
    real = G1.transform

    def interrupted(self, X, **kw):
        calls.append(len(X))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, X, **kw)

    monkeypatch.setattr(G1, "transform", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embed_collection(model, setup["songs"], out, chunk_songs=2, progress=False)
    assert not out.exists()
    monkeypatch.setattr(G1, "transform", real)
    report = embed_collection(model, setup["songs"], out, chunk_songs=2, progress=False)
    # chunks [s0 s1] [s2 broken] [s3 s4] [s5]: the kill came after the second chunk's
    # features were cached (broken.wav failed, and is retried, not cached)
    assert calls == [2, 1]
    assert (report.n_cached, report.n_computed, report.n_ok) == (3, 3, 6)
    assert report.failed_ids == ["b/broken.wav"]
    assert "b/broken.wav" in report.failures.read_text()
    # a cache made by `hdpmusic extract` serves embed: nothing is recomputed
    again = embed_collection(model, setup["songs"], out, overwrite=True, progress=False,
                             cache=setup["corpus"].with_name("corpus.h5.cache"))
    assert (again.n_cached, again.n_computed) == (7 - 1, 0)
    np.testing.assert_array_equal(Representations.load(out).X,
                                  G1().fit(Corpus.open(setup["corpus"])).transform(
                                      Corpus.open(setup["corpus"])))


def test_embed_errors(setup, tmp_path, capsys):
    model = str(setup["models"]["g1"])
    out = tmp_path / "e.h5"
    out.write_text("keep")
    assert main(["-q", "embed", model, str(setup["songs"]), "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err and out.read_text() == "keep"
    assert main(["-q", "embed", model, str(setup["songs"]), "--out", str(tmp_path / "x.h5"),
                 "--kind", "loglik"]) == 1
    assert "--kind does not apply to" in capsys.readouterr().err
    assert main(["-q", "embed", model, str(tmp_path / "nothing"), "--out",
                 str(tmp_path / "x.h5")]) == 1
    assert "no such directory" in capsys.readouterr().err
    bad = tmp_path / "bad"
    write_corrupt(bad / "x.wav")
    with pytest.raises(HdpmusicError, match="all 1 tracks failed"):
        embed_collection(model, bad, tmp_path / "y.h5", progress=False)
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "y.h5").exists()


def test_embed_shares_extracts_cache_keys_and_quiet_after_the_verb(setup, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert main(["-q", "extract", str(setup["songs"]), "--out", str(tmp_path / "c.h5"),
                 "--cache", str(cache), "--hash", "--jobs", "1"]) == 0
    capsys.readouterr()
    embed = ["embed", str(setup["models"]["g1"]), str(setup["songs"]), "--cache", str(cache),
             "--out", str(tmp_path / "e.h5"), "--overwrite", "--jobs", "1"]
    assert main([*embed, "--hash", "-q"]) == 0
    out = capsys.readouterr()
    assert "(0 extracted, 6 from the cache), 1 failed" in out.out
    assert "embedding" not in out.err                      # -q after the verb: no bar
    assert main([*embed, "--hash", "--recompute"]) == 0
    out = capsys.readouterr()
    assert "(6 extracted, 0 from the cache)" in out.out and "embedding" in out.err
    # without --hash the entries are keyed on size and mtime: the hashed ones are replaced
    assert all("#sha256-" in entry.name for entry in cache.glob("??/*.npy"))
    assert main([*embed, "-q"]) == 0
    assert "(6 extracted, 0 from the cache)" in capsys.readouterr().out
    entries = list(cache.glob("??/*.npy"))
    assert len(entries) == 6 and not any("#sha256-" in entry.name for entry in entries)


def test_embed_checks_the_output_folder_first(setup, tmp_path, capsys):
    (tmp_path / "file").write_text("in the way")
    assert main(["-q", "embed", str(setup["models"]["g1"]), str(setup["songs"]), "--out",
                 str(tmp_path / "file" / "e.h5"), "--cache", str(tmp_path / "cache")]) == 1
    assert "a file is in the way" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()                # nothing extracted


def test_embed_refuses_other_feature_settings_and_its_inputs_as_output(setup, tmp_path):
    """A model records its corpus's feature settings: embed extracts with them by default
    and refuses others; --out may not be the model file or the list of songs."""
    from hdpmusic.audio.features import DEFAULT_CONFIG, FeatureConfig
    from hdpmusic.pipeline.embed import frame_config
    from hdpmusic.runtime.errors import DataError

    model = G1.load(setup["models"]["g1"])
    hop256 = FeatureConfig(hop_length=256)
    model.fitted_corpus_ = {"feature_config": hop256.to_dict()}
    path = tmp_path / "g1.ckpt"
    model.save(path)
    assert frame_config(G1.load(path), path, None) == hop256
    assert frame_config(G1.load(setup["models"]["g1"]), path, None) == DEFAULT_CONFIG
    out = tmp_path / "e.h5"
    with pytest.raises(DataError, match="hop_length=256 but the extraction asked for has "
                                        "hop_length=512"):
        embed_collection(path, setup["songs"], out, config=DEFAULT_CONFIG, progress=False)
    assert not out.exists() and not (tmp_path / "e.h5.cache").exists()
    before = path.read_bytes()
    with pytest.raises(HdpmusicError, match="is the model file given as input"):
        embed_collection(path, setup["songs"], path, overwrite=True, progress=False)
    assert path.read_bytes() == before


def test_library_versions_travel_from_the_features_to_the_model_and_its_outputs(
        setup, tmp_path, caplog):
    """The model records the versions that computed its corpus's features; embed records
    those of the features it computes, and embed and transform warn where they differ
    from the model's, naming the libraries, the versions and the model's."""
    from hdpmusic.audio.provenance import library_versions

    ours = library_versions()
    corpus = Corpus.open(setup["corpus"])
    recorded = [{"tracks": len(corpus), "libraries": ours}]
    assert corpus.attrs["feature_libraries"] == recorded
    model = G1.load(setup["models"]["g1"])
    assert model.fitted_corpus_["feature_libraries"] == recorded
    out = tmp_path / "same.h5"
    embed_collection(setup["models"]["g1"], setup["songs"], out, progress=False)
    assert Representations.load(out).attrs["feature_libraries"] == recorded
    assert "other library releases" not in caplog.text

    model.fitted_corpus_["feature_libraries"] = [
        {"tracks": 9, "libraries": {**ours, "librosa": "0.10.1"}}]
    older = tmp_path / "older.ckpt"
    model.save(older)
    embed_collection(older, setup["songs"], tmp_path / "e.h5", progress=False,
                     cache=tmp_path / "same.h5.cache")
    assert main(["-q", "transform", str(older), str(setup["corpus"]), "--out",
                 str(tmp_path / "t.h5")]) == 0
    warnings = [r.getMessage() for r in caplog.records
                if "other library releases" in r.getMessage()]
    assert len(warnings) == 2
    said = f"librosa {ours['librosa']} (the model's: 0.10.1)"
    assert all(said in w and str(older) in w for w in warnings)
    assert "the audio's features" in warnings[0] and str(setup["corpus"]) in warnings[1]
    assert all("numpy" not in w for w in warnings)
