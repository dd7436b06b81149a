"""``hdpmusic fit``: fit a model on a corpus and save it."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdpmusic.errors import HdpmusicError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit", help="fit HDPGMM (or a baseline) on a corpus",
        description="Fit a model on a corpus file and save it. HDPGMM defaults are the "
                    "paper's (K=256, T=32, batch 1024, kappa 0.6, tau0 64, eta0 0.1).")
    p.add_argument("corpus", help="corpus .h5 written by `hdpmusic extract`")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--model", default="hdpgmm", help="hdpgmm (default)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (same corpus and seed)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    g = p.add_argument_group("HDPGMM")
    g.add_argument("--n-components", type=int, default=256, help="corpus truncation K")
    g.add_argument("--n-song-components", type=int, default=32, help="song truncation T")
    g.add_argument("--batch-size", type=int, default=1024, help="songs per mini-batch")
    g.add_argument("--epochs", type=int, default=100, help="passes over the corpus")
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
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--checkpoint-every", type=int, default=50,
                   help="also save every N updates (0: only at epoch ends)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hdpmusic.corpus import Corpus
    from hdpmusic.model.distributed import init_from_env, world
    from hdpmusic.model.hdpgmm import HDPGMM

    if args.model != "hdpgmm":
        from hdpmusic.registry import model_class

        model_class(args.model)
        raise HdpmusicError(f"`hdpmusic fit --model {args.model}` is not available yet")
    out = Path(args.out)
    device = init_from_env(args.device)          # under torchrun: join the process group
    lead = world()[0] == 0                       # rank 0 logs and writes
    corpus = Corpus.open(args.corpus)
    if args.resume and out.exists():
        model = HDPGMM.load(out, device=device)
        model.set_params(max_epochs=args.epochs, verbose=lead and not args.quiet)
        if lead:
            print(f"resuming {out} at epoch {model.epoch_ + 1}, update {model.n_steps_}")
    else:
        if out.exists() and not (args.overwrite or args.resume):
            raise HdpmusicError(f"{out} exists; pass --resume to continue it or --overwrite")
        model = HDPGMM(
            n_components=args.n_components, n_song_components=args.n_song_components,
            batch_size=args.batch_size, max_epochs=args.epochs, kappa=args.kappa,
            tau0=args.tau0, eta0=args.eta0, splash=args.splash, gamma=args.gamma,
            alpha0=args.alpha0, whiten=None if args.whiten == "none" else args.whiten,
            init=args.init, local_tol=args.local_tol, local_max_iter=args.local_max_iter,
            device=device, dtype=args.dtype, random_state=args.seed,
            verbose=lead and not args.quiet)
    model.fit(corpus, checkpoint=out, checkpoint_every=args.checkpoint_every,
              resume=args.resume and out.exists())
    if not lead:
        return 0
    model.save(out)
    last = model.history_[-1] if model.history_ else {}
    print(f"saved {out}: {model.n_active_components_} active components, "
          f"ELBO/frame {last.get('elbo_per_frame', float('nan')):.4g}")
    return 0
