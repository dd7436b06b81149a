"""Which songs a model was fitted on: recorded by `fit`, marked by `transform`, and
`evaluate` warns when a model saw some of the scored songs and not others."""

import base64

import numpy as np
import pytest

from hdpmusic import HDPGMM, Corpus
from hdpmusic.cli import main
from hdpmusic.evaluation.fitted import MIXED_SHARE, fitted_counts, mixed_fit_message
from hdpmusic.formats.checkpoint import extend_record, fitted_songs
from hdpmusic.formats.representations import Representations
from hdpmusic.formats.songset import add_songs, encode_songs, songs_in
from hdpmusic.formats.taskdata import TaskData, write_task
from hdpmusic.model.stopping import validation_split
from hdpmusic.runtime.errors import DataError, FormatError
from planted import planted_hdp

SPLIT = ["train", "valid", "test"] * 10


def test_songs_in_agrees_with_a_python_set():
    rng = np.random.default_rng(0)
    ids = [f"track-{rng.integers(1 << 40)}" for _ in range(4000)]
    fitted, unseen = ids[:2000], ids[2000:]
    encoded = encode_songs(fitted + fitted[:10])             # duplicates stored once
    assert len(base64.b64decode(encoded)) == 4 * 2000
    wanted = rng.permutation(ids)
    expected = np.isin(wanted, list(set(fitted)))
    got = songs_in(encoded, wanted)
    assert got[expected].all()                                 # no fitted song missed
    # an unseen song shares a 32-bit hash with one of 2000 with probability 4.7e-7
    assert got[~expected].sum() == 0
    assert not songs_in(encode_songs([]), unseen[:5]).any()


def test_adding_songs_gives_the_set_of_both():
    rng = np.random.default_rng(1)
    ids = [f"s{k}" for k in rng.permutation(300)]
    first, later = ids[:120], ids[80:200]                   # 40 songs in both
    merged = add_songs(encode_songs(first), later)
    assert merged == encode_songs(first + later)           # the same sorted unique hashes
    assert len(base64.b64decode(merged)) == 4 * 200
    assert songs_in(merged, ids).tolist() == [i in set(first + later) for i in ids]
    assert add_songs(encode_songs([]), []) == encode_songs([])
    with pytest.raises(FormatError, match="damaged"):
        add_songs("not base64!", ["a"])


@pytest.mark.parametrize("record", ["not base64!", base64.b64encode(b"abcde").decode()])
def test_a_damaged_record_is_refused(record):
    with pytest.raises(FormatError, match="damaged"):
        songs_in(record, ["a"])


def test_a_model_without_a_record_says_nothing():
    from types import SimpleNamespace

    assert fitted_songs(SimpleNamespace(fitted_corpus_={"feature_config": None}), ["a"]) is None
    assert fitted_songs(object(), ["a"]) is None


@pytest.mark.parametrize("share", [0.0, MIXED_SHARE / 2, 1 - MIXED_SHARE / 2, 1.0])
def test_all_or_none_fitted_is_not_mixed(share):
    fitted = np.arange(200) < round(share * 200)
    assert mixed_fit_message(fitted_counts(fitted)) is None


def test_a_mixed_fit_is_named_with_the_parts_of_the_split():
    parts = np.array(["test", "train", "valid", "train", "dev"] * 4)
    fitted = np.isin(parts, ["train", "valid"])
    counts = fitted_counts(fitted, parts)
    assert counts == {"all": [12, 20], "train": [8, 8], "valid": [4, 4], "test": [0, 4],
                      "dev": [0, 4]}
    message = mixed_fit_message(counts)
    assert "fitted on 12 of the 20 songs scored" in message
    assert "(train 8 of 8, valid 4 of 4, test 0 of 4, dev 0 of 4)" in message
    assert "fitted on 12 of the 20 songs scored:" in mixed_fit_message(fitted_counts(fitted))


