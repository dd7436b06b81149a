"""``hdpmusic fit``: fit a model on a corpus and save it.

The options are mapped onto the chosen model's constructor parameters: those that apply
to every model (``--device``, ``--seed``, ``--batch-size``, ``--epochs``) and the model's
own group; an option that the model does not take is an error rather than silently
ignored, and so is one that the chosen HDPGMM algorithm does not use (``--kappa``,
``--tau0`` online; ``--tol``, ``--no-moves``, ``--early-stopping`` and its two options
memoized), and ``--out`` may not be the
corpus. The fit itself, checkpoints and ``--resume`` are
:func:`hdpmusic.pipeline.fit.fit_model`'s; under ``torchrun`` an HDPGMM fit joins the
process group first and rank 0 writes.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
from pathlib import Path
from typing import Any

from hdpmusic.cli._inputs import open_corpus, refuse_audio_root
from hdpmusic.cli._types import (
    Number,
    WholeNumber,
    WholeNumbers,
    positive_int,
    seed,
    switch,
    unit_share,
)
from hdpmusic.formats.atomic import check_output, remove_stale_temporaries
from hdpmusic.formats.locking import output_lock
from hdpmusic.model.initial import INITIAL_LABELS
from hdpmusic.model.stopping import AUTO_MIN_GROUPS, AUTO_MIN_SONGS
from hdpmusic.representations.registry import known_models, model_class
from hdpmusic.runtime.errors import HdpmusicError, ParameterError

#: HDPGMM-only options: argparse dest -> HDPGMM parameter. Their argparse default is
#: None, meaning "not given": HDPGMM's own defaults (the paper's) apply to a new fit,
#: the checkpoint's on --resume, and one given with another model is an error.
HDPGMM_OPTIONS: dict[str, str] = {name: name for name in (
    "n_components", "n_song_components", "algorithm", "tol", "moves", "early_stopping",
    "validation_fraction", "n_iter_no_change", "kappa", "tau0", "eta0",
    "splash", "gamma", "alpha0", "whiten", "init", "local_tol", "local_max_iter",
    "local_precision", "local_kernels", "dtype")}
#: Shared options HDPGMM takes: dest -> HDPGMM parameter
HDPGMM_SHARED = {"batch_size": "batch_size", "epochs": "max_epochs", "seed": "random_state"}
#: Options for every model: dest -> (constructor parameter, default)
COMMON_OPTIONS: dict[str, tuple[str, Any]] = {
    "device": ("device", "auto"),
    "seed": ("random_state", None),
    "batch_size": ("batch_size", None),
    "epochs": ("max_epochs", None),
}

#: Model-specific options of the baselines: dest -> (constructor parameter candidates,
#: models). The first candidate the model's constructor accepts receives the value.
BASELINE_OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reg_covar": (("reg_covar",), ("g1",)),
    "n_clusters": (("n_clusters",), ("vq",)),
    "standardize": (("standardize",), ("vq",)),
    "max_no_improvement": (("max_no_improvement",), ("vq",)),
    "steps": (("max_steps",), ("kim", "clmr")),
    "learning_rate": (("learning_rate",), ("kim", "clmr")),
    "num_workers": (("num_workers",), ("kim", "clmr")),
    "channels": (("channels",), ("kim", "clmr")),
    "n_mels": (("n_mels",), ("kim",)),
    "chunk_frames": (("chunk_frames",), ("kim",)),
    "hidden_dim": (("hidden_dim",), ("kim",)),
    "projection_dim": (("projection_dim",), ("clmr",)),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit", help="fit HDPGMM (or a baseline) on a corpus",
        description="Fit a model on a corpus file and save it. HDPGMM is fitted by "
                    "memoized VI with merge/delete moves until its ELBO stops changing "
                    "(--algorithm memoized, the default), or by the paper's online VI "
                    "(--algorithm online: K=256, T=32, batch 1024, kappa 0.6, tau0 64, "
                    "eta0 0.1, --epochs passes). "
                    "Audio models (kim, clmr) read the audio files named by the corpus "
                    "ids, found under the folder the corpus was extracted from (or "
                    "--audio-root). With --resume the run continues with the settings "
                    "saved in --out, on the corpus it was fitted on (its ids, lengths and "
                    "a sample of its frames are checked): an option that contradicts them "
                    "is an error, and --epochs (or --steps) may extend the run. Frame "
                    "models record the corpus's feature settings, which `hdpmusic "
                    "transform` and `embed` check.")
    p.add_argument("corpus", help="corpus .h5 written by `hdpmusic extract` or `prepare`")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--model", default="hdpgmm",
                   help=known_models())
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out, with its settings, on the same "
                        "corpus (hdpgmm, kim, clmr)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--songs", default=None, metavar="SPLIT[,SPLIT]",
                   help="fit on the songs of these splits of a task file only, e.g. "
                        "train,valid: no test song is seen, but the songs fitted get "
                        "sharper vectors than the others, which `evaluate` warns of "
                        "(default: all songs; the fit reads no labels)")
    c = p.add_argument_group("all models")
    c.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    c.add_argument("--seed", type=seed, default=None,
                   help="random seed of initialisation and mini-batch order (default: 0)")
    c.add_argument("--batch-size", type=positive_int, default=None,
                   help="hdpgmm: songs per mini-batch; vq: frames per k-means update; "
                        "kim/clmr: examples per training step (default: the model's, 1024 "
                        "for hdpgmm)")
    c.add_argument("--epochs", type=positive_int, default=None,
                   help="passes over the corpus (vq: at most this many; kim/clmr: unless "
                        "--steps); with --resume, the new total (default: the model's, 100 "
                        "for hdpgmm)")
    c.add_argument("--checkpoint-every", default=None,
                   type=WholeNumber(1, special={0: "hdpgmm at epoch ends, kim/clmr at the end"}),
                   help="hdpgmm, kim, clmr: also save every N updates (default 50; 0: "
                        "hdpgmm at epoch ends, kim/clmr at the end only)")
    g = p.add_argument_group("HDPGMM (--model hdpgmm)")
    g.add_argument("--n-components", type=positive_int, default=None,
                   help="corpus truncation K (default: 256)")
    g.add_argument("--n-song-components", type=positive_int, default=None,
                   help="song truncation T (default: 32)")
    g.add_argument("--algorithm", choices=["memoized", "online"], default=None,
                   help="memoized VI with moves, stopping on convergence (default), or "
                        "the paper's online VI with step (tau0 + t)^-kappa")
    g.add_argument("--tol", type=Number(0.0), default=None,
                   help="memoized: ELBO change over a pass, in nats per frame and "
                        "dimension, that ends the fit once the components' shares of the "
                        "slots have settled too (default: 2e-4; 0: run all --epochs)")
    g.add_argument("--no-moves", dest="moves", action="store_const", const=False,
                   default=None, help="memoized: no merge/delete/reorder moves")
    g.add_argument("--early-stopping", nargs="?", const=True, default=None,
                   type=switch, metavar="{auto,on,off}",
                   help="memoized: hold --validation-fraction of the songs out of the fit, "
                        "also stop once --n-iter-no-change passes in a row have not raised "
                        "their density per frame by more than --tol per dimension, then fit "
                        "one last pass over every song; alone: on (default: auto, on from "
                        f"{AUTO_MIN_SONGS} songs, in {AUTO_MIN_GROUPS} groups or more where the "
                        "file has groups)")
    g.add_argument("--validation-fraction", type=Number(0.0, strict=True, high=1.0,
                                                        high_strict=True), default=None,
                   help="memoized with --early-stopping: share of the songs held out, "
                        "whole groups where the corpus file has groups (default: 0.1)")
    g.add_argument("--n-iter-no-change", type=positive_int, default=None,
                   help="memoized with --early-stopping: passes without a better held-out "
                        "density that end the fit (default: 5)")
    g.add_argument("--kappa", type=Number(0.0, high=1.0), default=None,
                   help="online: forgetting rate of the step size (tau0 + t)^-kappa (default: 0.6)")
    g.add_argument("--tau0", type=Number(0.0), default=None,
                   help="online: delay of the step size (tau0 + t)^-kappa (default: 64)")
    g.add_argument("--eta0", type=unit_share, default=None,
                   help="splash regulariser (default 0.1 online, 0 memoized)")
    g.add_argument("--splash", choices=["uniform", "simplex"], default=None,
                   help="splash target: uniform (default) or the study's random simplex")
    g.add_argument("--gamma", type=Number(0.0, strict=True), default=None,
                   help="fixed corpus concentration (default: learned, Gamma(1, 1) "
                        "prior)")
    g.add_argument("--alpha0", type=Number(0.0, strict=True), default=None,
                   help="fixed song concentration (default: learned, Gamma(1, 1) prior)")
    g.add_argument("--whiten", choices=["cholesky", "pca", "zca", "none"], default=None,
                   help="frame whitening fitted on the corpus (default cholesky)")
    g.add_argument("--init", choices=list(INITIAL_LABELS), default=None,
                   help="initial assignments of a frame sample: k-means (default: "
                        "kmeans), its k-means++ seeding alone, or random (the study's)")
    g.add_argument("--local-tol", type=Number(0.0), default=None,
                   help="change of a song's local bound per frame (nats) that stops its "
                        "local step (default: 1e-3)")
    g.add_argument("--local-max-iter", type=positive_int, default=None,
                   help="iteration cap of the local step (default: 100)")
    g.add_argument("--local-precision", choices=["full", "float16", "bfloat16"], default=None,
                   help="precision in which the local step's iterations hold the frames' "
                        "log-likelihoods: a 16-bit type halves their memory traffic on a "
                        "GPU; bound and statistics stay in --dtype (default: full)")
    g.add_argument("--local-kernels", choices=["eager", "compiled"], default=None,
                   help="run the local step's iterations one operation at a time, or "
                        "fused by torch.compile into a few kernels: meant for GPUs, it "
                        "compiles for tens of seconds once and is slower on a CPU "
                        "(default: eager)")
    g.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="precision of the frame computations (default float32; "
                        "statistics are always float64)")
    b = p.add_argument_group("G1 (--model g1)")
    b.add_argument("--reg-covar", type=Number(0.0), default=None,
                   help="added to the per-song variances (default: 1e-6, the study's)")
    v = p.add_argument_group("VQ codebook (--model vq)")
    v.add_argument("--n-clusters", type=positive_int, default=None,
                   help="codebook size (default: 256)")
    v.add_argument("--no-standardize", dest="standardize", action="store_const",
                   const=False, default=None, help="cluster the raw frames")
    v.add_argument("--max-no-improvement", type=positive_int, default=None,
                   help="early stopping patience in updates (default: 10)")
    a = p.add_argument_group("KIM / CLMR (--model kim | clmr; need the audio files)")
    a.add_argument("--audio-root", default=None,
                   help="folder the corpus ids are relative to, or the list file given "
                        "to `hdpmusic extract` (default: what extract recorded)")
    a.add_argument("--steps", type=positive_int, default=None,
                   help="optimiser steps (default: --epochs passes)")
    a.add_argument("--learning-rate", type=Number(0.0, strict=True), default=None,
                   help="optimiser learning rate (default: the model's)")
    a.add_argument("--num-workers", default=None,
                   type=WholeNumber(1, special={0: "decode in the main process"}),
                   help="audio decoding processes (0: in the main process; default: 4)")
    a.add_argument("--channels", type=WholeNumbers(1, count=2), default=None,
                   help="convolution widths, comma-separated, e.g. 16,32,64,64,128,256 "
                        "(default: the model's)")
    a.add_argument("--n-mels", type=positive_int, default=None,
                   help="kim: mel bands (default: 128)")
    a.add_argument("--chunk-frames", type=positive_int, default=None,
                   help="kim: frames per crop (default: 216)")
    a.add_argument("--hidden-dim", type=positive_int, default=None,
                   help="kim: embedding width (default: 256)")
    a.add_argument("--projection-dim", type=positive_int, default=None,
                   help="clmr: projection head width (default: 64)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.model.distributed import init_from_env, world
    from hdpmusic.pipeline.fit import CHECKPOINT_EVERY, fit_model, resumable

    check_output(args.out, {"the corpus": args.corpus})
    cls = model_class(args.model)
    refuse_audio_root(args.model, args.audio_root)
    other = BASELINE_OPTIONS if args.model == "hdpgmm" else HDPGMM_OPTIONS
    given = [dest for dest in other if getattr(args, dest) is not None]
    if given:
        if other is HDPGMM_OPTIONS:
            raise ParameterError(f"{_flag(given[0])} applies to --model hdpgmm only, not "
                                 f"{args.model}")
        raise ParameterError(f"{_flag(given[0])} does not apply to --model {args.model}")
    if not resumable(cls):
        for dest in ("resume", "checkpoint_every"):
            if getattr(args, dest) not in (None, False):
                raise ParameterError(f"{_flag(dest)} does not apply to --model {args.model}")
    out = Path(args.out)
    lead = True
    if args.model == "hdpgmm":
        params, flags = hdpgmm_params(args)
        params["device"] = init_from_env(args.device)   # under torchrun: join the group
        lead = world()[0] == 0                           # rank 0 logs and writes
        if not (args.resume and out.exists()):   # a resumed fit checks against its file
            check_algorithm_params(_default_algorithm(params), params, flags)
    else:
        params, flags = baseline_params(args.model, cls, args), _baseline_flags(cls)
    if "verbose" in inspect.signature(cls).parameters:
        params["verbose"] = lead and not args.quiet
    if lead:
        remove_stale_temporaries(out)
    with output_lock(out) if lead else contextlib.nullcontext():
        if out.exists() and not (args.overwrite or args.resume):
            hint = "--resume to continue it or --overwrite" if resumable(cls) else "--overwrite"
            raise HdpmusicError(f"{out} exists; pass {hint} to replace it")
        every = CHECKPOINT_EVERY if args.checkpoint_every is None else args.checkpoint_every
        model = fit_model(args.model, open_songs(args), out, params=params,
                          resume=args.resume, checkpoint_every=every,
                          audio_root=args.audio_root, save=lead, flags=flags,
                          log=print if lead else None)
    if lead:
        print(f"saved {out}: {args.model} {_summary(model)}".rstrip())
    return 0


def _default_algorithm(given: dict[str, Any]) -> str:
    """The HDPGMM algorithm of a new fit: the one given, else the estimator's default."""
    from hdpmusic.model.hdpgmm import HDPGMM

    return given.get("algorithm", inspect.signature(HDPGMM).parameters["algorithm"].default)


