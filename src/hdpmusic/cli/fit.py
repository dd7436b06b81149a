"""``hdpmusic fit``: fit a model on a corpus and save it.

HDPGMM keeps its own code path (torchrun, checkpoints, resume). The baselines are
built generically: the options that apply to every model (``--device``, ``--seed``,
``--batch-size``, ``--epochs``) and each model's own group are mapped onto constructor
parameters, and an option that the chosen model does not take is an error rather than
silently ignored. Audio models (KIM, CLMR) read the audio files behind the corpus ids
(see :func:`hdpmusic.extract.audio_paths`).
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

from hdpmusic.errors import HdpmusicError, ParameterError

#: HDPGMM-only options: argparse dest -> default (a changed value with another model is
#: an error)
HDPGMM_OPTIONS: dict[str, Any] = {
    "n_components": 256, "n_song_components": 32, "kappa": 0.6, "tau0": 64.0,
    "eta0": 0.1, "splash": "uniform", "gamma": None, "alpha0": None, "whiten": "cholesky",
    "init": "kmeans++", "local_tol": 1e-4, "local_max_iter": 100, "dtype": "float32",
}
#: HDPGMM's defaults of the shared options left None on the command line (the
#: baselines use their constructors' defaults)
HDPGMM_SHARED_DEFAULTS = {"batch_size": 1024, "epochs": 100}
#: Default of --checkpoint-every for every model that writes training checkpoints
CHECKPOINT_EVERY = 50
#: On --resume a saved baseline keeps its hyper-parameters except these
RESUME_PARAMS = ("max_steps", "max_epochs", "num_workers", "verbose")

#: Options for every model: dest -> (constructor parameter, default)
COMMON_OPTIONS: dict[str, tuple[str, Any]] = {
    "device": ("device", "auto"),
    "seed": ("random_state", 0),
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
        description="Fit a model on a corpus file and save it. HDPGMM defaults are the "
                    "paper's (K=256, T=32, batch 1024, kappa 0.6, tau0 64, eta0 0.1). "
                    "Audio models (kim, clmr) read the audio files named by the corpus "
                    "ids, found under the folder the corpus was extracted from (or "
                    "--audio-root).")
    p.add_argument("corpus", help="corpus .h5 written by `hdpmusic extract`")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--model", default="hdpgmm",
                   help="hdpgmm (default), g1, vq, kim or clmr")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (same corpus and seed; hdpgmm)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--songs", default=None, metavar="SPLIT[,SPLIT]",
                   help="fit on the songs of these splits of a task file only, e.g. "
                        "train,valid (no test song is seen; default: all songs)")
    c = p.add_argument_group("all models")
    c.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--batch-size", type=int, default=None,
                   help="hdpgmm: songs per mini-batch (1024); vq: frames per k-means "
                        "update; kim/clmr: examples per training step")
    c.add_argument("--epochs", type=int, default=None,
                   help="passes over the corpus (hdpgmm: 100; vq: at most this many; "
                        "kim/clmr: unless --steps)")
    c.add_argument("--checkpoint-every", type=int, default=None,
                   help="hdpgmm, kim, clmr: also save every N updates (default 50; 0: "
                        "hdpgmm at epoch ends, kim/clmr at the end only)")
    g = p.add_argument_group("HDPGMM (--model hdpgmm)")
    g.add_argument("--n-components", type=int, default=256, help="corpus truncation K")
    g.add_argument("--n-song-components", type=int, default=32, help="song truncation T")
    g.add_argument("--kappa", type=float, default=0.6)
    g.add_argument("--tau0", type=float, default=64.0)
    g.add_argument("--eta0", type=float, default=0.1, help="splash regulariser")
    g.add_argument("--splash", choices=["uniform", "simplex"], default="uniform")
    g.add_argument("--gamma", type=float, default=None, help="fixed corpus concentration")
    g.add_argument("--alpha0", type=float, default=None, help="fixed song concentration")
    g.add_argument("--whiten", choices=["cholesky", "pca", "zca", "none"], default="cholesky")
    g.add_argument("--init", choices=["kmeans++", "random"], default="kmeans++")
    g.add_argument("--local-tol", type=float, default=1e-4)
    g.add_argument("--local-max-iter", type=int, default=100)
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    b = p.add_argument_group("G1 (--model g1)")
    b.add_argument("--reg-covar", type=float, default=None,
                   help="added to the per-song variances (1e-6, the study's)")
    v = p.add_argument_group("VQ codebook (--model vq)")
    v.add_argument("--n-clusters", type=int, default=None, help="codebook size (256)")
    v.add_argument("--no-standardize", dest="standardize", action="store_const",
                   const=False, default=None, help="cluster the raw frames")
    v.add_argument("--max-no-improvement", type=int, default=None,
                   help="early stopping patience in updates (10)")
    a = p.add_argument_group("KIM / CLMR (--model kim | clmr; need the audio files)")
    a.add_argument("--audio-root", default=None,
                   help="folder the corpus ids are relative to, or the list file given "
                        "to `hdpmusic extract` (default: what extract recorded)")
    a.add_argument("--steps", type=int, default=None,
                   help="optimiser steps (default: --epochs passes)")
    a.add_argument("--learning-rate", type=float, default=None)
    a.add_argument("--num-workers", type=int, default=None,
                   help="audio decoding processes (0: in the main process)")
    a.add_argument("--channels", type=_int_tuple, default=None,
                   help="convolution widths, comma-separated (e.g. 16,32,64,64,128,256)")
    a.add_argument("--n-mels", type=int, default=None, help="kim: mel bands")
    a.add_argument("--chunk-frames", type=int, default=None, help="kim: frames per crop")
    a.add_argument("--hidden-dim", type=int, default=None, help="kim: embedding width")
    a.add_argument("--projection-dim", type=int, default=None,
                   help="clmr: projection head width")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.registry import model_class, model_input

    if args.model == "hdpgmm":
        return _fit_hdpgmm(args)
    cls = model_class(args.model)
    changed = [name for name, default in HDPGMM_OPTIONS.items()
               if getattr(args, name) != default]
    if changed:
        raise ParameterError(f"{_flag(changed[0])} applies to --model hdpgmm only, "
                             f"not {args.model}")
    fit_options = inspect.signature(cls.fit).parameters
    resumable = "resume" in fit_options and "checkpoint" in fit_options
    if not resumable:
        for dest in ("resume", "checkpoint_every"):
            if getattr(args, dest) not in (None, False):
                raise ParameterError(f"{_flag(dest)} does not apply to --model {args.model}")
    out = Path(args.out)
    resume = args.resume and out.exists()
    if out.exists() and not (args.overwrite or args.resume):
        hint = "--resume to continue it or --overwrite" if resumable else "--overwrite"
        raise HdpmusicError(f"{out} exists; pass {hint} to replace it")
    params = baseline_params(args.model, cls, args)
    if "verbose" in inspect.signature(cls).parameters:
        params["verbose"] = not args.quiet
    corpus = open_songs(args)
    if model_input(args.model) == "audio":
        from hdpmusic.extract import audio_paths

        data: Any = audio_paths(corpus, args.audio_root)
    elif args.audio_root is not None:
        raise ParameterError(f"--audio-root applies to audio models only, not {args.model}")
    else:
        data = corpus
    kwargs: dict[str, Any] = {}
    if "ids" in fit_options and data is not corpus:
        kwargs["ids"] = corpus.ids
    if resumable:
        every = CHECKPOINT_EVERY if args.checkpoint_every is None else args.checkpoint_every
        kwargs.update(checkpoint=out, checkpoint_every=every, resume=resume)
    if resume:
        model = cls.load(out, device=params.get("device"))
        model.set_params(**{k: v for k, v in params.items() if k in RESUME_PARAMS})
        print(f"resuming {out} at update {getattr(model, 'n_steps_', 0)}")
    else:
        model = cls(**params)
    model.fit(data, **kwargs)
    model.save(out)
    print(f"saved {out}: {args.model} {_summary(model)}".rstrip())
    return 0


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
        elif value != default and dest != "seed":     # a deterministic model needs no seed
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
    """A few words on a fitted baseline."""
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
    """The corpus to fit: the whole file, or the songs of the ``--songs`` splits."""
    from hdpmusic.corpus import Corpus
    from hdpmusic.taskdata import songs_in_splits

    corpus = Corpus.open(args.corpus)
    if args.songs is None:
        return corpus
    splits = [s.strip() for s in args.songs.split(",") if s.strip()]
    if not splits:
        raise ParameterError("--songs names no split; give e.g. --songs train,valid")
    return songs_in_splits(corpus, splits)


def _int_tuple(text: str) -> tuple[int, ...]:
    """``"16,32,64"`` → (16, 32, 64)."""
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}"
                                         ) from None


def _flag(dest: str) -> str:
    return "--" + ("no-standardize" if dest == "standardize" else dest.replace("_", "-"))


def _fit_hdpgmm(args: argparse.Namespace) -> int:
    from hdpmusic.model.distributed import init_from_env, world
    from hdpmusic.model.hdpgmm import HDPGMM

    for dest in BASELINE_OPTIONS:
        if getattr(args, dest) is not None:
            raise ParameterError(f"{_flag(dest)} does not apply to --model hdpgmm")
    if args.audio_root is not None:
        raise ParameterError("--audio-root applies to audio models only, not hdpgmm")
    shared = {k: getattr(args, k) if getattr(args, k) is not None else default
              for k, default in HDPGMM_SHARED_DEFAULTS.items()}
    batch_size, epochs = shared["batch_size"], shared["epochs"]
    out = Path(args.out)
    device = init_from_env(args.device)          # under torchrun: join the process group
    lead = world()[0] == 0                       # rank 0 logs and writes
    corpus = open_songs(args)
    if args.resume and out.exists():
        model = HDPGMM.load(out, device=device)
        model.set_params(max_epochs=epochs, verbose=lead and not args.quiet)
        if lead:
            print(f"resuming {out} at epoch {model.epoch_ + 1}, update {model.n_steps_}")
    else:
        if out.exists() and not (args.overwrite or args.resume):
            raise HdpmusicError(f"{out} exists; pass --resume to continue it or --overwrite")
        model = HDPGMM(
            n_components=args.n_components, n_song_components=args.n_song_components,
            batch_size=batch_size, max_epochs=epochs, kappa=args.kappa,
            tau0=args.tau0, eta0=args.eta0, splash=args.splash, gamma=args.gamma,
            alpha0=args.alpha0, whiten=None if args.whiten == "none" else args.whiten,
            init=args.init, local_tol=args.local_tol, local_max_iter=args.local_max_iter,
            device=device, dtype=args.dtype, random_state=args.seed,
            verbose=lead and not args.quiet)
    every = CHECKPOINT_EVERY if args.checkpoint_every is None else args.checkpoint_every
    model.fit(corpus, checkpoint=out, checkpoint_every=every,
              resume=args.resume and out.exists())
    if not lead:
        return 0
    model.save(out)
    last = model.history_[-1] if model.history_ else {}
    print(f"saved {out}: {model.n_active_components_} active components, "
          f"ELBO/frame {last.get('elbo_per_frame', float('nan')):.4g}")
    return 0
