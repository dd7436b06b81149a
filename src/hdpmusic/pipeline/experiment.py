"""Experiment grids of the study: Table 3 (``compare``) and the η0 / corpus-size sweep.

Pure orchestration over the existing stages (fit → transform → evaluate → report). Every
intermediate lands in one output directory, and a file already there is reused, so a rerun
of an interrupted grid resumes where it stopped::

    DIR/models/<variant>.hdp           fitted model (``<variant>.partial.hdp`` while fitting)
    DIR/reps/<variant>_<task>.h5       song representations of a task corpus
    DIR/evals/<variant>_<task>/        results.json/.csv of one (variant, task) pair
    DIR/results.json, results.csv      all runs
    DIR/report/                        report.md, report.html and the plots
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.formats.checkpoint import read_header
from hdpmusic.formats.corpus import Corpus
from hdpmusic.formats.representations import Representations, read_attrs
from hdpmusic.model.kinds import recorded_revision
from hdpmusic.pipeline.fit import changed_params, fit_model, resumable
from hdpmusic.pipeline.transform import (
    transform_corpus,
    transform_options,
    write_representations,
)
from hdpmusic.representations.registry import model_class, model_input, representation_attrs
from hdpmusic.runtime.errors import DataError, HdpmusicError, ParameterError
from hdpmusic.runtime.progress import stage_timer

__all__ = ["Variant", "compare", "compare_variants", "parse_floats", "parse_subsets",
           "run_grid", "subset_indices", "sweep", "sweep_variants"]

#: The HDPGMM setting the experiment changes from the estimator's defaults, overridable:
#: the paper's online VI, so that its tables are reproduced as published (every other
#: default of :class:`~hdpmusic.model.hdpgmm.HDPGMM` is the paper's: K 256, T 32, batches
#: of 1024 songs, 100 passes, η0 0.1 with online VI).
STUDY_HDPGMM: dict[str, Any] = {"algorithm": "online"}


@dataclass
class Variant:
    """One model to fit and evaluate.

    Attributes
    ----------
    name : str
        File stem under ``models/`` and ``reps/`` (unique in a grid).
    model : str
        Registry name (``hdpgmm``, ``g1``, ``vq``, ...); the results label.
    params : dict
        Constructor arguments.
    config : dict
        Added to every RunResult's config (e.g. ``eta0``, ``n_train``).
    indices : np.ndarray, optional
        Training songs (a random subset); None for the whole corpus.
    transform : dict
        Options of the model's ``transform`` (e.g. ``{"kind": "fisher"}``); empty: its
        defaults.
    fit_name : str, optional
        The model file stem when the variant shares another variant's fitted model (a
        second representation of one fit); default ``name``.
    label : str, optional
        The model's label in the results (default ``model``).
    fit : int, optional
        Which fit of its model this variant is, when the model is fitted several times
        (``evaluate(..., fit=)``: the summaries then resample the fits too); None: the
        model's only fit.
    """

    name: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    indices: np.ndarray | None = None
    transform: dict[str, Any] = field(default_factory=dict)
    fit_name: str | None = None
    label: str | None = None
    fit: int | None = None

    @property
    def results_label(self) -> str:
        """The model's label in the results."""
        return self.label or self.model

    @property
    def model_file(self) -> str:
        """The stem of the fitted model's file under ``models/``."""
        return self.fit_name or self.name


def _say(log: Callable[[str], None] | None, msg: str) -> None:
    if log is not None:
        log(msg)


def parse_floats(text: str) -> list[float]:
    """``"1e-4,1e-3"`` → ``[1e-4, 1e-3]``."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"expected comma-separated numbers; got {text!r}") from None
    if not values:
        raise ParameterError("expected at least one number")
    return values


def parse_subsets(text: str) -> list[tuple[int, int]]:
    """``"2000x5,20000x5"`` → ``[(2000, 5), (20000, 5)]`` (size × number of subsets)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        size, _, count = part.lower().partition("x")
        try:
            pair = (int(size), int(count) if count else 1)
        except ValueError:
            raise ParameterError(f"subsets are SIZExCOUNT, e.g. 2000x5; got {part!r}") from None
        if pair[0] < 1 or pair[1] < 1:
            raise ParameterError(f"subset size and count must be >= 1; got {part!r}")
        out.append(pair)
    return out


