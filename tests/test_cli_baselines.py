"""`hdpmusic fit --model g1|vq|kim|clmr` and `hdpmusic transform` for every model."""

import numpy as np
import pytest

from audio_gen import write_music
from cli_checks import one_line_error
from hdpmusic import Corpus, Representations
from hdpmusic.baselines.g1 import G1
from hdpmusic.baselines.vq import VQCodebook
from hdpmusic.cli import main
from planted import planted_hdp


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    X, _ = planted_hdp(seed=2, n_true=4, d=3, songs=40, frames=(20, 40))
    path = tmp_path_factory.mktemp("frames") / "corpus.h5"
    Corpus.from_arrays(X, ids=[f"song{j:02d}" for j in range(len(X))]).save(path)
    return path


@pytest.fixture(scope="module")
def audio_corpus(tmp_path_factory):
    """Four generated songs extracted by `hdpmusic extract` (which records their folder)."""
    root = tmp_path_factory.mktemp("audio")
    for i in range(4):
        write_music(root / "songs" / f"s{i}.wav", seconds=2.0, seed=i)
    assert main(["-q", "extract", str(root / "songs"), "--out", str(root / "c.h5"),
                 "--jobs", "1"]) == 0
    return root / "c.h5"



def test_g1_fit_and_transform(corpus_file, tmp_path, capsys):
    model, reps = tmp_path / "g1.ckpt", tmp_path / "g1.h5"
    assert main(["-q", "fit", str(corpus_file), "--model", "g1", "--out", str(model),
                 "--batch-size", "7"]) == 0
    assert "saved" in capsys.readouterr().out
    assert G1.load(model).batch_size == 7
    assert main(["transform", str(model), str(corpus_file), "--out", str(reps)]) == 0
    out = Representations.load(reps)
    corpus = Corpus.open(corpus_file)
    assert out.ids == corpus.ids and out.X.shape == (40, 6)
    np.testing.assert_array_equal(out.X, G1().fit(corpus).transform(corpus))
    assert out.attrs["model"] == "g1" and "kind" not in out.attrs and "log" not in out.attrs


