"""hdpmusic.pipeline.fit and .transform: the one path that fits, transforms and writes
representations for the CLI, ``experiment``, ``embed`` and the demo."""

import numpy as np
import pytest

from hdpmusic.baselines.g1 import G1
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.representations import Representations
from hdpmusic.model.hdpgmm import HDPGMM
from hdpmusic.model.kinds import EMBED_KIND
from hdpmusic.pipeline.fit import fit_model, resumable
from hdpmusic.pipeline.transform import (
    transform_corpus,
    transform_options,
    write_representations,
)
from hdpmusic.runtime.errors import DataError, ParameterError

TINY = {"n_components": 4, "n_song_components": 2, "batch_size": 8, "max_epochs": 2,
        "local_max_iter": 5, "device": "cpu", "verbose": False}


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    songs = [rng.normal(size=(10, 3)) + 3 * (j % 2) for j in range(12)]
    path = tmp_path / "c.h5"
    Corpus.from_arrays(songs, [f"s{j}" for j in range(12)],
                       attrs={"feature_config": {"sr": 22050}}).save(path)
    return Corpus.open(path)


def test_g1_fit_transform_write_equals_the_model_by_hand(corpus, tmp_path):
    out = tmp_path / "g1.ckpt"
    model = fit_model("g1", corpus, out, params={"device": "cpu"})
    assert out.exists() and not resumable(G1)
    assert model.fitted_corpus_["feature_config"] == {"sr": 22050}
    options = transform_options("g1", model)
    assert options == {}
    X = transform_corpus("g1", model, corpus, options=options, model_path=out)
    np.testing.assert_allclose(X, G1(device="cpu").fit(corpus).transform(corpus), rtol=1e-6)
    reps_path = write_representations(tmp_path / "r.h5", corpus.ids, X, name="g1",
                                      model=model, options=options, source=out,
                                      attrs={"corpus": "c.h5"})
    reps = Representations.load(reps_path)
    assert reps.ids == corpus.ids and reps.attrs["model"] == "g1"
    assert reps.attrs["source"] == str(out) and reps.attrs["corpus"] == "c.h5"
    with pytest.raises(ParameterError, match="cannot resume"):
        fit_model("g1", corpus, out, resume=True)


def test_transform_refuses_other_feature_settings(corpus, tmp_path):
    model = fit_model("g1", corpus, tmp_path / "g1.ckpt", params={"device": "cpu"})
    other = Corpus.from_arrays([np.zeros((4, 3))], ["x"], attrs={"feature_config":
                                                                {"sr": 16000}})
    with pytest.raises(DataError, match="sr=22050.*sr=16000"):
        transform_corpus("g1", model, other)


def test_transform_options_default_and_refuse():
    assert transform_options("hdpgmm", HDPGMM) == {"kind": EMBED_KIND, "log": None}
    assert transform_options("hdpgmm", HDPGMM, kind="fisher", batch_size=3) == {
        "kind": "fisher", "log": None, "batch_size": 3}
    with pytest.raises(ParameterError, match="--kind does not apply to g1 models"):
        transform_options("g1", G1, kind="posterior")
    with pytest.raises(ParameterError, match="--min-weight does not apply to g1 models"):
        transform_options("g1", G1, min_weight=0.1)


def test_a_separate_checkpoint_resumes_and_is_removed(corpus, tmp_path):
    out, partial = tmp_path / "m.hdp", tmp_path / "m.partial.hdp"
    whole = fit_model("hdpgmm", corpus, tmp_path / "whole.hdp", params=TINY)
    # a run killed after its first epoch left its checkpoint
    first = fit_model("hdpgmm", corpus, partial, params={**TINY, "max_epochs": 1})
    assert first.epoch_ == 1
    resumed = fit_model("hdpgmm", corpus, out, params=TINY, resume=True, checkpoint=partial)
    assert out.exists() and not partial.exists()
    assert resumed.n_steps_ == whole.n_steps_
    np.testing.assert_allclose(resumed.transform(corpus), whole.transform(corpus),
                               rtol=1e-5)


def test_resume_refuses_other_settings_and_frames(corpus, tmp_path):
    partial = tmp_path / "p.hdp"
    fit_model("hdpgmm", corpus, partial, params={**TINY, "max_epochs": 1})
    with pytest.raises(ParameterError, match="n_components 5 contradicts"):
        fit_model("hdpgmm", corpus, partial, params={**TINY, "n_components": 5},
                  resume=True)
    rescaled = Corpus.from_arrays([2 * corpus[j] for j in range(len(corpus))], corpus.ids,
                                  attrs=dict(corpus.attrs))
    with pytest.raises(DataError, match="other frames"):
        fit_model("hdpgmm", rescaled, partial, params=TINY, resume=True)


def test_the_registry_is_the_one_list_of_models(monkeypatch):
    from hdpmusic.report import labels
    from hdpmusic.representations import registry

    assert registry.known_models() == "hdpgmm, g1, vq, kim or clmr"
    assert labels.MODEL_LABELS == {name: e.label for name, e in registry.MODELS.items()}
    for name, entry in registry.MODELS.items():
        cls = registry.model_class(name)
        assert cls.__name__ == entry.cls and registry.model_input(name) == entry.input
        if entry.input == "frames":                    # the HEAR timestamp embedding
            assert callable(cls.transform_frames)
    monkeypatch.setitem(registry.MODELS, "mine", registry.Entry("hdpmusic.baselines.g1",
                                                                "G1", "frames", "Mine"))
    assert registry.model_class("mine") is G1
    with pytest.raises(ParameterError, match="unknown model 'nope'; known: .* or mine"):
        registry.model_class("nope")
