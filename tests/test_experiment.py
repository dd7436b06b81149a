"""``hdpmusic experiment compare | sweep`` end to end on tiny generated corpora."""

from pathlib import Path

import numpy as np
import pytest

from hdpmusic.cli import main
from hdpmusic.evaluation.protocol import read_results
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.taskdata import TaskData, write_task
from hdpmusic.pipeline.experiment import parse_subsets, subset_indices, sweep_variants

GENRES = np.array(["blues", "metal", "pop"])
TINY = ["--n-components", "6", "--n-song-components", "3", "--epochs", "1",
        "--batch-size", "16", "--local-max-iter", "5", "--runs", "2", "--n-iter", "2",
        "--device", "cpu"]


def _songs(rng, labels):
    means = {g: 3.0 * np.eye(3)[i] for i, g in enumerate(GENRES)}
    return [rng.normal(size=(12, 3)) + means[g] for g in labels]


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    train = tmp_path / "train.h5"
    Corpus.from_arrays(_songs(rng, rng.choice(GENRES, 40)),
                       [f"tr{j}" for j in range(40)]).save(train)
    y = np.tile(GENRES, 10)
    ids = [f"g{j:02d}" for j in range(30)]
    task = tmp_path / "gtzan.h5"
    Corpus.from_arrays(_songs(rng, y), ids).save(task)
    split = np.array(["train"] * 15 + ["valid"] * 6 + ["test"] * 9)
    write_task(task, TaskData(ids=ids, split=split, targets=y))
    return train, task


def test_compare_end_to_end_and_resume(data, tmp_path, capsys):
    train, task = data
    out = tmp_path / "cmp"
    argv = ["-q", "experiment", "compare", "--train", str(train), "--task", str(task),
            "--models", "hdpgmm,g1,vq,kim", "--vq-clusters", "4", "--out", str(out), *TINY]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "skipping kim" in err
    results = read_results(out / "results.json")
    assert [(r.model, r.task, r.run) for r in results] == [
        (m, "genre", run) for m in ("hdpgmm", "g1", "vq") for run in (0, 1)]
    assert all(0.0 <= r.score <= 1.0 for r in results)
    assert (out / "results.csv").exists()
    report = out / "report"
    assert (report / "report.html").exists()
    assert (report / "hdpgmm_training.png").exists()
    md = (report / "report.md").read_text()
    # one row per model: the probe's split sizes are not read as a learning factor
    assert "| HDPGMM |" in md and "| G1 |" in md and "n_train" not in md
    models = {p.name: p.stat().st_mtime_ns for p in (out / "models").iterdir()}
    assert sorted(models) == ["g1.hdp", "hdpgmm.hdp", "vq.hdp"]
    reps = {p.name: p.stat().st_mtime_ns for p in (out / "reps").iterdir()}
    assert sorted(reps) == ["g1_gtzan.h5", "hdpgmm_gtzan.h5", "vq_gtzan.h5"]

    (out / "results.json").unlink()
    assert main(argv) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "models").iterdir()} == models
    assert {p.name: p.stat().st_mtime_ns for p in (out / "reps").iterdir()} == reps
    again = read_results(out / "results.json")
    assert [r.score for r in again] == [r.score for r in results]
    assert all(r.predictions is not None for r in again)      # reused with predictions

    # results of an older version (no predictions, hence no CI) are evaluated again
    import json

    pair = out / "evals" / "g1_gtzan" / "genre"
    content = json.loads((pair / "results.json").read_text())
    old = {"format": content["format"], "format_version": 1,
           "results": [{k: v for k, v in r.items() if k != "predictions"}
                       for r in content["results"]]}
    (pair / "results.json").write_text(json.dumps(old))
    (pair / "predictions.npz").unlink()
    assert main(argv) == 0
    assert (pair / "predictions.npz").exists()
    assert read_results(pair)[0].predictions is not None

    # a representation file made by an earlier definition of its kind (as after an
    # upgrade) is rewritten and scored again; the others are reused as they are
    from hdpmusic.formats.representations import Representations

    hd = out / "reps" / "hdpgmm_gtzan.h5"
    stale = Representations.load(hd)
    assert stale.attrs["revision"] == 1
    stale.attrs["revision"] = 0
    stale.save(hd, overwrite=True)
    scored = out / "evals" / "hdpgmm_gtzan" / "genre" / "results.json"
    before = scored.stat().st_mtime_ns
    g1_rep = (out / "reps" / "g1_gtzan.h5").stat().st_mtime_ns
    assert main(argv) == 0
    assert Representations.load(hd).attrs["revision"] == 1
    assert scored.stat().st_mtime_ns > before
    assert (out / "reps" / "g1_gtzan.h5").stat().st_mtime_ns == g1_rep

    # a changed HDPGMM setting does not silently reuse the old model
    changed = [a if a != "6" else "5" for a in argv]
    assert main(changed) == 1
    assert "n_components" in capsys.readouterr().err