def test_vq_fit_and_transform(corpus_file, tmp_path):
    model, reps = tmp_path / "vq.ckpt", tmp_path / "vq.h5"
    assert main(["-q", "fit", str(corpus_file), "--model", "vq", "--out", str(model),
                 "--n-clusters", "6", "--batch-size", "64", "--epochs", "3", "--seed", "1",
                 "--device", "cpu"]) == 0
    vq = VQCodebook.load(model)
    assert (vq.n_clusters, vq.batch_size, vq.max_epochs, vq.random_state, vq.verbose) == \
        (6, 64, 3, 1, False)
    assert main(["-q", "transform", str(model), str(corpus_file), "--out", str(reps)]) == 0
    logged = Representations.load(reps)
    assert logged.X.shape == (40, 6) and logged.attrs["log"] is True
    np.testing.assert_allclose(np.exp(logged.X).sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(logged.X, vq.transform(Corpus.open(corpus_file)))
    assert main(["-q", "transform", str(model), str(corpus_file), "--out", str(reps),
                 "--no-log", "--batch-size", "5", "--overwrite"]) == 0
    plain = Representations.load(reps)
    assert plain.attrs["log"] is False
    np.testing.assert_allclose(plain.X.sum(1), 1.0, atol=1e-6)


def test_unknown_model_is_a_one_line_error(corpus_file, tmp_path, capsys):
    assert main(["fit", str(corpus_file), "--model", "nope", "--out",
                 str(tmp_path / "m")]) == 1
    one_line_error(capsys, "unknown model 'nope'", "clmr", "g1", "hdpgmm", "kim", "vq")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("args, message", [
    (["--model", "g1", "--n-clusters", "4"], "--n-clusters does not apply to --model g1"),
    (["--model", "g1", "--epochs", "4"], "--epochs does not apply to --model g1"),
    (["--model", "vq", "--n-components", "5"], "--n-components applies to --model hdpgmm"),
    (["--model", "vq", "--resume"], "--resume does not apply to --model vq"),
    (["--model", "vq", "--audio-root", "."], "--audio-root applies to audio models"),
    (["--n-clusters", "4"], "--n-clusters does not apply to --model hdpgmm"),
    (["--model", "vq", "--steps", "4"], "--steps does not apply to --model vq"),
])
def test_options_of_other_models_are_refused(corpus_file, tmp_path, capsys, args, message):
    out = tmp_path / "m.ckpt"
    assert main(["fit", str(corpus_file), "--out", str(out), *args]) == 1
    one_line_error(capsys, message)
    assert not out.exists()


def test_transform_options_and_existing_output(corpus_file, tmp_path, capsys):
    model = tmp_path / "vq.ckpt"
    assert main(["-q", "fit", str(corpus_file), "--model", "vq", "--out", str(model),
                 "--n-clusters", "4"]) == 0
    before = model.read_bytes()
    assert main(["fit", str(corpus_file), "--model", "vq", "--out", str(model)]) == 1
    one_line_error(capsys, "exists", "--overwrite")
    assert model.read_bytes() == before
    assert main(["transform", str(model), str(corpus_file), "--out", str(tmp_path / "r.h5"),
                 "--kind", "loglik"]) == 1
    one_line_error(capsys, "--kind does not apply to vq models")
    g1 = tmp_path / "g1.ckpt"
    assert main(["-q", "fit", str(corpus_file), "--model", "g1", "--out", str(g1)]) == 0
    assert main(["transform", str(g1), str(corpus_file), "--out", str(tmp_path / "r.h5"),
                 "--no-log"]) == 1
    one_line_error(capsys, "--no-log does not apply to g1")
    assert main(["transform", str(g1), str(corpus_file), "--out", str(tmp_path / "r.h5"),
                 "--min-weight", "0.1"]) == 1
    one_line_error(capsys, "--min-weight does not apply to g1 models")
    assert not (tmp_path / "r.h5").exists()


def test_audio_models_need_their_audio(corpus_file, audio_corpus, tmp_path, capsys):
    pytest.importorskip("hdpmusic.baselines.kim")
    out = str(tmp_path / "kim.ckpt")
    # a corpus that does not record its audio folder
    assert main(["fit", str(corpus_file), "--model", "kim", "--out", out]) == 1
    one_line_error(capsys, "pass --audio-root DIR|LIST")
    assert main(["fit", str(corpus_file), "--model", "kim", "--out", out,
                 "--audio-root", str(tmp_path)]) == 1
    one_line_error(capsys, "40 of 40 audio files", "song00")
    assert main(["fit", str(audio_corpus), "--model", "kim", "--out", out,
                 "--audio-root", str(tmp_path / "elsewhere")]) == 1
    one_line_error(capsys, "does not exist")
    assert main(["fit", str(audio_corpus), "--model", "kim", "--out", out,
                 "--n-clusters", "3"]) == 1
    one_line_error(capsys, "--n-clusters does not apply to --model kim")


@pytest.mark.parametrize("model, options", [
    ("kim", ["--channels", "4,8", "--n-mels", "16", "--chunk-frames", "32",
             "--hidden-dim", "8"]),
    ("clmr", ["--channels", "4,4,4,4,4,4", "--projection-dim", "8"]),
])
def test_audio_models_fit_and_transform(audio_corpus, tmp_path, model, options):
    pytest.importorskip(f"hdpmusic.baselines.{model}")
    ckpt, reps = tmp_path / f"{model}.ckpt", tmp_path / f"{model}.h5"
    assert main(["-q", "fit", str(audio_corpus), "--model", model, "--out", str(ckpt),
                 "--steps", "2", "--batch-size", "4", "--num-workers", "0", "--seed", "3",
                 *options]) == 0
    assert main(["-q", "transform", str(ckpt), str(audio_corpus), "--out", str(reps),
                 "--batch-size", "256"]) == 0
    out = Representations.load(reps)
    assert out.ids == [f"s{i}.wav" for i in range(4)] and out.attrs["model"] == model
    assert out.X.shape[0] == 4 and np.isfinite(out.X).all() and out.X.std(0).max() > 0
    assert out.fitted is not None and out.fitted.all()     # trained on every song


def test_audio_of_a_corpus_extracted_from_a_list_file(audio_corpus, tmp_path, capsys):
    """Ids that are not paths (MSD track ids) map back to audio through the list file."""
    pytest.importorskip("hdpmusic.baselines.kim")
    from hdpmusic.audio.extract import audio_paths
    from hdpmusic.formats.corpus import Corpus

    songs = audio_corpus.parent / "songs"
    listing = tmp_path / "tracks.tsv"
    listing.write_text("".join(f"{songs / f's{i}.wav'}\tTRACK{i:03d}\n" for i in range(4)))
    corpus_path = tmp_path / "msd.h5"
    assert main(["-q", "extract", str(listing), "--out", str(corpus_path), "--jobs", "1"]) == 0
    corpus = Corpus.open(corpus_path)
    assert corpus.ids == [f"TRACK{i:03d}" for i in range(4)]
    assert audio_paths(corpus) == [str(songs / f"s{i}.wav") for i in range(4)]
    out = tmp_path / "kim.ckpt"
    options = ["--channels", "4,8", "--n-mels", "16", "--chunk-frames", "32",
               "--hidden-dim", "8", "--steps", "1", "--batch-size", "4",
               "--num-workers", "0"]
    assert main(["-q", "fit", str(corpus_path), "--model", "kim", "--out", str(out),
                 *options]) == 0
    # an explicit list that lacks a track names it
    partial = tmp_path / "partial.tsv"
    partial.write_text("".join(listing.read_text().splitlines(keepends=True)[:3]))
    assert main(["fit", str(corpus_path), "--model", "kim", "--out", str(tmp_path / "k2"),
                 "--audio-root", str(partial), *options]) == 1
    one_line_error(capsys, "1 of 4 audio files", "TRACK003")


def test_audio_model_resume_keeps_its_settings(audio_corpus, tmp_path, capsys):
    """--resume of kim continues with the saved settings: a contradicting option is an
    error, --steps extends the run."""
    pytest.importorskip("hdpmusic.baselines.kim")
    from hdpmusic.baselines.kim import KIM

    ckpt = str(tmp_path / "kim.ckpt")
    options = ["--channels", "4,8", "--n-mels", "16", "--chunk-frames", "32",
               "--hidden-dim", "8", "--num-workers", "0"]
    assert main(["-q", "fit", str(audio_corpus), "--model", "kim", "--out", ckpt,
                 "--steps", "1", "--batch-size", "4", "--seed", "3", *options]) == 0
    capsys.readouterr()
    for option, value, saved in (("--batch-size", "2", "fitted with 4"),
                                 ("--channels", "4,4", "fitted with 4,8"),
                                 ("--seed", "5", "fitted with 3")):
        assert main(["-q", "fit", str(audio_corpus), "--model", "kim", "--out", ckpt,
                     "--resume", option, value]) == 1
        one_line_error(capsys, f"{option} {value} contradicts", saved)
    assert main(["-q", "fit", str(audio_corpus), "--model", "kim", "--out", ckpt, "--resume",
                 "--steps", "2", "--batch-size", "4", *options]) == 0   # the same: fine
    assert KIM.load(ckpt).n_steps_ == 2


@pytest.fixture(scope="module")
def configured_corpora(tmp_path_factory):
    """The same frames recorded as extracted with the default settings and with hop 256."""
    from hdpmusic.audio.features import FeatureConfig

    X, _ = planted_hdp(seed=2, n_true=4, d=3, songs=20, frames=(20, 40))
    root = tmp_path_factory.mktemp("configs")
    paths = {}
    for name, config in (("default", FeatureConfig()), ("hop256", FeatureConfig(hop_length=256))):
        paths[name] = root / f"{name}.h5"
        Corpus.from_arrays(X, attrs={"feature_config": config.to_dict()}).save(paths[name])
    return paths


@pytest.mark.parametrize("options", [
    ["--model", "g1"], ["--model", "vq", "--n-clusters", "3", "--epochs", "1"],
    ["--n-components", "4", "--n-song-components", "2", "--epochs", "1"],
])
def test_transform_refuses_features_of_other_settings(configured_corpora, tmp_path, capsys,
                                                      options):
    """Every frame model records its corpus's feature settings; transform refuses a corpus
    extracted otherwise, naming both settings, and an older file is not checked."""
    from hdpmusic.representations.registry import load_model

    model, reps = tmp_path / "m.ckpt", tmp_path / "r.h5"
    assert main(["-q", "fit", str(configured_corpora["default"]), "--out", str(model),
                 *options]) == 0
    _, fitted = load_model(model)
    assert fitted.fitted_corpus_["feature_config"]["hop_length"] == 512
    assert main(["-q", "transform", str(model), str(configured_corpora["default"]),
                 "--out", str(reps)]) == 0
    capsys.readouterr()
    assert main(["-q", "transform", str(model), str(configured_corpora["hop256"]), "--out",
                 str(tmp_path / "bad.h5")]) == 1
    one_line_error(capsys, "hop_length=512", "hop_length=256", "hop256.h5")
    assert not (tmp_path / "bad.h5").exists()
    fitted.fitted_corpus_ = None  # as a file written before the settings were recorded
    fitted.save(model)
    assert main(["-q", "transform", str(model), str(configured_corpora["hop256"]), "--out",
                 str(tmp_path / "old.h5")]) == 0