def subset_indices(n_songs: int, size: int, seed: int, index: int) -> np.ndarray:
    """Sorted random song indices of subset ``index`` of ``size`` songs (reproducible)."""
    rng = np.random.default_rng([seed, size, index])
    return np.sort(rng.choice(n_songs, size=size, replace=False))


def _hdpgmm_params(hdpgmm: dict[str, Any] | None, seed: int, device: str) -> dict[str, Any]:
    params = {**STUDY_HDPGMM, **{k: v for k, v in (hdpgmm or {}).items()
                                    if v is not None}}
    params.update(random_state=seed, device=device)
    return params


def compare_variants(models: Sequence[str], *, seed: int = 0, device: str = "auto",
                     params: Mapping[str, Mapping[str, Any]] | None = None,
                     audio: bool = False, hdpgmm_kinds: Sequence[str] = (),
                     fits: int = 1,
                     log: Callable[[str], None] | None = None) -> list[Variant]:
    """The Table 3 grid: one variant per model (per fit of it).

    Parameters
    ----------
    models : sequence of str
        Registry names.
    seed, device
        Given to every model that takes them.
    params : mapping of str to mapping, optional
        Per-model constructor overrides (``None`` values ignored); HDPGMM's are applied
        over :data:`STUDY_HDPGMM` (the paper's settings).
    audio : bool
        The songs' audio files can be found (``audio_root`` of :func:`compare`); without
        them the audio models (KIM, CLMR) are skipped with a note.
    hdpgmm_kinds : sequence of str, default=()
        Further HDPGMM representation kinds, each a variant of the same fit labelled
        ``hdpgmm <kind>`` (the ``hdpgmm`` row keeps ``transform``'s default, the study's
        posterior).
    fits : int, default=1
        Fits of every model that takes a seed: fit k has ``random_state`` ``seed + k``
        and its files the suffix ``_fit<k>`` (none for fit 0, so a grid of one fit is
        reused by a rerun with more); a model without a seed (G1) is fitted once.
    log : callable, optional
    """
    params = params or {}
    variants = []
    for name in dict.fromkeys(models):
        if model_input(name) == "audio" and not audio:
            _say(log, f"note: skipping {name}: it is fitted on audio files, not on a "
                      "frame corpus whose audio is unknown; give --audio-root (the "
                      "folder or list file of the songs' audio) to include it")
            continue
        if name == "hdpgmm":
            chosen = _hdpgmm_params(params.get(name), seed, device)
        else:
            accepted = inspect.signature(model_class(name)).parameters
            chosen = {k: v for k, v in {"device": device, "random_state": seed,
                                        **params.get(name, {})}.items()
                      if k in accepted and v is not None}
        several = fits > 1 and "random_state" in chosen
        for k in range(fits if several else 1):
            suffix = f"_fit{k}" if k else ""
            fitted = {**chosen, "random_state": seed + k} if several else chosen
            fit = k if several else None
            variants.append(Variant(name + suffix, name, fitted, fit=fit))
            if name == "hdpgmm":
                variants += [Variant(f"hdpgmm_{kind}{suffix}", name, fitted,
                                     transform={"kind": kind}, fit_name=name + suffix,
                                     label=f"hdpgmm {kind}", fit=fit)
                             for kind in dict.fromkeys(hdpgmm_kinds)]
    return variants