def _baseline_flags(cls: Any) -> dict[str, str]:
    """Constructor parameter of a baseline -> the option that sets it."""
    accepted = set(inspect.signature(cls).parameters)
    flags = {param: _flag(dest) for dest, (param, _) in COMMON_OPTIONS.items()}
    for dest, (candidates, _) in BASELINE_OPTIONS.items():
        flags.update({c: _flag(dest) for c in candidates if c in accepted})
    return flags


def baseline_params(name: str, cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Constructor arguments of a baseline from the parsed options.

    Only options the user set (or whose default differs from None) are passed; an
    option the model's constructor does not take is an error, except a shared option
    left at its default and ``--seed`` (a model without one is deterministic).

    Parameters
    ----------
    name : str
        Registry name of the model.
    cls : type
        Its class.
    args : argparse.Namespace

    Returns
    -------
    dict
    """
    accepted = set(inspect.signature(cls).parameters)
    params: dict[str, Any] = {}
    for dest, (param, default) in COMMON_OPTIONS.items():
        value = getattr(args, dest)
        if param in accepted and value is not None:
            params[param] = value
        elif value not in (None, default) and dest != "seed":  # deterministic: no seed
            raise ParameterError(f"{_flag(dest)} does not apply to --model {name}")
    for dest, (candidates, models) in BASELINE_OPTIONS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        param = next((c for c in candidates if c in accepted), None)
        if name not in models or param is None:
            raise ParameterError(f"{_flag(dest)} does not apply to --model {name}")
        params[param] = value
    return params


def _summary(model: Any) -> str:
    """A few words on a fitted model."""
    passes = getattr(model, "passes_", None)
    if passes is not None:
        last = passes[-1] if passes else {}
        stop = ("converged" if model.converged_ else "stopped at --epochs") \
            if model.algorithm == "memoized" else "online"
        early = next((p for p in passes if p.get("stopped_early")), None)
        if early is not None:
            stop = (f"stopped early after pass {early['pass']}: held-out log density/frame "
                    f"{early['validation_score']:.4g}")
        if last.get("folded_in"):
            stop += "; the held-out songs joined for the last pass"
        return (f"({model.n_active_components_} active components, ELBO/frame "
                f"{last.get('elbo_per_frame', float('nan')):.4g} after {len(passes)} "
                f"passes, {stop})")
    if hasattr(model, "inertia_") and hasattr(model, "n_clusters"):
        return (f"(K={model.n_clusters}, {model.n_steps_} updates, inertia "
                f"{model.inertia_:.6g})")
    if hasattr(model, "n_features_in_"):
        return f"({model.n_features_in_}-d frames)"
    history = getattr(model, "history_", None)
    if history and "loss" in history[-1]:
        return f"({model.n_steps_} steps, last loss {history[-1]['loss']:.4g})"
    return ""


def open_songs(args: argparse.Namespace) -> Any:
    """The corpus to fit: the whole file, or the songs of the ``--songs`` splits (the
    corpus a resumed fit's fingerprint is checked against)."""
    from hdpmusic.formats.taskdata import songs_in_splits

    corpus = open_corpus(args.corpus, "fit")
    if args.songs is None:
        return corpus
    splits = [s.strip() for s in args.songs.split(",") if s.strip()]
    if not splits:
        raise ParameterError("--songs names no split; give e.g. --songs train,valid")
    return songs_in_splits(corpus, splits)


#: Options that set a parameter to False: dest -> option
NEGATED_FLAGS = {"standardize": "--no-standardize", "moves": "--no-moves"}


def _flag(dest: str) -> str:
    return NEGATED_FLAGS.get(dest, "--" + dest.replace("_", "-"))


def hdpgmm_params(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The HDPGMM parameters given on the command line, and the option of each.

    Returns
    -------
    params : dict
        Parameter -> value, for the options given (``--whiten none`` -> None).
    flags : dict
        Parameter -> option (``"max_epochs"`` -> ``"--epochs"``).
    """
    params: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for dest, param in {**HDPGMM_SHARED, **HDPGMM_OPTIONS}.items():
        flags[param] = _flag(dest)
        value = getattr(args, dest)
        if value is not None:
            params[param] = None if dest == "whiten" and value == "none" else value
    return params, flags


def check_algorithm_params(algorithm: str, given: dict[str, Any],
                           flags: dict[str, str]) -> None:
    """Refuse HDPGMM options that the chosen algorithm does not use.

    Parameters
    ----------
    algorithm : str
        The algorithm of the fit (given, saved in a resumed checkpoint, or the default).
    given : dict
        HDPGMM parameters set on the command line.
    flags : dict
        Parameter -> the option that sets it (for the message).

    Raises
    ------
    ParameterError
        E.g. ``--kappa`` or ``--tau0`` with the memoized algorithm, ``--tol`` or
        ``--no-moves`` with the online one.
    """
    from hdpmusic.model.optimisers import OPTIMISERS

    for used_by, optimiser in OPTIMISERS.items():
        for param in optimiser.own_params:
            if param not in given or used_by == algorithm:
                continue
            raise ParameterError(f"{flags[param]} applies to --algorithm {used_by} only; "
                                 f"this fit uses {algorithm}: leave {flags[param]} out or "
                                 f"pass --algorithm {used_by}")