def test_sweep_end_to_end(data, tmp_path, capsys):
    train, task = data
    out = tmp_path / "sweep"
    argv = ["-q", "experiment", "sweep", "--train", str(train), "--task", str(task),
            "--eta0", "1e-3,1e-1", "--subsets", "20x2,1000x5", "--out", str(out), *TINY]
    assert main(argv) == 0
    assert "skipping subsets of 1000 songs" in capsys.readouterr().err
    results = read_results(out / "results.json")
    assert len(results) == (2 + 2) * 2
    configs = sorted({(r.config["eta0"], r.config["n_train"], r.config.get("subset"))
                      for r in results}, key=str)
    assert configs == sorted({(1e-3, 40, None), (0.1, 40, None), (0.1, 20, 0),
                              (0.1, 20, 1)}, key=str)
    assert all(r.model == "hdpgmm" for r in results)
    report = out / "report"
    assert (report / "eta0_effect.png").exists()
    assert (report / "size_effect.png").exists()
    names = sorted(p.name for p in (out / "models").iterdir())
    assert names == ["hdpgmm_eta0-0.001.hdp", "hdpgmm_eta0-0.1.hdp",
                     "hdpgmm_eta0-0.1_n20_s0.hdp", "hdpgmm_eta0-0.1_n20_s1.hdp"]


def test_subsets_are_seeded_and_distinct():
    a, b = subset_indices(100, 10, 0, 0), subset_indices(100, 10, 0, 1)
    assert np.array_equal(a, subset_indices(100, 10, 0, 0))
    assert not np.array_equal(a, b)
    assert len(np.unique(a)) == 10 and a.max() < 100
    assert parse_subsets("2000x5, 20000x5") == [(2000, 5), (20000, 5)]
    variants = sweep_variants(50, eta0s=[0.01], subsets=[(10, 3), (60, 2)])
    assert [v.config.get("n_train") for v in variants] == [50, 10, 10, 10]
    assert [len(v.indices) for v in variants[1:]] == [10, 10, 10]


def test_sweep_fits_every_eta0_and_subset_and_counts_subsets_as_fits():
    """fits=2: each η0 and each subset is fitted with seeds 3 and 4; the fits of one η0,
    and a size's subsets with their fits, are numbered as fits of one model."""
    variants = sweep_variants(50, eta0s=[0.01], subsets=[(10, 2), (20, 1)], seed=3, fits=2)
    assert [v.name for v in variants] == [
        "hdpgmm_eta0-0.01", "hdpgmm_eta0-0.01_fit1",
        "hdpgmm_eta0-0.1_n10_s0", "hdpgmm_eta0-0.1_n10_s0_fit1",
        "hdpgmm_eta0-0.1_n10_s1", "hdpgmm_eta0-0.1_n10_s1_fit1",
        "hdpgmm_eta0-0.1_n20_s0", "hdpgmm_eta0-0.1_n20_s0_fit1"]
    assert [v.params["random_state"] for v in variants] == [3, 4] * 4
    assert [v.fit for v in variants] == [0, 1, 0, 1, 2, 3, 0, 1]
    assert np.array_equal(variants[2].indices, variants[3].indices)
    assert not np.array_equal(variants[2].indices, variants[4].indices)
    one = sweep_variants(50, eta0s=[0.01], subsets=[(10, 2), (20, 1)], seed=3)
    assert [v.fit for v in one] == [None, 0, 1, None]       # the subsets of 10: two fits
    assert [v.name for v in one] == [v.name for v in variants[::2]]


@pytest.mark.filterwarnings("ignore:online inference will make")
def test_sweep_with_fits_summarises_fits_and_rescores_a_relabelled_fit(data, tmp_path):
    """`experiment sweep --fits 2`: the summary counts the fits of each η0 and the subsets
    of a size with their fits; results saved under another fit number are not reused."""
    from hdpmusic.evaluation.protocol import summarise
    from hdpmusic.report import relabel

    train, task = data
    out = tmp_path / "sweep"
    argv = ["-q", "experiment", "sweep", "--train", str(train), "--task", str(task),
            "--eta0", "0.1", "--subsets", "20x2", "--fits", "2", "--out", str(out), *TINY]
    assert main(argv) == 0
    results = read_results(out / "results.json")
    fits = {row["model"]: row["fits"] for row in summarise(relabel(results))}
    assert fits == {"hdpgmm (η0=0.1, n_train=40)": 2, "hdpgmm (η0=0.1, n_train=20)": 4}
    runs = sorted(r.run for r in results if r.config.get("subset") == 1)
    assert runs == [4, 5, 6, 7]                          # fits 2 and 3, two runs each
    assert sorted(p.name for p in (out / "models").iterdir())[:2] == [
        "hdpgmm_eta0-0.1.hdp", "hdpgmm_eta0-0.1_fit1.hdp"]
    where = out / "evals" / "hdpgmm_eta0-0.1_n20_s1_gtzan" / "genre" / "results.json"
    saved = where.read_text()
    where.write_text(saved.replace('"fit": 2', '"fit": 7'))
    assert '"fit": 7' in where.read_text()
    assert main(argv) == 0
    assert '"fit": 2' in where.read_text() and '"fit": 7' not in where.read_text()