def sweep_variants(n_songs: int, *, eta0s: Sequence[float], subsets: Sequence[tuple[int, int]],
                   subset_eta0: float = 0.1, seed: int = 0, device: str = "auto",
                   hdpgmm: dict[str, Any] | None = None, fits: int = 1,
                   log: Callable[[str], None] | None = None) -> list[Variant]:
    """The Figure 3 grid: HDPGMM per η0 on the full corpus, and per random subset.

    Parameters
    ----------
    n_songs : int
        Songs of the training corpus (larger subsets are skipped with a note).
    eta0s : sequence of float
        η0 of the fits on the full corpus.
    subsets : sequence of (int, int)
        ``(size, count)``: ``count`` random subsets of ``size`` songs
        (:func:`subset_indices`), fitted with ``subset_eta0``.
    subset_eta0 : float, default=0.1
    seed, device
        As in :func:`compare_variants`; ``seed`` also draws the subsets.
    hdpgmm : dict, optional
        HDPGMM constructor overrides over :data:`STUDY_HDPGMM`.
    fits : int, default=1
        Fits of every η0 and of every subset, with ``random_state`` ``seed``, ``seed + 1``,
        ...; files get the suffix ``_fit<k>`` from the second. The fits of one η0, and
        the subsets of one size with their fits, are fits of one model
        (``Variant.fit``), so the summaries' intervals cover how they vary.
    log : callable, optional
    """
    def seeded(name: str, eta0: float, config: dict[str, Any], indices: np.ndarray | None,
               first: int, count: int) -> list[Variant]:
        params = {**_hdpgmm_params(hdpgmm, seed, device), "eta0": eta0}
        return [Variant(name + (f"_fit{k}" if k else ""), "hdpgmm",
                        {**params, "random_state": seed + k}, config, indices,
                        fit=first * fits + k if count * fits > 1 else None)
                for k in range(fits)]

    variants = []
    for eta0 in dict.fromkeys(eta0s):
        variants += seeded(f"hdpgmm_eta0-{eta0:g}", eta0, {"eta0": eta0, "n_train": n_songs},
                           None, 0, 1)
    for size, count in dict.fromkeys(subsets):
        if size > n_songs:
            _say(log, f"note: skipping subsets of {size} songs: the training corpus has "
                      f"only {n_songs}")
            continue
        for i in range(count):
            variants += seeded(f"hdpgmm_eta0-{subset_eta0:g}_n{size}_s{i}", subset_eta0,
                               {"eta0": subset_eta0, "n_train": size, "subset": i},
                               subset_indices(n_songs, size, seed, i), i, count)
    return variants


def _check_saved_params(path: Path, params: dict[str, Any]) -> None:
    """An existing model file must have been fitted with the same parameters.

    Compared as :func:`hdpmusic.pipeline.fit.changed_params` does, ``device`` and
    ``verbose`` aside.
    """
    saved = read_header(path).get("params")
    if not isinstance(saved, dict):
        return
    differ = changed_params(saved, params, ignore=("device", "verbose"))
    if differ:
        k = differ[0]
        raise HdpmusicError(f"{path} was fitted with {k}={saved[k]!r}, not {params[k]!r}; "
                            "delete it or choose another --out")


