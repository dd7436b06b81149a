"""Tests of hdpmusic.report and `hdpmusic report`."""

import re

import matplotlib.image as mpimg
import numpy as np
import pytest

from hdpmusic.cli import main
from hdpmusic.evaluation.classification import label_metrics
from hdpmusic.evaluation.predictions import Predictions
from hdpmusic.evaluation.protocol import RunResult, summarise, write_results
from hdpmusic.report import (
    confusion_matrices,
    epoch_means,
    factor_series,
    history_series,
    main_table,
    metric_label,
    model_label,
    parse_size,
    relabel,
    table_html,
    table_markdown,
    weight_summary,
    write_report,
)
from hdpmusic.report.labels import file_stem, hdpgmm_title
from hdpmusic.report.plots import (
    confusion_figure,
    factor_figure,
    model_figure,
    profile_figure,
    save_figure,
    score_limits,
    scores_figure,
)

# planted scores: (model, task) → runs
PLANTED = {
    ("g1", "gtzan"): [0.50, 0.52, 0.54],
    ("vq256", "gtzan"): [0.60, 0.62, 0.64],
    ("g1", "mtat"): [0.84, 0.85, 0.86],
    ("vq256", "mtat"): [0.80, 0.81, 0.82],
}
METRIC = {"gtzan": "f1_macro", "mtat": "roc_auc_macro"}


def _planted_results():
    out = []
    for (model, task), scores in PLANTED.items():
        for run, score in enumerate(scores):
            # chance differs per run (other test data); the table shows its mean, 0.1
            config = ({"seed": run, "chance": 0.08 + 0.02 * run} if task == "gtzan"
                      else {"seed": run})
            out.append(RunResult(model, task, run, score, METRIC[task], config))
    return out


def _sweep_results():
    out = []
    for eta0, base in ((1e-3, 0.55), (1e-2, 0.58), (1e-1, 0.62)):
        for run in range(3):
            out.append(RunResult("hdpgmm", "gtzan", run, base + 0.01 * run, "f1_macro",
                                 {"eta0": eta0, "n_train": "213k"}))
    for size, base in (("2k", 0.60), ("20k", 0.61)):
        for run in range(3):
            out.append(RunResult("hdpgmm", "gtzan", run, base + 0.01 * run, "f1_macro",
                                 {"eta0": 0.1, "n_train": size}))
    return out