def test_compare_includes_audio_models_when_their_audio_is_known(tmp_path):
    from hdpmusic.pipeline.experiment import compare
    from hdpmusic.runtime.errors import HdpmusicError
    from test_baseline_training import timbre_songs

    audio = tmp_path / "audio"
    audio.mkdir()
    paths, labels = timbre_songs(audio, per_class=6, seconds=1.0)
    ids = [Path(p).name for p in paths]
    rng = np.random.default_rng(0)
    frames = [rng.normal(size=(5, 3)) for _ in ids]
    train, task = tmp_path / "train.h5", tmp_path / "timbre.h5"
    # corpora that record their audio folder, as `hdpmusic extract` writes them
    Corpus.from_arrays(frames, ids, attrs={"audio_root": str(audio)}).save(train)
    Corpus.from_arrays(frames, ids, attrs={"audio_root": str(audio)}).save(task)
    split = np.array(["train", "train", "valid", "test"] * 4 + ["train", "test"])
    write_task(task, TaskData(ids=ids, split=split, targets=[f"c{c}" for c in labels]))
    kim = dict(n_mels=32, chunk_frames=32, channels=(8, 16, 32), hidden_dim=32, head_dim=16,
               batch_size=6, max_steps=3, num_workers=0, verbose=False)
    out = tmp_path / "cmp"
    timings = {}
    results = compare(train, [task], out, models=("kim",), runs=1, device="cpu",
                      params={"kim": kim}, n_iter=2, timings=timings)
    assert [(r.model, r.task) for r in results] == [("kim", "genre")]
    assert sorted(timings) == ["evaluate kim genre", "fit kim", "report", "transform kim"]
    assert all(t > 0 for t in timings.values())
    model = (out / "models" / "kim.hdp")
    assert model.exists() and (out / "reps" / "kim_timbre.h5").exists()
    from hdpmusic.baselines.kim import KIM

    assert KIM.load(model).get_params()["max_steps"] == 3
    # a rerun reuses the model fitted with the same (tuple-valued) parameters
    stamp = model.stat().st_mtime_ns
    again = compare(train, [task], out, models=("kim",), runs=1, device="cpu",
                    params={"kim": kim}, n_iter=2)
    assert again == results and model.stat().st_mtime_ns == stamp
    with pytest.raises(HdpmusicError, match="was fitted with channels=.*delete it"):
        compare(train, [task], out, models=("kim",), runs=1, device="cpu",
                params={"kim": {**kim, "channels": (8, 16, 16)}}, n_iter=2)
    (audio / ids[0]).unlink()
    with pytest.raises(HdpmusicError, match=f"1 of 18 audio files .* missing.*{ids[0]}"):
        compare(train, [task], tmp_path / "again", models=("kim",), runs=1, device="cpu",
                params={"kim": kim}, audio_root=audio, n_iter=2)


def test_task_kinds_label_by_kind_and_file_when_shared(tmp_path):
    from hdpmusic.pipeline.experiment import task_kinds

    a = TaskData(["x", "y"], targets=["1", "2"], split=["train", "test"])
    b = TaskData(["x", "y"], targets=["1", "2"], annotations=np.eye(2), tags=["t", "u"],
                 split=["train", "test"])
    pairs = task_kinds([Path("mine.h5"), Path("gtzan.h5")], [a, b])
    assert pairs == {Path("mine.h5"): [("genre", "genre (mine)")],
                     Path("gtzan.h5"): [("genre", "genre (gtzan)"), ("tagging", "tagging")]}


