"""``hdpmusic demo --quick``: the whole study offline, with results above chance."""

import json
import re

import pytest

from hdpmusic.cli import main
from hdpmusic.evaluation.protocol import read_results, summarise
from hdpmusic.model.hdpgmm import HDPGMM
from hdpmusic.pipeline.demo import CPU_CLMR_CHANNELS, demo_plan
from hdpmusic.report import model_label
from hdpmusic.report.components import excerpt_suffix
from page_check import referenced_files

pytestmark = pytest.mark.slow


def test_quick_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    root = out / "quick"
    plan = demo_plan(quick=True)
    results = read_results(root / "experiment" / "results.json")
    # every model, and HDPGMM's further kinds (the Fisher vector) from the same fit
    rows = [m for m in plan.models for m in
            ([m, *(f"hdpgmm {k}" for k in plan.hdpgmm_kinds)] if m == "hdpgmm" else [m])]
    assert plan.hdpgmm_kinds == ("fisher",)
    assert sorted({(r.model, r.task) for r in results}) == sorted(
        (m, t) for m in rows for t in ("genre", "tagging", "recommendation"))
    assert len(results) == len(rows) * 3 * plan.runs
    summary = {(s["model"], s["task"]): s for s in summarise(results)}
    for (model, task), row in summary.items():
        assert 0 < row["chance"] < 1, (model, task)
        if model in ("hdpgmm", "hdpgmm fisher", "vq"):   # clearly above chance
            assert row["mean"] > row["chance"] + 0.05, (model, task, row)
    # the probes take the Fisher vector as it is (its file says so), the others standardised
    assert {(r.model, r.config["standardise"]) for r in results if r.task != "recommendation"
            } == {(m, m != "hdpgmm fisher") for m in rows}
    assert summary[("hdpgmm", "genre")]["mean"] > 2 * summary[("hdpgmm", "genre")]["chance"]
    # the report states chance and holds the plots
    report = root / "experiment" / "report"
    html = (report / "report.html").read_text()
    assert "chance" in html and "hdpgmm" in html
    assert "The embedded demo: 40 excerpts" in html and "bach" in html
    md = (report / "report.md").read_text()
    main_table = md[:md.index("## Paired differences")]
    assert [line.split(" | ")[0] for line in main_table.splitlines()
            if line.startswith("| ")][1:] == [f"| {model_label(m)}" for m in rows] \
        + ["| chance"]
    assert "95 % CI [" in html and "confusion_genre.png" in html
    assert list(report.glob("*.png"))
    # the printed table: every model and task with its chance level, and the report path
    for model in plan.models:
        assert f"\n{model} " in printed
    # with the 95 % CI of every mean
    header = next(line for line in printed.splitlines() if line.startswith("model "))
    assert "95 % CI" in header
    # (an interval is a point only where every resample scores the same, e.g. a perfect F1)
    assert all(s["ci_low"] <= s["ci_high"] for s in summary.values())
    assert any(s["ci_low"] < s["ci_high"] for s in summary.values())
    # and the paired differences of every two models on every task
    for task in ("genre", "tagging", "recommendation"):
        assert f"paired differences on {task} (" in printed
    assert re.search(r"^hdpgmm\s+g1\s+[+-]\d", printed, re.M)
    assert re.search(r"^hdpgmm fisher\s+vq\s+[+-]\d", printed, re.M)
    assert f"report: {report / 'report.html'}" in printed
    # a fit stopped by the demo's cap says so (the ConvergenceWarning it silences)
    fitted = HDPGMM.load(root / "experiment" / "models" / "hdpgmm.hdp")
    assert ("note: HDPGMM stopped at the demo's cap" in printed) == (not fitted.converged_)
    # Table 4 in miniature: printed, and in the report with songs, profiles and audio
    rows = [line for line in printed.splitlines() if line.startswith("| ")][1:]
    rows = [row for row in rows if row.split(" | ")[0].strip("| ").isdigit()]
    assert len(rows) == 8 and all(")" in row.split(" | ")[3] for row in rows)
    assert "Components of HDPGMM over tagging.h5" in html
    assert html.count('<div class="card">') == 8 and html.count("<audio") == 8
    files = referenced_files(html)
    assert sum(f.endswith(excerpt_suffix()) for f in files) == 8
    assert all((report / f).is_file() for f in files)
    assert "## Components of HDPGMM over tagging.h5" in md
    # every stage timed (benchmarks/bench_demo.py prints these)
    timings = json.loads((root / "timings.json").read_text())
    assert {"render", "extract", "fit hdpgmm", "evaluate vq tagging", "report",
            "components"} <= set(timings)
    manifest = json.loads((root / "data" / "demo.json").read_text())
    assert len(manifest["tracks"]) == 40

    # a second run reuses the collection, the features and every fitted model
    models = {p: p.stat().st_mtime_ns for p in (root / "experiment" / "models").iterdir()}
    assert main(["demo", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    again = capsys.readouterr().out
    assert "(cached)" in again and "fitting hdpgmm on" not in again
    assert {p: p.stat().st_mtime_ns for p in models} == models
    assert read_results(root / "experiment" / "results.json") == results


def test_plan_sizes():
    quick, default, deep = demo_plan(quick=True), demo_plan(), demo_plan(deep=True)
    assert quick.models == default.models == ("hdpgmm", "g1", "vq")
    assert deep.models[-2:] == ("kim", "clmr")
    gpu = demo_plan(deep=True, cuda=True)
    # on a CPU CLMR is narrowed (crops of 3^9 samples); on a GPU it is the paper's
    assert deep.params["clmr"]["channels"] == CPU_CLMR_CHANNELS
    assert "channels" not in gpu.params["clmr"] and "channels" not in gpu.params["kim"]
    assert gpu.params["kim"]["max_steps"] > deep.params["kim"]["max_steps"]
    assert quick.params["hdpgmm"]["max_epochs"] < default.params["hdpgmm"]["max_epochs"]
    assert quick.runs >= 3 and default.runs == 5
