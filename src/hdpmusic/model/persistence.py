"""HDPGMM checkpoints: the package's own format, and the study's pytorch-hdpgmm files.

The own format (:func:`save`, :func:`load`) is a
:mod:`hdpmusic.formats.checkpoint` file of kind ``"hdpgmm"``: the constructor parameters,
the statistics (from which every global factor is re-derived), the prior, the whitening,
the optimiser's state (the memoized per-batch statistics) and the training position, so a
loaded fit transforms and resumes exactly as the saved one would. Damaged files are
refused before anything is built from them (:func:`_check_checkpoint_shapes`,
:func:`_check_checkpoint_values`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hdpmusic.formats.checkpoint import (
    corpus_header,
    load_checkpoint,
    restore_corpus,
    save_checkpoint,
)
from hdpmusic.model.optimisers import optimiser_for
from hdpmusic.model.sufficient import Prior, Stats
from hdpmusic.model.whitening import Whitener
from hdpmusic.runtime.errors import FormatError

__all__ = ["CHECKPOINT_MODEL", "CHECKPOINT_VERSION", "from_study_checkpoint", "load", "save"]

CHECKPOINT_MODEL = "hdpgmm"
CHECKPOINT_VERSION = 2


def save(model: Any, path: str | os.PathLike) -> None:
    """Save a fitted model's parameters, state and training position (atomically).

    Parameters
    ----------
    model : HDPGMM
        A fitted model (known here by its attributes: this module sits below the
        estimator's).
    path : path-like
        The checkpoint to write; an existing file is replaced only once the new one is
        complete (:func:`~hdpmusic.formats.checkpoint.save_checkpoint`).
    """
    model._check_fitted()
    tensors = {f"stats.{k}": v for k, v in model.stats_.tensors().items()}
    tensors.update({"prior.m0": model.prior_.m0, "prior.W0_inv": model.prior_.W0_inv,
                    "gamma_rate": (model.gamma_rate_ if model.gamma_rate_ is not None
                                   else torch.zeros(()))})
    tensors.update({f"memo.{k}": v for k, v in model._optimiser().state_tensors().items()})
    whitener = None
    if model.whitener_ is not None:
        state = model.whitener_.state_dict()
        whitener = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
        tensors.update({f"whitener.{k}": v for k, v in state.items()
                        if isinstance(v, np.ndarray)})
    header = {
        "params": model.get_params(),
        "n_features_in": model.n_features_in_,
        "n_songs": model.n_songs_,
        "n_frames": model.n_frames_,
        "position": {"step": model.n_steps_, "epoch": model.epoch_,
                     "batch_in_epoch": model.batch_in_epoch_},
        "prior": {"lam0": model.prior_.lam0, "nu0": model.prior_.nu0,
                  "gamma": model.prior_.gamma, "alpha0": model.prior_.alpha0,
                  "gamma_prior": model.prior_.gamma_prior,
                  "alpha0_prior": model.prior_.alpha0_prior},
        "whitener": whitener,
        "history": model.history_,
        "passes": model.passes_,
        "converged": bool(getattr(model, "converged_", False)),
        "early_stopping": bool(getattr(model, "early_stopping_", False)),
        "held_out_digest": getattr(model, "held_out_digest_", None),
        "corpus_fingerprint": getattr(model, "corpus_fingerprint_", None),
        **corpus_header(model),
    }
    save_checkpoint(path, model=CHECKPOINT_MODEL, version=CHECKPOINT_VERSION,
                    header=header, tensors=tensors)


def load(cls: type, path: str | os.PathLike, *, device: str | None = None) -> Any:
    """A model of class ``cls`` from a checkpoint written by :func:`save`.

    Parameters
    ----------
    cls : type
        :class:`~hdpmusic.model.hdpgmm.HDPGMM` or a subclass.
    path : path-like
    device : str, optional
        Overrides the saved ``device``.

    Raises
    ------
    FormatError
        A file of another kind or version, or a damaged one.
    """
    header, t = load_checkpoint(path, model=CHECKPOINT_MODEL, version=CHECKPOINT_VERSION)
    _check_checkpoint_shapes(path, header, t)
    _check_checkpoint_values(path, t)
    model = cls(**header["params"])
    if device is not None:
        model.device = device
    p = header["prior"]
    model.prior_ = Prior(m0=t["prior.m0"], W0_inv=t["prior.W0_inv"], lam0=p["lam0"],
                         nu0=p["nu0"], gamma=p["gamma"], alpha0=p["alpha0"],
                         gamma_prior=tuple(p["gamma_prior"]),
                         alpha0_prior=tuple(p["alpha0_prior"]))
    stats = {k.split(".", 1)[1]: v for k, v in t.items() if k.startswith("stats.")}
    model._restore(Stats(**stats), t["gamma_rate"] if p["gamma"] is None else None,
                   n_songs=header["n_songs"], n_frames=header["n_frames"],
                   whitener=_whitener_from(header["whitener"], t))
    pos = header["position"]
    model.n_steps_, model.epoch_ = pos["step"], pos["epoch"]
    model.batch_in_epoch_ = pos["batch_in_epoch"]
    model.history_, model.passes_ = list(header["history"]), list(header["passes"])
    model.converged_ = bool(header["converged"])
    model.early_stopping_ = bool(header.get("early_stopping",           # older files: the param
                                            header["params"]["early_stopping"] is True))
    model.held_out_digest_ = header.get("held_out_digest")
    model.corpus_fingerprint_ = header["corpus_fingerprint"]
    restore_corpus(model, header)
    memo = {k.split(".", 1)[1]: v for k, v in t.items() if k.startswith("memo.")}
    model.optimiser_ = optimiser_for(model.algorithm).from_state_tensors(memo, model)
    return model


def from_study_checkpoint(cls: type, path: str | os.PathLike, **params: Any) -> Any:
    """Load a checkpoint written by the study's ``pytorch-hdpgmm`` (``HDPGMM.save``).

    The Gaussian–Wishart posteriors, corpus sticks, γ posterior and whitening are
    carried over exactly (as statistics: N = λ − λ0, λm − λ0m0, W⁻¹ + λmmᵀ − W0⁻¹ −
    λ0m0m0ᵀ); the song concentration becomes fixed at its posterior mean (the study
    could keep one per training song).

    Parameters
    ----------
    cls : type
        :class:`~hdpmusic.model.hdpgmm.HDPGMM` or a subclass.
    path : path-like
    **params
        Constructor arguments that override the checkpoint's.

    Raises
    ------
    FormatError
        Not such a checkpoint, or one whose tensors disagree in dimension.
    """
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        (m, lam, W, nu), (_, u, v), (y0, y1) = raw["variational_params"][:3]
        alpha_post = raw["variational_params"][3]
        (m0, lam0, W0, nu0), _, gamma_prior = raw["hyper_params"]
        K, T = int(raw["max_components_corpus"]), int(raw["max_components_document"])
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "weights_only" in str(err):
            reason = "it holds objects other than tensors and plain containers"
        raise FormatError(f"{path} is not a checkpoint of the study's pytorch-hdpgmm "
                          f"({reason})") from err
    f64 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
    m, lam, W, nu, u, v = map(f64, (m, lam, W, nu, u, v))
    m0, W0 = f64(m0), f64(W0)
    w0, w1 = (f64(alpha_post[0]), f64(alpha_post[1]))
    alpha_mean = float((w0 / w1).mean())
    d = m.shape[1]
    if W.shape[1:] != (d, d) or W0.shape != (d, d) or m0.shape != (d,):
        raise FormatError(f"{path}: the study checkpoint's means have dimension {d} but its "
                          f"scale matrices are {tuple(W.shape[1:])} and its prior's "
                          f"{tuple(W0.shape)}; the file is damaged")
    model = cls(n_components=K, n_song_components=T, alpha0=alpha_mean,
                lambda0=float(lam0), nu0=float(nu0),
                whiten="cholesky" if raw.get("whiten_params") else None, **params)
    model.prior_ = Prior(m0=m0, W0_inv=torch.linalg.inv(W0), lam0=float(lam0),
                         nu0=float(nu0), gamma=None, alpha0=alpha_mean,
                         gamma_prior=tuple(float(g) for g in gamma_prior))
    N = lam - float(lam0)
    W_inv = torch.linalg.inv(W)
    gamma_mean = float(y0) / float(y1)
    zero = torch.zeros((), dtype=torch.float64)
    stats = Stats(N=N, S1=lam[:, None] * m - float(lam0) * m0,
                  S2=(W_inv + lam[:, None, None] * m[:, :, None] * m[:, None, :]
                      - model.prior_.W0_inv - float(lam0) * torch.outer(m0, m0)),
                  su=u - 1.0, sv=v - gamma_mean, alpha=zero, usage=N, entropy=zero)
    whitener = None
    if raw.get("whiten_params"):
        wp = raw["whiten_params"]
        whitener = Whitener.from_state_dict({
            "method": "cholesky", "mean": np.asarray(wp["mean"], dtype=np.float64),
            "matrix": np.asarray(wp["precision_cholesky"], dtype=np.float64)})
    model._restore(stats, torch.as_tensor(float(y1), dtype=torch.float64), n_songs=0,
                   n_frames=0, whitener=whitener)
    model.n_steps_ = len(raw.get("training_monitors", {}).get("training_lowerbound", []))
    model.epoch_, model.batch_in_epoch_ = 0, 0
    model.history_, model.passes_ = [], []
    model.optimiser_ = optimiser_for(model.algorithm)()
    return model


def _check_checkpoint_shapes(path: str | os.PathLike, header: dict[str, Any],
                             tensors: dict[str, Tensor]) -> None:
    """Refuse a checkpoint whose header's K and d disagree with its tensors, before
    anything is built from the header (a damaged K could ask for any amount of memory).

    Raises
    ------
    FormatError
        A tensor of another shape than the header's K and d imply.
    """
    K, d = header["params"]["n_components"], header["n_features_in"]
    if not all(isinstance(v, int) and v >= 1 for v in (K, d)):
        raise FormatError(f"{path}: the header's K={K!r} and d={d!r} are not whole numbers "
                          ">= 1; the file is damaged (refit the model)")
    expected = {"stats.N": (K,), "stats.S1": (K, d), "stats.S2": (K, d, d),
                "stats.su": (K - 1,), "stats.sv": (K - 1,), "stats.usage": (K,),
                "prior.m0": (d,), "prior.W0_inv": (d, d)}
    if "memo.components" in tensors:
        n_batches = tensors["memo.components"].shape[0]
        expected["memo.components"] = (n_batches, K, 3 + d + d * (d + 1) // 2)
    for name, shape in expected.items():
        got = tuple(tensors[name].shape)
        if got != shape:
            raise FormatError(f"{path}: the header declares K={K} components of dimension "
                              f"{d}, but tensor {name!r} has shape {got}, not {shape}; the "
                              "file is damaged (refit the model)")


#: Checkpoint tensors that count frames or slots: never below zero
_COUNT_TENSORS = ("stats.N", "stats.su", "stats.sv", "stats.usage")


def _check_checkpoint_values(path: str | os.PathLike, tensors: dict[str, Tensor]) -> None:
    """Refuse a checkpoint whose tensors hold values no fit produces (a tampered or
    damaged file): NaN or infinite numbers anywhere, negative counts.

    Parameters
    ----------
    path : path-like
        The checkpoint (for the message).
    tensors : dict of str to Tensor
        Its tensors, as :func:`~hdpmusic.formats.checkpoint.load_checkpoint` returns them.

    Raises
    ------
    FormatError
        Naming the tensor.
    """
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise FormatError(f"{path}: tensor {name!r} holds NaN or infinite values; the "
                              "file is damaged (refit the model)")
    for name in _COUNT_TENSORS:
        counts = tensors[name].double()
        floor = -1e-9 * (1.0 + float(counts.abs().max())) if counts.numel() else 0.0
        if counts.numel() and float(counts.min()) < floor:
            raise FormatError(f"{path}: tensor {name!r} holds negative counts (down to "
                              f"{float(counts.min()):.4g}); the file is damaged (refit "
                              "the model)")


def _whitener_from(meta: dict | None, tensors: dict[str, Tensor]) -> Any:
    if meta is None:
        return None

    state = dict(meta)
    state.update({k.split(".", 1)[1]: v.numpy() for k, v in tensors.items()
                  if k.startswith("whitener.")})
    return Whitener.from_state_dict(state)