def stale_attribute(saved: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """The first transform attribute a saved representation file records differently from
    what the model would record now (``"revision=1, not 2"``), or None when all agree.

    A file from before kind revisions were recorded counts as revision 1
    (:func:`hdpmusic.model.kinds.recorded_revision`).
    """
    for key, value in current.items():
        old = recorded_revision(saved) if key == "revision" else saved.get(key)
        if old != value:
            return f"{key}={old!r}, not {value!r}"
    return None


def fit_variant(variant: Variant, corpus: Any, models_dir: Path, *, verbose: bool = False,
                audio_root: str | os.PathLike | None = None,
                log: Callable[[str], None] | None = None) -> Path:
    """Fit a variant (or reuse its saved model) and return the model file.

    The fit is :func:`hdpmusic.pipeline.fit.fit_model`'s; a resumable model checkpoints
    into ``<model>.partial.hdp`` and a rerun after a kill continues from there. Audio
    models are fitted on the songs' audio files (``audio_root``, else the source the
    corpus records).
    """
    path = models_dir / f"{variant.model_file}.hdp"
    cls = model_class(variant.model)
    if path.exists():
        _check_saved_params(path, variant.params)
        _say(log, f"reusing {path}")
        return path
    models_dir.mkdir(parents=True, exist_ok=True)
    data = corpus if variant.indices is None else corpus.subset(variant.indices)
    params = dict(variant.params)
    if "verbose" in inspect.signature(cls).parameters:
        params["verbose"] = verbose
    _say(log, f"fitting {variant.name} on {len(data)} songs")
    fit_model(variant.model, data, path, params=params, resume=resumable(cls),
              checkpoint=models_dir / f"{variant.model_file}.partial.hdp",
              audio_root=audio_root, log=log)
    return path


def transform_task(variant: Variant, model_path: Path, task_path: Path, reps_dir: Path, *,
                   device: str | None = None, audio_root: str | os.PathLike | None = None,
                   log: Callable[[str], None] | None = None) -> Path:
    """Representations of a task corpus (or the saved ones, unless they were made with
    other transform attributes: another kind revision after an upgrade, other components).

    Audio models read the task songs' audio files (see :func:`fit_variant`).
    """
    out = reps_dir / f"{variant.name}_{task_path.stem}.h5"
    cls = model_class(variant.model)
    model = cls.load(model_path, device=device) if device is not None else cls.load(model_path)
    options = transform_options(variant.model, model, **variant.transform)
    if out.exists():
        stale = stale_attribute(read_attrs(out),
                                representation_attrs(variant.model, model, options))
        if stale is None:
            _say(log, f"reusing {out}")
            return out
        _say(log, f"rewriting {out}: it was made with {stale}")
    reps_dir.mkdir(parents=True, exist_ok=True)
    frames = model_input(variant.model) == "frames"
    corpus = Corpus.open(task_path, dim=getattr(model, "n_features_in_", None) if frames
                         else None)
    X = transform_corpus(variant.model, model, corpus, options=options,
                         audio_root=audio_root, model_path=model_path)
    write_representations(out, corpus.ids, X, name=variant.model, model=model,
                          options=options, source=model_path,
                          attrs={"corpus": str(task_path), **variant.config}, overwrite=True)
    _say(log, f"wrote {out}: {X.shape[0]} songs x {X.shape[1]} dims")
    return out


def evaluate_pair(variant: Variant, reps_path: Path, task: Any, evals_dir: Path, *,
                  runs: int, seed: int, device: str, n_iter: int | None = None,
                  kind: str | None = None, label: str | None = None, n_splits: int = 5,
                  progress: bool = False, log: Callable[[str], None] | None = None,
                  ) -> list[Any]:
    """The runs of one (variant, task kind) pair (reused when already scored alike, as the
    same fit, from the representation file as it is now: not when the file was rewritten
    since).

    ``kind`` defaults to the task's one kind; ``label`` (the task in the results) to
    the kind.
    """
    from hdpmusic.evaluation.protocol import evaluate, read_results, run_seeds, write_results

    kind = task.task_kind if kind is None else kind
    where = evals_dir / f"{variant.name}_{task.name}" / kind
    saved = where / "results.json"
    if saved.exists() and saved.stat().st_mtime_ns >= reps_path.stat().st_mtime_ns:
        old = read_results(where)
        # results without predictions (format version 1) are redone to get their CIs
        if ([r.config.get("seed") for r in old] == list(run_seeds(seed, runs))
                and all(r.task == (label or kind) and r.config.get("n_splits", n_splits)
                        == n_splits and r.predictions is not None
                        and (r.config.get("fit") or 0) == (variant.fit or 0) for r in old)):
            _say(log, f"reusing {where / 'results.json'}")
            return old
    reps = Representations.load(reps_path)
    results = evaluate(task, reps, task_kind=kind, task_label=label, runs=runs, seed=seed,
                       device=device, progress=progress, model=variant.results_label,
                       n_iter=n_iter, n_splits=n_splits, fit=variant.fit)
    for r in results:
        r.config.update(variant.config)
    where.mkdir(parents=True, exist_ok=True)
    write_results(results, where)
    return results


def task_kinds(paths: Sequence[Path], tasks: Sequence[Any],
               ) -> dict[Path, list[tuple[str, str]]]:
    """``(kind, results label)`` of every kind of annotations of every task file.

    The label is the kind, or ``kind (file stem)`` when several files hold that kind.

    Raises
    ------
    DataError
        A task file without annotations.
    """
    for path, task in zip(paths, tasks, strict=True):
        if not task.kinds:
            raise DataError(f"{path} holds no task annotations (targets, annotations or "
                            "interaction); give a file written by `hdpmusic prepare`")
    count = Counter(k for task in tasks for k in task.kinds)
    return {path: [(k, k if count[k] == 1 else f"{k} ({path.stem})") for k in task.kinds]
            for path, task in zip(paths, tasks, strict=True)}


def run_grid(variants: Sequence[Variant], train: str | os.PathLike,
             tasks: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
             runs: int = 5, seed: int = 0, device: str = "auto", n_iter: int | None = None,
             n_splits: int = 5, verbose: bool = False,
             audio_root: str | os.PathLike | None = None,
             log: Callable[[str], None] | None = None,
             title: str = "hdpmusic experiment", intro: str = "",
             timings: dict[str, float] | None = None) -> list[Any]:
    """Fit, transform, evaluate every variant on every task; write results and report.

    Every kind of annotations a task file holds is evaluated, labelled by its kind
    (``genre``, ``tagging``, ``recommendation``), or ``kind (file stem)`` when several
    task files hold that kind. ``n_splits``: user splits per recommendation run.
    ``timings``, when given, receives the seconds of every stage: ``fit <variant>``,
    ``transform <variant>``, ``evaluate <variant> <task>``, ``report``. The report draws
    the HDPGMM models of the variants that are first fits (``Variant.fit`` None or 0).

    Returns
    -------
    list of RunResult
        Variants × tasks × runs, in that order.
    """
    from hdpmusic.evaluation.protocol import write_results
    from hdpmusic.formats.taskdata import read_task
    from hdpmusic.report import write_report

    if not variants:
        raise ParameterError("nothing to run: no model in the grid")
    if not tasks:
        raise ParameterError("give at least one --task")
    if runs < 1:
        raise ParameterError(f"--runs must be >= 1; got {runs}")
    out = Path(out_dir)
    task_paths = [Path(t) for t in tasks]
    for t in [Path(train), *task_paths]:
        if not t.is_file():
            raise HdpmusicError(f"{t} does not exist")
    if len({t.stem for t in task_paths}) < len(task_paths):
        raise ParameterError("task files must have distinct names (their stems name "
                             "the representation files)")
    corpus = Corpus.open(train)
    task_data = [read_task(t) for t in task_paths]
    pairs = task_kinds(task_paths, task_data)
    eval_device = device
    model_device = None if device == "auto" else device
    results: list[Any] = []
    model_files: list[Path] = []
    for variant in variants:
        with stage_timer(timings, f"fit {variant.name}"):
            model_path = fit_variant(variant, corpus, out / "models", verbose=verbose,
                                     audio_root=audio_root, log=log)
        if variant.model == "hdpgmm" and not variant.fit and model_path not in model_files:
            model_files.append(model_path)
        for task_path, task in zip(task_paths, task_data, strict=True):
            with stage_timer(timings, f"transform {variant.name}"):
                reps_path = transform_task(variant, model_path, task_path, out / "reps",
                                           device=model_device, audio_root=audio_root,
                                           log=log)
            for kind, label in pairs[task_path]:
                with stage_timer(timings, f"evaluate {variant.name} {label}"):
                    results += evaluate_pair(variant, reps_path, task, out / "evals",
                                             runs=runs, seed=seed, device=eval_device,
                                             n_iter=n_iter, kind=kind, label=label,
                                             n_splits=n_splits, progress=verbose, log=log)
    write_results(results, out)
    with stage_timer(timings, "report"):
        write_report([out / "results.json"], out / "report", model_paths=model_files,
                     title=title, intro=intro)
    _say(log, f"results: {out / 'results.json'}; report: {out / 'report' / 'report.html'}")
    return results


def compare(train: str | os.PathLike, tasks: Sequence[str | os.PathLike],
            out_dir: str | os.PathLike, *, models: Sequence[str] = ("hdpgmm", "g1", "vq"),
            runs: int = 5, seed: int = 0, device: str = "auto",
            params: Mapping[str, Mapping[str, Any]] | None = None,
            audio_root: str | os.PathLike | None = None, n_iter: int | None = None,
            n_splits: int = 5, verbose: bool = False,
            log: Callable[[str], None] | None = None,
            title: str = "Model comparison", intro: str = "",
            timings: dict[str, float] | None = None,
            hdpgmm_kinds: Sequence[str] = (), fits: int = 1) -> list[Any]:
    """Table 3: every model fitted on ``train`` (``fits`` times with seeds ``seed``,
    ``seed + 1``, ...; once without a seed) and scored on every task.

    ``params`` holds per-model constructor overrides, ``hdpgmm_kinds`` further HDPGMM
    representations of the same fit and ``fits`` the fits of each seeded model, which the
    summaries' intervals then cover (see :func:`compare_variants`);
    ``timings`` receives stage times (see :func:`run_grid`).
    Audio models (KIM, CLMR) read the songs' audio through
    :func:`hdpmusic.audio.extract.audio_paths`: from ``audio_root`` (a folder or a list file)
    when given, else from where ``hdpmusic extract`` read each corpus; they are skipped
    when neither is known for ``train``.
    """
    audio = audio_root is not None or (
        Path(train).is_file() and bool(Corpus.open(train).attrs.get("audio_root")))
    variants = compare_variants(models, seed=seed, device=device, params=params,
                                audio=audio, hdpgmm_kinds=hdpgmm_kinds, fits=fits, log=log)
    return run_grid(variants, train, tasks, out_dir, runs=runs, seed=seed, device=device,
                    n_iter=n_iter, n_splits=n_splits, verbose=verbose,
                    audio_root=audio_root, log=log, title=title, intro=intro,
                    timings=timings)


def sweep(train: str | os.PathLike, tasks: Sequence[str | os.PathLike],
          out_dir: str | os.PathLike, *, eta0s: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1),
          subsets: Sequence[tuple[int, int]] = ((2000, 5), (20000, 5)),
          subset_eta0: float = 0.1, runs: int = 5, seed: int = 0, device: str = "auto",
          hdpgmm: dict[str, Any] | None = None, n_iter: int | None = None,
          n_splits: int = 5, verbose: bool = False, fits: int = 1,
          log: Callable[[str], None] | None = None) -> list[Any]:
    """Figure 3: HDPGMM per η0 on the full corpus and per random training subset
    (``fits`` times each, see :func:`sweep_variants`)."""

    if not Path(train).is_file():
        raise HdpmusicError(f"{train} does not exist")
    n_songs = len(Corpus.open(train))
    variants = sweep_variants(n_songs, eta0s=eta0s, subsets=subsets, subset_eta0=subset_eta0,
                              seed=seed, device=device, hdpgmm=hdpgmm, fits=fits, log=log)
    return run_grid(variants, train, tasks, out_dir, runs=runs, seed=seed, device=device,
                    n_iter=n_iter, n_splits=n_splits, verbose=verbose, log=log,
                    title="Learning factors: η0 and corpus size")