def test_compare_scores_further_hdpgmm_kinds_from_one_fit(data, tmp_path):
    """hdpgmm_kinds adds a row per kind, transformed from the one fitted model."""
    from hdpmusic.formats.representations import Representations
    from hdpmusic.model.hdpgmm import HDPGMM
    from hdpmusic.pipeline.experiment import compare

    train, task = data
    out = tmp_path / "kinds"
    results = compare(train, [task], out, models=("hdpgmm",), runs=1, device="cpu",
                      n_iter=2, params={"hdpgmm": {"n_components": 6, "n_song_components": 3,
                                                   "max_epochs": 1, "batch_size": 16}},
                      hdpgmm_kinds=("fisher-mean",))
    assert [r.model for r in results] == ["hdpgmm", "hdpgmm fisher-mean"]
    assert sorted(p.name for p in (out / "models").iterdir()) == ["hdpgmm.hdp"]
    model = HDPGMM.load(out / "models" / "hdpgmm.hdp")
    reps = Representations.load(out / "reps" / "hdpgmm_fisher-mean_gtzan.h5")
    assert reps.attrs["kind"] == "fisher-mean"
    np.testing.assert_allclose(reps.X, model.transform(Corpus.open(task), kind="fisher-mean"),
                               rtol=1e-5, atol=1e-6)
    assert Representations.load(out / "reps" / "hdpgmm_gtzan.h5").attrs["kind"] == "posterior"


def test_stale_attribute_names_the_first_difference():
    """A saved file without a revision counts as revision 1; any other recorded
    difference (another kind revision, other components) makes it stale."""
    from hdpmusic.pipeline.experiment import stale_attribute

    now = {"model": "hdpgmm", "kind": "fisher", "revision": 2, "components": [0, 2]}
    assert stale_attribute({**now, "source": "m.hdp"}, now) is None
    old = {k: v for k, v in now.items() if k != "revision"}
    assert stale_attribute(old, now) == "revision=1, not 2"
    assert stale_attribute(old, {**now, "revision": 1}) is None
    assert stale_attribute({**now, "components": [0]}, now) == "components=[0], not [0, 2]"


@pytest.mark.filterwarnings("ignore:online inference will make")
def test_compare_fits_seeded_models_several_times_and_counts_the_fits(data, tmp_path):
    """fits=2: each seeded model (HDPGMM and its further kind, VQ) is fitted with seeds 0
    and 1 and scored as fits of one model; G1, without a seed, once. A grid of one fit
    run before is reused as fit 0."""
    from hdpmusic.evaluation.protocol import summarise
    from hdpmusic.model.hdpgmm import HDPGMM
    from hdpmusic.pipeline.experiment import compare

    train, task = data
    out = tmp_path / "fits"
    options = dict(runs=2, device="cpu", n_iter=2, hdpgmm_kinds=("fisher-mean",),
                   params={"hdpgmm": {"n_components": 6, "n_song_components": 3,
                                      "max_epochs": 1, "batch_size": 16},
                           "vq": {"n_clusters": 4}})
    compare(train, [task], out, models=("hdpgmm", "g1", "vq"), **options)
    first = (out / "models" / "hdpgmm.hdp").stat().st_mtime_ns
    results = compare(train, [task], out, models=("hdpgmm", "g1", "vq"), fits=2, **options)
    assert (out / "models" / "hdpgmm.hdp").stat().st_mtime_ns == first
    assert sorted(p.name for p in (out / "models").iterdir()) == [
        "g1.hdp", "hdpgmm.hdp", "hdpgmm_fit1.hdp", "vq.hdp", "vq_fit1.hdp"]
    assert [HDPGMM.load(out / "models" / f).random_state
            for f in ("hdpgmm.hdp", "hdpgmm_fit1.hdp")] == [0, 1]
    runs = {}
    for r in results:
        runs.setdefault(r.model, []).append((r.config.get("fit"), r.run))
    assert runs["hdpgmm"] == runs["hdpgmm fisher-mean"] == runs["vq"] == [
        (None, 0), (None, 1), (1, 2), (1, 3)]                # fit 0 reused from the 1st grid
    assert runs["g1"] == [(None, 0), (None, 1)]
    fits = {row["model"]: row["fits"] for row in summarise(results)}
    assert fits == {"hdpgmm": 2, "hdpgmm fisher-mean": 2, "g1": 1, "vq": 2}
    assert (out / "reps" / "hdpgmm_fisher-mean_fit1_gtzan.h5").exists()


def test_cli_compare_passes_fits(data, tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("hdpmusic.cli.experiment.compare",
                        lambda *args, **kwargs: seen.update(kwargs) or [])
    monkeypatch.setattr("hdpmusic.cli.experiment._print_summary", lambda results: None)
    train, task = data
    assert main(["-q", "experiment", "compare", "--train", str(train), "--task", str(task),
                 "--out", str(tmp_path / "x"), "--fits", "3"]) == 0
    assert seen["fits"] == 3