def test_representations_keep_their_fitted_flags(tmp_path):
    reps = Representations(["a", "b", "c"], np.eye(3), {"model": "vq"},
                           fitted=np.array([1, 0, 1]))
    reps.save(tmp_path / "r.h5")
    back = Representations.load(tmp_path / "r.h5")
    assert back.fitted_for(["c", "b"]).tolist() == [True, False]
    Representations(["a"], np.ones((1, 2))).save(tmp_path / "plain.h5")
    assert Representations.load(tmp_path / "plain.h5").fitted_for(["a"]) is None
    with pytest.raises(DataError, match="one 'fitted' flag per id"):
        Representations(["a", "b"], np.eye(2), fitted=np.ones(3, dtype=bool))


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    """30 songs of 3-d frames in two classes, each split a third of them."""
    rng = np.random.default_rng(0)
    targets = ["a", "b"] * 15
    arrays = [rng.normal(size=(20, 3)) + (3.0 if t == "a" else 0.0) for t in targets]
    ids = [f"song{j:02d}" for j in range(len(SPLIT))]
    path = tmp_path_factory.mktemp("fitted") / "task.h5"
    Corpus.from_arrays(arrays, ids=ids).save(path)
    write_task(path, TaskData(ids=ids, split=SPLIT, targets=targets))
    return path


def _evaluate_warnings(task_file, tmp_path, capsys, model, songs):
    """Fit ``model`` (on the ``songs`` splits, or all), transform all songs, evaluate and
    report; the representation file's flags, the warnings evaluate printed and the
    report's cautions."""
    fit = ["-q", "fit", str(task_file), "--model", model, "--out", str(tmp_path / "m.hdp"),
           "--seed", "1"] + (["--n-clusters", "2"] if model == "vq" else [])
    assert main(fit + (["--songs", songs] if songs else [])) == 0
    reps = tmp_path / "r.h5"
    assert main(["-q", "transform", str(tmp_path / "m.hdp"), str(task_file),
                 "--out", str(reps)]) == 0
    capsys.readouterr()
    assert main(["-q", "evaluate", str(task_file), str(reps), "--out", str(tmp_path / "ev"),
                 "--runs", "1", "--n-iter", "2"]) == 0
    err = capsys.readouterr().err
    assert main(["-q", "report", str(tmp_path / "ev"), "--out", str(tmp_path / "rep")]) == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    return (Representations.load(reps).fitted,
            [line for line in err.splitlines() if "fitted on" in line],
            [line for line in report.splitlines() if line.startswith("**Caution**")])


def test_evaluate_warns_of_a_model_fitted_on_train_and_valid_only(task_file, tmp_path,
                                                                  capsys):
    fitted, warned, cautions = _evaluate_warnings(task_file, tmp_path, capsys, "vq",
                                                  "train,valid")
    assert fitted.tolist() == [s != "test" for s in SPLIT]
    assert len(warned) == 1
    assert warned[0].startswith("warning: r: the model")   # r: the file's label
    said = "fitted on 20 of the 30 songs scored (train 10 of 10, valid 10 of 10, test 0 of 10)"
    assert said in warned[0]
    assert len(cautions) == 1 and cautions[0].startswith("**Caution**: r on genre: the ")
    assert said in cautions[0]


def test_evaluate_is_quiet_when_the_model_saw_every_song(task_file, tmp_path, capsys):
    fitted, warned, cautions = _evaluate_warnings(task_file, tmp_path, capsys, "vq", None)
    assert fitted.all() and warned == [] and cautions == []


def test_g1_vectors_do_not_depend_on_its_fit(task_file, tmp_path, capsys):
    fitted, warned, cautions = _evaluate_warnings(task_file, tmp_path, capsys, "g1",
                                                  "train,valid")
    assert fitted is None and warned == [] and cautions == []


def test_a_python_api_fit_records_the_songs_it_used(tmp_path):
    """HDPGMM.fit on a corpus marks the songs it fitted: a capped early-stopped fit leaves
    its held-out tenth unmarked (it never saw them), one that stopped folds them in and
    marks every song; the record survives save/load, and arrays (no ids) record none."""
    songs = planted_hdp(seed=1, n_true=6, d=3, songs=60, frames=(20, 40))[0]
    ids = [f"t{j:02d}" for j in range(60)]
    corpus = Corpus.from_arrays(songs, ids=ids)
    params = dict(n_components=12, n_song_components=4, batch_size=20, verbose=False,
                  random_state=0, device="cpu", tol=0.0, early_stopping=True,
                  n_iter_no_change=2)
    capped = HDPGMM(**params, max_epochs=2).fit(corpus)      # tol 0: no capped warning
    train, _ = validation_split(60, 0.1, seed=0)
    assert np.flatnonzero(fitted_songs(capped, ids)).tolist() == sorted(train)
    capped.save(tmp_path / "m.hdp")
    again = HDPGMM.load(tmp_path / "m.hdp")
    assert fitted_songs(again, ids).tolist() == fitted_songs(capped, ids).tolist()
    stopped = HDPGMM(**params, max_epochs=40).fit(corpus)
    assert stopped.passes_[-1]["folded_in"] and fitted_songs(stopped, ids).all()
    plain = HDPGMM(**{**params, "early_stopping": False}, max_epochs=1).fit(songs)
    assert fitted_songs(plain, ids) is None