def _assert_png(path):
    assert path.exists(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert img[..., :3].std() > 0         # not a blank canvas


def test_main_table_mean_sd_and_best():
    table = main_table(relabel(_planted_results()))
    assert table.models == ["g1", "vq256"] and table.tasks == ["gtzan", "mtat"]
    cell = table.cells[("vq256", "gtzan")]
    assert cell.mean == pytest.approx(0.62) and cell.sd == pytest.approx(0.02)
    assert cell.runs == 3
    assert cell.best and table.cells[("g1", "mtat")].best
    assert not table.cells[("g1", "gtzan")].best and not table.cells[("vq256", "mtat")].best
    assert table.chance == {"gtzan": pytest.approx(0.1)}
    md = table_markdown(table)
    assert "gtzan (macro F1)" in md and "mtat (macro ROC-AUC)" in md
    assert "| G1 |" in md and "| VQ256 |" in md           # display names
    assert "**0.6200 ± 0.0200** (n=3)" in md
    assert "**0.8500 ± 0.0100** (n=3)" in md
    assert "| 0.5200 ± 0.0200 (n=3)" in md      # not bold
    assert "| 0.8100 ± 0.0100 (n=3)" in md


def test_main_table_counts_the_fits_of_a_model_fitted_several_times():
    """Four runs from two fits: the cell says so, in markdown and HTML."""
    results = [RunResult("vq256", "gtzan", run, 0.6 + 0.01 * run, "f1_macro",
                         {"seed": run % 2, "fit": run // 2}) for run in range(4)]
    results += [RunResult("g1", "gtzan", run, 0.5, "f1_macro", {"seed": run})
                for run in range(2)]
    table = main_table(results)
    assert table.cells[("vq256", "gtzan")].fits == 2
    assert table.cells[("g1", "gtzan")].fits == 1
    assert "(n=4, 2 fits)" in table_markdown(table) and "(n=2)" in table_markdown(table)
    assert "<small>(n=4, 2 fits)</small>" in table_html(table)


def test_report_files_from_results_json(tmp_path):
    write_results(_planted_results(), tmp_path / "res")
    md_path, html_path = write_report([tmp_path / "res"], tmp_path / "report",
                                      intro="Planted <scores> on two tasks.")
    md, page = md_path.read_text(), html_path.read_text()
    assert "**0.6200 ± 0.0200**" in md and "<b>0.8500 ± 0.0100</b>" in page
    # the chance row of the table, and what chance means
    assert "| chance | 0.1000 |" in md and "uninformed predictor" in md
    assert "<td><i>chance</i></td><td>0.1000</td>" in page and "uninformed predictor" in page
    assert md.splitlines()[2] == "Planted <scores> on two tasks."
    assert "<p>Planted &lt;scores&gt; on two tasks.</p>" in page
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs == ["scores.png"]                    # one figure, a titled panel per task
    for src in srcs:
        assert "/" not in src                  # relative, beside the page
        assert f"]({src})" in md
        _assert_png(tmp_path / "report" / src)
    # no factors recorded → no sweep plots
    assert not (tmp_path / "report" / "eta0_effect.png").exists()


def test_factor_series_and_sweep_plots(tmp_path):
    results = _sweep_results()
    eta = factor_series(results, "eta0")
    assert list(eta["gtzan"]) == ["hdpgmm (n_train=213k)"]   # the 2k/20k series has one η0
    s = eta["gtzan"]["hdpgmm (n_train=213k)"]
    np.testing.assert_allclose(s["x"], [1e-3, 1e-2, 1e-1])
    np.testing.assert_allclose(s["mean"], [0.56, 0.59, 0.63])
    assert len(s["points_y"]) == 9
    size = factor_series(results, "n_train")
    s = size["gtzan"]["hdpgmm (η0=0.1)"]
    np.testing.assert_allclose(s["x"], [2e3, 2e4, 2.13e5])
    assert parse_size("213k") == 213000 and parse_size("1e-4") == 1e-4
    assert np.isnan(parse_size("big"))
    write_results(results, tmp_path / "res")
    _, html_path = write_report([tmp_path / "res" / "results.json"], tmp_path / "rep")
    page = html_path.read_text()
    for name in ("eta0_effect.png", "size_effect.png"):
        assert f'src="{name}"' in page
        _assert_png(tmp_path / "rep" / name)
    # variants of one model are separate rows
    assert "HDPGMM (η0=0.1, n_train=213k)" in page and "HDPGMM (η0=0.1, n_train=2k)" in page


def test_display_names():
    assert metric_label("f1_macro") == "macro F1"
    assert metric_label("roc_auc_macro") == "macro ROC-AUC"
    assert metric_label("ndcg@500") == "nDCG@500" and metric_label("ndcg") == "nDCG"
    assert metric_label("f1_macro/ndcg@10") == "macro F1 / nDCG@10"
    assert metric_label("my_score") == "my_score"
    assert model_label("hdpgmm") == "HDPGMM" and model_label("vq256") == "VQ256"
    assert model_label("hdpgmm (η0=0.1)") == "HDPGMM (η0=0.1)"
    assert model_label("g1x") == "g1x" and model_label("mine") == "mine"
    assert hdpgmm_title("hdpgmm") == "HDPGMM" and hdpgmm_title("tiny") == "HDPGMM “tiny”"
    assert file_stem("hdpgmm (η0=0.1)") == "hdpgmm_0_0.1" and file_stem("../x") == ".._x"


def test_score_axis_starts_at_chance():
    # scores far above chance: the axis starts at chance, not at the lowest score
    lo, hi = score_limits(np.array([0.60, 0.62, 0.64]), 0.1)
    assert 0.1 - 0.06 * 0.54 - 1e-12 <= lo < 0.1 and hi > 0.64
    # a run below chance stays in view
    lo, _ = score_limits(np.array([0.05, 0.3]), 0.1)
    assert lo < 0.05
    # no score passes 1: a mean + SD over it and the margin stop there
    assert score_limits(np.array([0.90, 1.0, 1.04]), 0.1)[1] == 1.0
    assert score_limits(np.array([0.97, 0.99]), 0.5)[1] == 1.0


def test_history_series_online_records():
    hist = [{"step": 1, "elbo_per_frame": -3.0, "n_active": 6},
            {"step": 2, "elbo_per_frame": -2.5, "n_active": 5}]
    s = history_series(hist)
    assert s.x_label == "update" and s.objective_label == "ELBO per frame"
    np.testing.assert_array_equal(s.x, [1, 2])
    np.testing.assert_array_equal(s.objective, [-3.0, -2.5])
    assert list(s.counts) == ["active (≥ 0.1 % of the usage)"]
    np.testing.assert_array_equal(s.counts["active (≥ 0.1 % of the usage)"], [6, 5])
    assert s.group_label is None and epoch_means(s)[0].size == 0


def test_history_series_memoized_passes():
    # one record per pass, the total ELBO and K changing under merge/delete moves
    hist = [{"pass": p, "elbo": -100.0 + 10 * p, "n_components": 64 - 8 * p,
             "n_active": 40} for p in range(1, 5)]
    s = history_series(hist)
    assert s.x_label == "pass" and s.group_label == "pass"
    np.testing.assert_array_equal(s.x, [1, 2, 3, 4])
    assert s.objective_label == "ELBO"
    np.testing.assert_array_equal(s.counts["components (K)"], [56, 48, 40, 32])
    assert epoch_means(s)[0].size == 0        # the records are already the passes


def test_history_series_degrades_without_keys():
    s = history_series([{"rho": 0.5}, {"rho": 0.4}])
    assert s.objective_label == "" and np.isnan(s.objective).all() and s.counts == {}
    np.testing.assert_array_equal(s.x, [1, 2])


def test_epoch_means():
    hist = history_series([{"step": i + 1, "epoch": i // 3, "elbo_per_frame": float(i)}
                           for i in range(7)])
    assert hist.x_label == "update" and hist.group_label == "epoch"
    steps, means = epoch_means(hist)
    np.testing.assert_array_equal(steps, [3, 6, 7])
    np.testing.assert_array_equal(means, [1.0, 4.0, 6.0])


def test_weight_summary_closed_forms():
    s = weight_summary(np.full(8, 1 / 8))
    assert s["K"] == 8 and s["effective"] == pytest.approx(8)
    assert (s["n50"], s["n90"], s["n99"]) == (4, 8, 8)
    s = weight_summary(np.array([0.0, 1.0, 0.0]))
    assert s["effective"] == pytest.approx(1) and s["n99"] == 1
    w = np.array([0.5, 0.3, 0.15, 0.05])
    s = weight_summary(w[::-1])                            # order does not matter
    assert s["effective"] == pytest.approx(np.exp(-(w * np.log(w)).sum()))
    assert (s["n50"], s["n90"], s["n99"]) == (1, 3, 4)


def _legends_clear_of_axes(fig):
    """Every legend lies outside every panel (no data hidden under one)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), legend


def test_scores_figure_reads_well():
    results = relabel(_planted_results())
    table = main_table(results)
    fig = scores_figure(results, table)
    gtzan, mtat = fig.axes
    # titled panels with readable metric names and model names
    assert (gtzan.get_title(), mtat.get_title()) == ("gtzan", "mtat")
    assert (gtzan.get_xlabel(), mtat.get_xlabel()) == ("macro F1", "macro ROC-AUC")
    assert [t.get_text() for t in gtzan.get_yticklabels()] == ["G1", "VQ256"]
    # the axis starts at the chance level (0.1), the ROC-AUC one at its floor 0.5
    assert gtzan.get_xlim()[0] == pytest.approx(score_limits(
        np.array([0.1, 0.50, 0.64, 0.50, 0.66]), 0.1)[0], abs=0.01)
    assert gtzan.get_xlim()[0] < 0.1 < 0.5 and 0.45 < mtat.get_xlim()[0] < 0.5
    # every run is a point: 3 runs × 2 models per panel
    assert sum(len(c.get_offsets()) for c in gtzan.collections
               if c.get_offsets().ndim == 2 and len(c.get_offsets()) == 3) == 6
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["run", "mean ± SD over runs", "chance level", "below chance"]
    _legends_clear_of_axes(fig)


def test_model_and_factor_figures_read_well(tmp_path):
    passes = history_series([{"pass": p, "elbo": -10.0 + p, "n_components": 9 - p}
                             for p in range(1, 4)])
    fig = model_figure(passes, np.array([0.5, 0.3, 0.2]), "HDPGMM: training and weights")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["ELBO over training", "Components over training",
                      r"Corpus weights $\mathbb{E}[\beta_k]$, sorted"]
    assert fig.axes[2].get_ylabel() == r"$\mathbb{E}[\beta_k]$"      # math text
    assert fig.axes[0].get_xlabel() == "pass"
    _legends_clear_of_axes(fig)
    save_figure(fig, tmp_path / "m.png")
    _assert_png(tmp_path / "m.png")
    # a constant count is said so on its panel
    flat = model_figure(history_series([{"n_active": 64, "elbo_per_frame": -1.0 * i}
                                        for i in range(5)]), None, "flat")
    texts = [t.get_text() for t in flat.axes[1].texts]
    assert any("64 throughout" in t for t in texts)
    # what the records lack is not drawn, and nothing fails
    bare = model_figure(history_series([{"rho": 0.1}]), None, "bare")
    assert [t.get_text() for t in bare.axes[0].texts] == ["not recorded"]
    save_figure(bare, tmp_path / "b.png")
    weights_only = model_figure(None, np.array([0.7, 0.3]), "weights only")
    assert len(weights_only.axes) == 1
    fig = factor_figure(factor_series(_sweep_results(), "eta0"), "η0",
                        {"gtzan": "f1_macro"})
    assert fig.axes[0].get_ylabel() == "macro F1" and fig.axes[0].get_title() == "gtzan"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["HDPGMM (n_train=213k)"]
    _legends_clear_of_axes(fig)


def test_profile_figure_groups_the_columns(tmp_path):
    from hdpmusic.audio.features import DEFAULT_CONFIG

    z = np.linspace(-2, 2, DEFAULT_CONFIG.dim)
    fig = profile_figure(z, DEFAULT_CONFIG.column_names, "component 3")
    ax = fig.axes[0]
    assert len(ax.patches) == 13 + 1 + 12                 # MFCC, onset, chroma; no deltas
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[:2] == ["0", "1"] and ticks[-12:] == ["C", "C#", "D", "D#", "E", "F",
                                                        "F#", "G", "G#", "A", "A#", "B"]
    assert {t.get_text() for t in ax.texts} == {"MFCC", "onset", "chroma"}
    assert ax.get_title() == "component 3\n(Δ MFCC and ΔΔ MFCC not shown)"
    save_figure(fig, tmp_path / "p.png")
    _assert_png(tmp_path / "p.png")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from hdpmusic.model.hdpgmm import HDPGMM

    rng = np.random.default_rng(0)
    X = [rng.normal(size=(int(rng.integers(20, 40)), 3)).astype(np.float32)
         + rng.integers(-3, 4, size=3) for _ in range(30)]
    model = HDPGMM(n_components=6, n_song_components=3, batch_size=10, max_epochs=2,
                   init_samples=500, local_max_iter=20, device="cpu", verbose=False).fit(X)
    path = tmp_path_factory.mktemp("model") / "tiny.hdp"
    model.save(path)
    return path, model


def test_cli_report_with_model(tmp_path, tiny_model):
    path, model = tiny_model
    assert len(model.history_) == 6      # 3 batches × 2 epochs
    write_results(_planted_results(), tmp_path / "res")
    out = tmp_path / "rep"
    assert main(["-q", "report", str(tmp_path / "res"), "--models", str(path),
                 "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert 'src="tiny_training.png"' in page and "](tiny_training.png)" in md
    _assert_png(out / "tiny_training.png")
    assert "Model HDPGMM “tiny”" in page
    assert "**0.6200 ± 0.0200**" in md


def test_cli_report_models_only(tmp_path, tiny_model):
    path, _ = tiny_model
    assert main(["-q", "report", "--models", str(path), "--out", str(tmp_path / "r")]) == 0
    page = (tmp_path / "r" / "report.html").read_text()
    assert "<table>" not in page and 'src="tiny_training.png"' in page


def test_report_nothing_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["-q", "report", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 1


def _predicted_results():
    """Two models on one genre task of 60 songs, with their predictions: g1 right on
    songs 0-29 (half), vq256 on songs 0-47 (80 %); two runs each."""
    y = np.array(["blues", "metal", "pop"] * 20)
    out = []
    for model, right in (("g1", 30), ("vq256", 48)):
        predicted = np.where(np.arange(60) < right, y, np.roll(y, 1))
        for run in range(2):
            kept = Predictions(np.arange(60), np.zeros(60), predicted, y)
            config = {"seed": run, **label_metrics(y, predicted, np.unique(y))}
            out.append(RunResult(model, "genre", run, kept.score("f1_macro"), "f1_macro",
                                 config, kept))
    return out


def test_main_table_and_report_show_cis_and_paired_differences(tmp_path):
    results = _predicted_results()
    table = main_table(relabel(results))
    summary = {s["model"]: s for s in summarise(results)}
    cell = table.cells[("vq256", "genre")]
    assert (cell.ci_low, cell.ci_high) == (summary["vq256"]["ci_low"],
                                           summary["vq256"]["ci_high"])
    assert cell.ci_low < cell.mean < cell.ci_high
    md = table_markdown(table)
    assert f"**{cell.text()}** {cell.ci_text()} (n=2)" in md
    write_results(results, tmp_path / "res")
    md_path, html_path = write_report([tmp_path / "res"], tmp_path / "report")
    md, page = md_path.read_text(), html_path.read_text()
    assert f"95 % CI {cell.ci_text()}" in page
    assert "## Paired differences" in md and "<h2>Paired differences</h2>" in page
    difference = cell.mean - table.cells[("g1", "genre")].mean
    (row,) = [line for line in md.splitlines() if line.startswith("| G1 | VQ256 |")]
    assert row.split(" | ")[2] == f"{-difference:+.4f}"
    assert row.split(" | ")[4:] == ["0%", "100% |"]     # vq256 right wherever g1 is
    assert 'src="confusion_genre.png"' in page
    _assert_png(tmp_path / "report" / "confusion_genre.png")


def test_cli_report_never_replaces_a_report_unasked_and_leaves_no_stale_files(tmp_path,
                                                                             capsys):
    """`hdpmusic report` into a folder that holds files needs --overwrite, which replaces
    the folder whole (a file of the earlier report is gone); a --out that holds the
    results it reads is refused even then."""
    write_results(_predicted_results(), tmp_path / "res")
    out = tmp_path / "report"
    assert main(["-q", "report", str(tmp_path / "res"), "--out", str(out)]) == 0
    first = (out / "report.md").read_text()
    (out / "notes.txt").write_text("the user's own notes")
    assert main(["-q", "report", str(tmp_path / "res"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "exists and is not empty; pass --overwrite to replace the report" in err
    assert len(err.strip().splitlines()) == 1
    assert (out / "notes.txt").exists() and (out / "report.md").read_text() == first
    assert main(["-q", "report", str(tmp_path / "res"), "--out", str(out),
                 "--overwrite", "--title", "Again"]) == 0
    assert not (out / "notes.txt").exists() and "# Again" in (out / "report.md").read_text()
    assert (out / "confusion_genre.png").exists()
    assert main(["-q", "report", str(tmp_path / "res" / "results.json"), "--out",
                 str(tmp_path), "--overwrite"]) == 1
    assert "holds the results" in capsys.readouterr().err
    assert (tmp_path / "res" / "results.json").exists()


def test_confusion_matrices_sum_runs():
    matrices = confusion_matrices(_predicted_results(), "genre")
    labels, matrix = matrices["vq256"]
    assert list(matrices) == ["g1", "vq256"] and labels == ["blues", "metal", "pop"]
    assert matrix.sum() == 120 and np.trace(matrix) == 96       # 2 runs × 48 right
    assert confusion_matrices(_predicted_results(), "tagging") == {}


def test_confusion_figure_reads_well():
    fig = confusion_figure(confusion_matrices(_predicted_results(), "genre"), "genre")
    g1, vq, colorbar = fig.axes
    assert (g1.get_title(), vq.get_title()) == ("G1 on genre", "VQ256 on genre")
    assert [t.get_text() for t in vq.get_yticklabels()] == ["blues", "metal", "pop"]
    assert (vq.get_xlabel(), vq.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in vq.texts][:3] == ["32", "0", "8"]     # counts per cell
    assert colorbar.get_ylabel() == "share of the true class"


def test_scores_figure_draws_the_ci():
    results = relabel(_predicted_results())
    fig = scores_figure(results, main_table(results))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["run", "mean ± SD over runs", "95 % CI (bootstrap over test songs)"]
    _legends_clear_of_axes(fig)


def test_quiet_report_shows_no_progress_bar(tmp_path, tiny_model, capsys):
    """``-q`` silences the components section's transform, even of a model saved with
    ``verbose=True``."""
    from hdpmusic import Corpus

    _, model = tiny_model
    model.set_params(verbose=True)
    model.save(tmp_path / "loud.hdp")
    model.set_params(verbose=False)
    rng = np.random.default_rng(1)
    corpus = tmp_path / "songs.h5"
    Corpus.from_arrays([rng.normal(size=(20, 3)).astype(np.float32) for _ in range(6)],
                       ids=[f"s{j}" for j in range(6)]).save(corpus)
    args = ["report", "--models", str(tmp_path / "loud.hdp"), "--components-corpus",
            str(corpus), "--no-audio", "--top-components", "2", "--out", str(tmp_path / "r")]
    capsys.readouterr()
    assert main(args) == 0
    assert "transform" in capsys.readouterr().err           # its progress bar
    assert main(["-q", *args, "--overwrite"]) == 0
    assert capsys.readouterr().err == ""


def test_figures_hold_their_glyphs_whatever_the_users_font(tmp_path):
    """A matplotlibrc font without − or η (cmr10) gives no glyph warnings: the figures
    draw in matplotlib's bundled DejaVu fonts."""
    import warnings

    import matplotlib

    from hdpmusic.audio.features import DEFAULT_CONFIG

    hist = history_series([{"pass": i + 1, "elbo": -3.0 + 0.1 * i, "n_components": 5}
                           for i in range(4)])
    with matplotlib.rc_context({"font.family": "cmr10"}), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_figure(model_figure(hist, np.array([0.5, 0.3, 0.2]), "HDPGMM η0"),
                    tmp_path / "m.png")
        save_figure(profile_figure(np.linspace(-2, 2, DEFAULT_CONFIG.dim),
                                   DEFAULT_CONFIG.column_names, "component 3"),
                    tmp_path / "p.png")
    assert [str(w.message) for w in caught] == []


def test_report_provenance_and_chance_note_of_the_tasks_present(tmp_path):
    from hdpmusic import __version__

    write_results(_predicted_results(), tmp_path / "res")
    assert main(["-q", "report", str(tmp_path / "res"), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    provenance = md[md.index("## Provenance"):]
    assert f"- hdpmusic {__version__}\n" in provenance
    assert f"- command: hdpmusic -q report {tmp_path / 'res'} --out {tmp_path / 'r'}\n" \
        in provenance
    assert re.search(r"- written \d{4}-\d\d-\d\d \d\d:\d\d", provenance)
    assert "- genre: seeds 0, 1; test songs per class blues 20, metal 20, pop 20" in provenance
    # planted results: chance recorded for an F1 task only
    write_results(_planted_results(), tmp_path / "planted")
    assert main(["-q", "report", str(tmp_path / "planted"), "--out", str(tmp_path / "p")]) == 0
    md = (tmp_path / "p" / "report.md").read_text()
    assert "(uniform guesses for macro F1)." in md
    assert "ROC-AUC" not in md[md.index("Chance:"):md.index("Chance:") + 200]


def _figure_text(fig):
    """Every text a figure shows: titles, panel texts and annotations, legends."""
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [ax.get_title()] + [t.get_text() for t in ax.texts]
        texts += [t.get_text() for t in (ax.get_legend().get_texts()
                                         if ax.get_legend() else [])]
    return " ".join(texts)


def test_training_figure_says_when_the_fit_stopped_at_its_cap(tmp_path, tiny_model,
                                                              monkeypatch):
    """A memoized fit that reached its pass cap with the ELBO still moving is said so on
    its training figure and in the caption, as the demo's note says (issue 18, item 6);
    a converged fit is not."""
    from hdpmusic.report import build

    path, model = tiny_model
    assert model.algorithm == "memoized" and model.tol > 0 and not model.converged_
    assert len(model.passes_) == model.max_epochs == 2
    drawn = {}
    save = build.save_figure

    def keep(fig, file, *args, **kwargs):
        drawn[file.name] = _figure_text(fig)
        save(fig, file, *args, **kwargs)

    monkeypatch.setattr(build, "save_figure", keep)
    assert main(["-q", "report", "--models", str(path), "--out", str(tmp_path / "r")]) == 0
    assert "stopped at the pass cap (2 passes), not converged" in drawn["tiny_training.png"]
    page = (tmp_path / "r" / "report.html").read_text()
    md = (tmp_path / "r" / "report.md").read_text()
    for text in (page, md):
        assert "stopped at its cap of 2 passes, not converged" in text
        assert "--resume --epochs" in text
    # the same model, converged: no note
    model.converged_ = True
    try:
        model.save(tmp_path / "done.hdp")
    finally:
        model.converged_ = False
    assert main(["-q", "report", "--models", str(tmp_path / "done.hdp"), "--out",
                 str(tmp_path / "d")]) == 0
    assert "not converged" not in drawn["done_training.png"]
    assert "not converged" not in (tmp_path / "d" / "report.html").read_text()
