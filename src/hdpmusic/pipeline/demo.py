"""The embedded demo: the study in miniature, offline, in one call.

:func:`run_demo` chains every stage a user runs on real data:

1. :func:`hdpmusic.datasets.demo_collection.build_demo_dataset` renders a small
   labelled collection of real compositions from music21's bundled corpus (composer or
   collection as "genre", tags from the scores, a simulated listening log);
2. :func:`hdpmusic.audio.extract.extract_collection` computes the 52-d frame features;
3. :func:`hdpmusic.datasets.demo_collection.write_demo_tasks` writes the genre, tagging and
   recommendation task corpora;
4. :func:`hdpmusic.pipeline.experiment.compare` fits HDPGMM, G1 and VQ (and, with ``deep``, KIM
   and CLMR on the audio) on the whole collection — unsupervised, no label is seen —
   transforms every task corpus, evaluates each task over several runs and writes
   ``results.json`` and the report (``report.html``, PNG plots, chance levels);
5. the report gains HDPGMM's components section (:mod:`hdpmusic.report.components`):
   its most loaded components with their most enriched tags, the excerpts loading on
   them most, feature profiles and a playable 3-s excerpt each; the table of components
   and tags (:func:`hdpmusic.evaluation.interpretability.interpret_model`) is also printed.

The seconds of every stage are returned and written to ``timings.json``
(``benchmarks/bench_demo.py`` prints them).

Everything lives under ``<out>/<mode>/`` (``mode``: ``quick`` or ``default``, with the
seed when it is not 0); every stage reuses what an earlier call finished, so a second
run only prints the table. Model sizes are set so the default run finishes in minutes
on two CPU cores (:func:`demo_plan`); they are not the paper's settings, which need a
GPU and a corpus of many thousands of songs.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdpmusic.audio.extract import extract_collection
from hdpmusic.formats.atomic import atomic_path
from hdpmusic.pipeline.experiment import compare
from hdpmusic.runtime.devices import resolve_device
from hdpmusic.runtime.progress import stage_timer

__all__ = ["CPU_CLMR_CHANNELS", "DemoOutcome", "DemoPlan", "demo_plan", "run_demo"]

TASKS = ("genre", "tagging", "recommendation")
DEMO_TITLE = "hdpmusic demo"


@dataclass(frozen=True)
class DemoPlan:
    """Model and evaluation sizes of a demo run.

    Attributes
    ----------
    models : tuple of str
        Registry names, in table order.
    params : dict of str to dict
        Constructor overrides per model (see :func:`hdpmusic.pipeline.experiment.compare`).
    runs : int
        Evaluation runs per (model, task).
    n_iter : int
        Randomized-search draws of the genre and tagging probes.
    hdpgmm_kinds : tuple of str
        HDPGMM representations scored beside the study's posterior, from the same fit.
    """

    models: tuple[str, ...]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: int = 5
    n_iter: int = 32
    hdpgmm_kinds: tuple[str, ...] = ()


#: SampleCNN widths of CLMR on a CPU: a quarter of the paper's width and 9 blocks (crops
#: of 3^9 = 19 683 samples, 0.9 s) — about 40× less compute per step
CPU_CLMR_CHANNELS = (32, 32, 32, 64, 64, 64, 64, 64, 64)


def demo_plan(*, quick: bool = False, deep: bool = False, cuda: bool = False) -> DemoPlan:
    """The sizes of the default (or ``quick``) demo.

    HDPGMM keeps the paper's online schedule (κ = 0.6, τ0 = 64, η0 = 0.1) with fewer
    components (K = 64, T = 16) and epochs than the paper's K = 256, T = 32, sized to the
    demo's few hundred songs; VQ has 64 centroids. With ``deep``, KIM keeps its
    architecture; CLMR keeps it on a GPU and is narrowed on a CPU
    (:data:`CPU_CLMR_CHANNELS`); both train for a few hundred steps only, far from the
    paper's training, and their scores say so.

    Parameters
    ----------
    quick : bool
    deep : bool
        Add KIM and CLMR.
    cuda : bool
        The models run on a GPU (longer deep training, CLMR at full size).

    Returns
    -------
    DemoPlan
    """
    hdpgmm = {"n_components": 64, "n_song_components": 16, "algorithm": "memoized",
              "eta0": 0.0, "batch_size": 16 if quick else 32,
              "max_epochs": 30 if quick else 40, "local_max_iter": 50}
    params: dict[str, dict[str, Any]] = {"hdpgmm": hdpgmm, "vq": {"n_clusters": 64}}
    models: tuple[str, ...] = ("hdpgmm", "g1", "vq")
    if deep:
        steps = (200 if quick else 600) * (5 if cuda else 1)
        common = {"max_steps": steps, "batch_size": 16, "num_workers": 0}
        params["kim"] = dict(common)
        params["clmr"] = dict(common) if cuda else {**common, "channels": CPU_CLMR_CHANNELS}
        models += ("kim", "clmr")
    return DemoPlan(models, params, runs=3 if quick else 5, n_iter=16 if quick else 32,
                    hdpgmm_kinds=("fisher",))


def _say_unsettled(model_path: Path, say: Callable[[str], None]) -> None:
    """A note when the demo's capped HDPGMM fit stopped before its ELBO settled (the
    ConvergenceWarning the fit would raise, which the demo silences to say it here)."""
    from hdpmusic.model.hdpgmm import HDPGMM

    model = HDPGMM.load(model_path)
    if model.converged_ or len(model.passes_) < 2:
        return
    now, before = (p["elbo_per_frame"] for p in model.passes_[-1:-3:-1])
    say(f"note: HDPGMM stopped at the demo's cap of {len(model.passes_)} passes with its "
        f"ELBO still moving ({abs(now - before) / model.n_features_in_:.1g} nats per frame "
        "and dimension in the last pass, "
        f"tol {model.tol:g}); the scores are those of this capped fit (the report's "
        "training figure shows the trace and marks the fit as not converged)")


@dataclass
class DemoOutcome:
    """What :func:`run_demo` made.

    Attributes
    ----------
    root : pathlib.Path
        The run's folder.
    results : list of RunResult
        Models × tasks × runs.
    report : pathlib.Path
        ``report.html``.
    n_songs : int
        Songs of the collection (after extraction).
    classes : list of str
    components : str
        Markdown table of HDPGMM's most loaded components and their most enriched tags
        (the paper's Table 4); the report's components section shows them with songs,
        feature profiles and audio excerpts.
    timings : dict of str to float
        Seconds of every stage of this call (``render``, ``extract``, ``tasks``, ``fit
        <model>``, ``transform <model>``, ``evaluate <model> <task>``, ``report``,
        ``components``), also written to ``timings.json`` in the run's folder.
    """

    root: Path
    results: list[Any]
    report: Path
    n_songs: int
    classes: list[str]
    components: str
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(out_dir: str | os.PathLike = "hdpmusic-demo", *, quick: bool = False,
             deep: bool = False, device: str = "auto", seed: int = 0, jobs: int = -1,
             progress: bool = True, log: Callable[[str], None] | None = None,
             ) -> DemoOutcome:
    """Build the demo collection and run the whole study on it.

    Parameters
    ----------
    out_dir : path-like
        Parent folder of the run (``<out_dir>/quick``, ``<out_dir>/default``, ...).
    quick : bool
        4 classes × 10 excerpts of ≤ 10 s and smaller fits (about a minute on two
        cores) instead of 8 classes × 25 excerpts of ≤ 20 s.
    deep : bool
        Also train and evaluate KIM and CLMR on the audio.
    device : str
        ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``, ...
    seed : int
        Seeds the collection (pieces, split, listening log), the fits and the runs.
    jobs : int
        Processes for rendering and extraction (``-1``: one per core).
    progress : bool
        Progress bars.
    log : callable, optional
        Receives one line per stage.

    Returns
    -------
    DemoOutcome
    """
    from sklearn.exceptions import ConvergenceWarning

    from hdpmusic.datasets.demo_collection import build_demo_dataset, write_demo_tasks
    from hdpmusic.evaluation.interpretability import format_table, interpret_model
    from hdpmusic.report import ComponentsOptions, write_report

    say = log or (lambda _msg: None)
    timings: dict[str, float] = {}
    root = Path(out_dir) / (("quick" if quick else "default") + (f"-seed{seed}" if seed else ""))
    plan = demo_plan(quick=quick, deep=deep, cuda=resolve_device(device).type == "cuda")
    say(f"[1/5] demo collection in {root / 'data'}")
    with stage_timer(timings, "render"):
        dataset = build_demo_dataset(root / "data", quick=quick, seed=seed,
                                     progress=progress, jobs=jobs)
    classes = list(dataset.settings["classes"])
    say(f"      {len(dataset.tracks)} excerpts of {len(classes)} classes "
        f"({', '.join(classes)}), {len(dataset.listening)} listening events"
        + (" (cached)" if dataset.cached else ""))
    corpus = root / "corpus.h5"
    say(f"[2/5] features -> {corpus}")
    with stage_timer(timings, "extract"):
        extracted = extract_collection(dataset.audio_dir, corpus, jobs=jobs,
                                       cache=root / "features", overwrite=True,
                                       progress=progress)
    say("[3/5] task corpora (genre, tagging, recommendation)")
    with stage_timer(timings, "tasks"):
        tasks = write_demo_tasks(dataset, root / "tasks", corpus=corpus, overwrite=True)
    say(f"[4/5] fitting {', '.join(plan.models)}; evaluating {plan.runs} runs per task")
    experiment = root / "experiment"
    intro = _intro(dataset, extracted.n_ok, plan)
    with warnings.catch_warnings():
        # the demo caps HDPGMM's passes for time on purpose (see demo_plan)
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = compare(corpus, [tasks[t] for t in TASKS], experiment, models=plan.models,
                          runs=plan.runs, seed=seed, device=device, params=plan.params,
                          n_iter=plan.n_iter, verbose=progress, log=log, title=DEMO_TITLE,
                          intro=intro, timings=timings, hdpgmm_kinds=plan.hdpgmm_kinds)
    _say_unsettled(experiment / "models" / "hdpgmm.hdp", say)
    say("[5/5] HDPGMM's most loaded components: tags, excerpts, profiles, audio")
    model = experiment / "models" / "hdpgmm.hdp"
    report = experiment / "report"
    with stage_timer(timings, "components"):
        write_report([experiment / "results.json"], report, model_paths=[model],
                     components=ComponentsOptions(tasks["tagging"], top_components=8,
                                                  top_labels=3, top_songs=3),
                     title=DEMO_TITLE, intro=intro)
        components = format_table(interpret_model(model, tasks["tagging"],
                                                  top_components=8, top_tags=3))
    with atomic_path(root / "timings.json") as tmp:
        tmp.write_text(json.dumps({k: round(v, 3) for k, v in timings.items()}, indent=1)
                       + "\n", encoding="utf-8")
    return DemoOutcome(root, results, report / "report.html", extracted.n_ok, classes,
                       components, timings)


def _intro(dataset: Any, n_songs: int, plan: DemoPlan) -> str:
    """The report's opening paragraph: what the demo ran on what."""
    classes = dataset.settings["classes"]
    return (f"The embedded demo: {n_songs} excerpts of real compositions from music21's "
            f"corpus, {len(classes)} classes ({', '.join(classes)}), each rendered with "
            "one General MIDI piano so the class is not given away by timbre; tags from "
            f"the scores; a simulated listening log of {len(dataset.users)} users. "
            f"Models ({', '.join(plan.models)}) are fitted without labels on all the "
            f"excerpts, then probed per task over {plan.runs} runs. These are small "
            "CPU-sized models on a small collection, not the paper's settings.")