def test_partial_fit_records_the_songs_of_every_batch(tmp_path):
    """An online model fitted batch by batch marks every song of every batch (not only
    the last), keeps the first batch's feature settings, refuses a batch of other
    settings before touching the model, and knows no songs once a batch of arrays came."""
    songs = planted_hdp(seed=1, n_true=6, d=3, songs=40, frames=(20, 40))[0]
    ids = [f"t{j:02d}" for j in range(40)]
    config = {"sr": 22050, "hop_length": 512}
    batch = [Corpus.from_arrays(songs[a:b], ids=ids[a:b], attrs={"feature_config": config})
             for a, b in [(0, 10), (10, 20), (20, 30)]]
    params = dict(n_components=8, n_song_components=3, algorithm="online", verbose=False,
                  random_state=0, device="cpu")
    model = HDPGMM(**params).partial_fit(batch[0], corpus_size=40).partial_fit(batch[1])
    assert np.flatnonzero(fitted_songs(model, ids)).tolist() == list(range(20))
    assert model.fitted_corpus_["feature_config"] == config
    assert model.fitted_corpus_["content"] is None           # no one corpus to resume on
    model.save(tmp_path / "m.hdp")
    assert fitted_songs(HDPGMM.load(tmp_path / "m.hdp"), ids).tolist() == \
        fitted_songs(model, ids).tolist()
    other = Corpus.from_arrays(songs[20:30], ids=ids[20:30],
                               attrs={"feature_config": {**config, "hop_length": 256}})
    steps = model.n_steps_
    with pytest.raises(DataError, match="hop_length=256 but .* hop_length=512"):
        model.partial_fit(other)
    assert model.n_steps_ == steps and fitted_songs(model, ids)[:20].all()
    model.partial_fit(songs[30:])                             # arrays: songs now unknown
    assert fitted_songs(model, ids) is None
    model.partial_fit(batch[2])
    assert fitted_songs(model, ids) is None


@pytest.mark.filterwarnings("ignore:online inference will make:RuntimeWarning")
def test_partial_fit_after_fit_adds_to_the_fitted_songs():
    songs = planted_hdp(seed=2, n_true=6, d=3, songs=40, frames=(20, 40))[0]
    ids = [f"t{j:02d}" for j in range(40)]
    corpus = Corpus.from_arrays(songs, ids=ids)
    model = HDPGMM(n_components=8, n_song_components=3, algorithm="online", max_epochs=1,
                   batch_size=10, verbose=False, random_state=0,
                   device="cpu").fit(corpus.subset(np.arange(30)))
    assert model.fitted_corpus_["content"].startswith("sha256:")
    model.partial_fit(corpus.subset(np.arange(30, 40)))
    assert fitted_songs(model, ids).all() and model.fitted_corpus_["content"] is None


def test_a_model_fitted_batch_by_batch_counts_the_library_versions_of_all_its_batches():
    old = {"librosa": "0.10.1"}
    new = {"librosa": "0.11.0"}
    songs = [np.zeros((3, 2), np.float32)] * 9
    batches = [Corpus.from_arrays(songs[:4], ids=list("abcd"),
                                  attrs={"feature_libraries": [{"tracks": 4,
                                                                "libraries": old}]}),
               Corpus.from_arrays(songs[:3], ids=list("efg"),
                                  attrs={"feature_libraries": [{"tracks": 1, "libraries": old},
                                                               {"tracks": 2,
                                                                "libraries": new}]}),
               Corpus.from_arrays(songs[:2], ids=list("hi"))]        # recorded nothing
    record = extend_record(None, batches[0], start=True)
    for batch in batches[1:]:
        record = extend_record(record, batch, start=False)
    assert record["feature_libraries"] == [{"tracks": 5, "libraries": old},
                                           {"tracks": 2, "libraries": new},
                                           {"tracks": 2, "libraries": None}]
    # a batch of arrays leaves them unknown from then on, as it leaves the songs
    record = extend_record(record, np.zeros((3, 2)), start=False)
    assert record["feature_libraries"] is None and record["songs"] is None
