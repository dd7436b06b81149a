"""The HDPGMM estimator: online variational inference with a scikit-learn interface."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from hdpmusic.formats.checkpoint import extend_record, record_corpus
from hdpmusic.formats.corpus import as_corpus, require_frames
from hdpmusic.formats.taskdata import corpus_groups
from hdpmusic.model import expectations as ex
from hdpmusic.model import persistence
from hdpmusic.model.compiled import compiled_iteration
from hdpmusic.model.distributed import all_reduce_sum, shard, world
from hdpmusic.model.fisher import COVARIANCE_FLOOR, FisherEncoder, mixture_covariance
from hdpmusic.model.initial import INITIAL_LABELS
from hdpmusic.model.kinds import EMBED_KIND, KINDS, SHARE_KINDS, kind_revision
from hdpmusic.model.local import (
    LocalParams,
    SongSummary,
    exact_columns,
    expected_loglik_shares,
    frame_averages,
    infer_batch,
    local_iteration,
    mean_responsibility,
    min_bucket_frames,
    simplex_splash,
)
from hdpmusic.model.memory import check_memory, hold_on_gpu
from hdpmusic.model.objective import corpus_terms, optimal_component_terms
from hdpmusic.model.optimisers import OPTIMISERS, Optimiser, optimiser_for
from hdpmusic.model.stopping import (
    check_groups,
    creeping,
    passes_without_improvement,
    split_digest,
    stops_early,
    validation_split,
)
from hdpmusic.model.sufficient import (
    Globals,
    Prior,
    Stats,
    concentration_moments,
    derive_globals,
    initial_statistics,
    stick_posterior,
    update_gamma,
)
from hdpmusic.model.whitening import Whitener
from hdpmusic.runtime.devices import resolve_device, song_index
from hdpmusic.runtime.errors import DataError, ParameterError
from hdpmusic.runtime.progress import progress_bar
from hdpmusic.runtime.validation import Boolean, Interval, Options, validate_params

log = logging.getLogger(__name__)

Kind = Literal["posterior", "responsibility", "loglik", "fisher", "fisher-mean"]
Components = Literal["live", "all"]
#: expected training frames below which a component is dead (holds only its prior)
LIVE_FRAMES = 1.0
Algorithm = Literal["memoized", "online"]


#: ``local_precision`` -> the dtype the local step holds its log-likelihoods in ("full":
#: the model's ``dtype``)
LOW_PRECISIONS = {"float16": torch.float16, "bfloat16": torch.bfloat16}


class HDPGMM(TransformerMixin, BaseEstimator):
    """Hierarchical Dirichlet process Gaussian mixture, fitted by variational inference.

    Songs are groups of frames; the corpus shares K Gaussian components with weights
    β ~ GEM(γ), and each song draws its own T-slot mixture over them (Wang, Paisley &
    Blei 2011, with a Gaussian–Wishart base measure). Two optimisers work on the same
    statistics of mini-batches of whole songs:

    * ``"memoized"`` (default): memoized online VI (Hughes & Sudderth 2013) — fixed
      batches whose latest statistics are summed, no learning rate, the full-batch
      optimum at convergence; with ``moves``, components are reordered and merged (a
      negligible one merged into its best partner is deleted) whenever the whole ELBO
      rises, so K is an upper bound and the number used is learned. Stops when a pass,
      its moves included, changes the ELBO per frame and dimension by at most ``tol``
      nats and no component's share of the song slots by more than
      :data:`~hdpmusic.model.memoized.SETTLED_SHARE` — or, with ``early_stopping``,
      when the density of held-out songs has stopped rising.
    * ``"online"``: the paper's stochastic VI, global natural parameters updated with
      step ρ_t = (τ0 + t)^−κ; runs ``max_epochs`` passes.

    Parameters
    ----------
    n_components : int, default=256
        Corpus truncation K.
    n_song_components : int, default=32
        Song truncation T.
    batch_size : int, default=1024
        Songs per mini-batch.
    max_epochs : int, default=100
        Passes over the corpus in :meth:`fit` (a cap for memoized inference: reaching it
        before ``tol`` is met issues a ``sklearn.exceptions.ConvergenceWarning``).
    algorithm : {"memoized", "online"}, default="memoized"
    tol : float, default=0.0002
        Memoized: change of the ELBO over a pass, in nats per frame and feature
        dimension (as density models report bits per dimension), at or below which the
        fit stops once the components' shares of the slots have settled too (0: run
        ``max_epochs`` passes). An absolute change, as in scikit-learn's mixtures: the
        ELBO's zero moves with the features' units, so a relative change would mean
        something else on every corpus.
    moves : bool, default=True
        Memoized: reorder and merge/delete components at the end of each pass.
    early_stopping : bool or "auto", default="auto"
        Memoized: hold ``validation_fraction`` of the songs out of the fit, score their
        log predictive density per frame (:meth:`score`) after every pass, and also stop
        once ``n_iter_no_change`` passes in a row have not raised the best score by more
        than ``tol`` nats per frame and dimension, provided the last pass raised the ELBO
        by at most :data:`~hdpmusic.model.stopping.CREEP` × ``tol`` (the slow late creep
        this rule cuts, not the first passes' reorganisation;
        :mod:`hdpmusic.model.stopping`). Once the fit has stopped (on either rule), the
        held-out songs join it for one last pass over every song, so the model is fitted
        on all of them. The held-out songs are drawn from ``random_state``, the same on a
        resumed fit, as whole groups where :meth:`fit` has ``groups``. ``"auto"``: on for a
        memoized fit of :data:`~hdpmusic.model.stopping.AUTO_MIN_SONGS` (100) songs or
        more, in :data:`~hdpmusic.model.stopping.AUTO_MIN_GROUPS` (20) groups or more
        where they come in groups, off otherwise (``early_stopping_`` tells which).
    validation_fraction : float, default=0.1
        Memoized with ``early_stopping``: share of the songs held out, in (0, 1).
    n_iter_no_change : int, default=5
        Memoized with ``early_stopping``: passes without improvement that end the fit.
    kappa : float, default=0.6
    tau0 : float, default=64.0
        Online: step size ρ_t = (τ0 + t)^−κ, t = number of updates so far.
    eta0 : float or None, default=None
        Splash regulariser (the paper's Eq. 21): statistics use ``(1 − η_t) r + η_t e`` with
        η_t = η0·10³/(t + 10³). ``None``: 0.1 (the paper's) for online, 0 for memoized
        inference (whose ELBO is then exact and non-decreasing).
    splash : {"uniform", "simplex"}, default="uniform"
        ``e = 1/K`` (the paper), or a random point of the simplex per frame (the
        study's code).
    gamma : float or None, default=None
    alpha0 : float or None, default=None
        Corpus and song concentrations; ``None`` learns them with Gamma(1, 1) hyper-priors.
    lambda0 : float, default=2.0
        Prior precision scale λ0 of the component means.
    nu0 : float or None, default=None
        Prior Wishart degrees of freedom; ``None`` gives d + 2.
    whiten : {"cholesky", "pca", "zca"} or None, default="cholesky"
        Whitening fitted on the training corpus (stored with the model).
    init : {"kmeans", "kmeans++", "random"}, default="kmeans"
        Initial hard assignments of a sample of frames: Lloyd's k-means from a k-means++
        seeding, the k-means++ seeding alone, or random labels (the study's
        initialisation); see :mod:`hdpmusic.model.initial`.
    init_samples : int, default=100000
        Frames sampled for the initialisation.
    local_tol : float, default=0.001
    local_max_iter : int, default=100
        Per-song stopping rule of the local step: change of the song's bound per frame
        (nats), and an iteration cap.
    local_precision : {"full", "float16", "bfloat16"}, default="full"
        Precision in which the local step's iterations hold E_q[log p(x|φ_k)] (centred
        per frame): ``"full"`` keeps ``dtype``; a 16-bit type halves the memory traffic
        of the two products that dominate the iterations on a GPU, while the bound, the
        responsibilities and the statistics are computed in ``dtype`` from the converged
        song factors.
    local_kernels : {"eager", "compiled"}, default="eager"
        How the local step's iterations run: ``"eager"``, one PyTorch operation at a
        time, or ``"compiled"``, fused by ``torch.compile`` into a few kernels
        (:mod:`hdpmusic.model.compiled`; Triton on a GPU, C++ on a CPU). Meant for GPUs,
        where an iteration's many small launches and the softmax over ζ's memory
        traffic weigh; compiling costs tens of seconds once per process, and on a CPU
        the compiled step is no faster.
    max_padding : float, default=0.1
        Largest share of padding in the length buckets of the local step.
    min_bucket_frames : int or "auto", default="auto"
        Padded frames below which a length bucket takes songs whatever their padding
        (``max_padding`` then applies beyond it). A bucket costs each local iteration a
        fixed number of kernel launches, so on a GPU fewer, more padded buckets are
        faster where songs are short. ``"auto"``: 0 on a CPU; on a GPU 2²⁶ / K
        (262,144 frames at K 256; at most 2²⁰, the largest bucket).
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    dtype : {"float32", "float64"}, default="float32"
        Precision of the frame-level math (statistics are always accumulated in float64).
    random_state : int, default=0
        Seed of the initialisation, the batch order and the simplex splash.
    verbose : bool, default=True
        Progress bars.

    Attributes
    ----------
    weights_ : np.ndarray, shape (K,)
        E[β_k], the corpus-level component weights.
    means_ : np.ndarray, shape (K, d)
        Posterior means m_k, in the original feature space.
    covariances_ : np.ndarray, shape (K, d, d)
        E[Λ_k]⁻¹ = W_k⁻¹/ν_k, in the original feature space.
    n_active_components_ : int
        Components that explain at least 0.1 % of the frames (responsibilities without
        the splash).
    history_ : list of dict
        One record per update: step, epoch, elbo_per_frame, n_active, n_effective (exp of
        the entropy of E[β]), rho (online), eta,
        local_iter (mean), frames_per_s, seconds, padding, and (in :meth:`fit`) data_wait,
        the share of the step's time spent waiting for the batch to be read.
    passes_ : list of dict
        One record per pass of :meth:`fit`: pass, elbo_per_frame (memoized: the exact
        whole-corpus ELBO after the pass's moves; online: the mean of the pass's
        mini-batch estimates), n_active, n_effective, merges, reordered, seconds (the
        held-out scoring included), and with ``early_stopping_`` validation_score (the
        held-out songs' :meth:`score`) and stopped_early (whether that rule ended the
        fit), the last pass folded_in (over every song, the held-out ones joined).
    converged_ : bool
        Whether the last :meth:`fit` stopped on its own rule (``tol``, or
        ``early_stopping``) rather than ``max_epochs``.
    early_stopping_ : bool
        Whether the last :meth:`fit` held songs out to stop early (``early_stopping``
        resolved for its algorithm and corpus).
    held_out_digest_ : int or None
        :func:`~hdpmusic.model.stopping.split_digest` of the held-out songs (None: none
        held out): a resumed fit that would hold out others is refused.
    whitener_ : Whitener or None
    n_features_in_ : int
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(Integral, 1, None)],
        "n_song_components": [Interval(Integral, 1, None)],
        "batch_size": [Interval(Integral, 1, None)],
        "max_epochs": [Interval(Integral, 1, None)],
        "algorithm": [Options(OPTIMISERS)],
        "tol": [Interval(Real, 0, None)],
        "moves": [Boolean()],
        "early_stopping": [Boolean(), Options({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None)],
        "kappa": [Interval(Real, 0, 1)],
        "tau0": [Interval(Real, 0, None)],
        "eta0": [Interval(Real, 0, 1, closed="left"), None],
        "splash": [Options({"uniform", "simplex"})],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "alpha0": [Interval(Real, 0, None, closed="neither"), None],
        "lambda0": [Interval(Real, 0, None, closed="neither")],
        "nu0": [Interval(Real, 0, None, closed="neither"), None],
        "whiten": [Options({"cholesky", "pca", "zca"}), None],
        "init": [Options(set(INITIAL_LABELS))],
        "init_samples": [Interval(Integral, 1, None)],
        "local_tol": [Interval(Real, 0, None)],
        "local_max_iter": [Interval(Integral, 1, None)],
        "local_precision": [Options({"full", *LOW_PRECISIONS})],
        "local_kernels": [Options({"eager", "compiled"})],
        "max_padding": [Interval(Real, 0, None)],
        "min_bucket_frames": [Interval(Integral, 0, None), Options({"auto"})],
        "dtype": [Options({"float32", "float64"})],
        "random_state": [Interval(Integral, 0, None)],
        "verbose": [Boolean()],
    }

    def __init__(self, n_components: int = 256, n_song_components: int = 32, *,
                 batch_size: int = 1024, max_epochs: int = 100,
                 algorithm: Algorithm = "memoized", tol: float = 2e-4, moves: bool = True,
                 early_stopping: bool | Literal["auto"] = "auto", validation_fraction: float = 0.1,
                 n_iter_no_change: int = 5,
                 kappa: float = 0.6, tau0: float = 64.0, eta0: float | None = None,
                 splash: str = "uniform", gamma: float | None = None,
                 alpha0: float | None = None, lambda0: float = 2.0, nu0: float | None = None,
                 whiten: str | None = "cholesky", init: str = "kmeans",
                 init_samples: int = 100_000, local_tol: float = 1e-3,
                 local_max_iter: int = 100, local_precision: str = "full",
                 local_kernels: str = "eager", max_padding: float = 0.1,
                 min_bucket_frames: int | Literal["auto"] = "auto", device: str = "auto",
                 dtype: str = "float32", random_state: int = 0, verbose: bool = True) -> None:
        self.n_components = n_components
        self.n_song_components = n_song_components
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.algorithm = algorithm
        self.tol = tol
        self.moves = moves
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.kappa = kappa
        self.tau0 = tau0
        self.eta0 = eta0
        self.splash = splash
        self.gamma = gamma
        self.alpha0 = alpha0
        self.lambda0 = lambda0
        self.nu0 = nu0
        self.whiten = whiten
        self.init = init
        self.init_samples = init_samples
        self.local_tol = local_tol
        self.local_max_iter = local_max_iter
        self.local_precision = local_precision
        self.local_kernels = local_kernels
        self.max_padding = max_padding
        self.min_bucket_frames = min_bucket_frames
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ public API
    def fit(self, X: Any, y: None = None, *, groups: Any = None,
            checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 0,
            resume: bool = False) -> HDPGMM:
        """Fit on a corpus: passes of memoized or online updates (see ``algorithm``).

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray (n_j, d)
        y : ignored
        groups : array-like, shape (n_songs,), optional
            A label per song (track, album, artist) for early stopping: whole groups are
            held out, so that excerpts of one recording do not score their siblings' fit
            (whose density keeps rising with the fit's grip on those recordings, which
            keeps the fit going). None: the ``groups`` column of the corpus's file where
            it has one (:func:`hdpmusic.formats.taskdata.corpus_groups`: a song without
            a group is its own), else every song its own group (``groups=corpus.ids``
            holds out single songs whatever the file says). The same groups must be
            given to resume the fit.
        checkpoint : path, optional
            Where to save the model (atomically) at the end of every pass, every
            ``checkpoint_every`` updates if > 0, and at the end.
        checkpoint_every : int
        resume : bool
            Continue a fitted (e.g. :meth:`load`-ed) model from its saved position instead
            of re-initialising; with the same corpus and seed the result is identical to an
            uninterrupted run.
        """
        corpus = self._as_corpus(X)
        self._validate_params()
        check_memory(self, corpus)
        can_stop_early = (self.early_stopping is not False
                          and "early_stopping" in self._optimiser().own_params)
        if groups is None and can_stop_early:       # the file's, read only where they count
            groups = corpus_groups(corpus)
        groups = check_groups(groups, len(corpus))
        n_groups = None if groups is None else len(np.unique(groups))
        self.early_stopping_ = can_stop_early and stops_early(self.early_stopping,
                                                              len(corpus), n_groups)
        everything, corpus, held = self._hold_out(corpus, groups)
        split = None if held is None else split_digest(held.ids)
        if resume and hasattr(self, "stats_"):
            self.converged_ = bool(getattr(self, "converged_", False))
            self._check_dim(corpus)
            if getattr(self, "held_out_digest_", None) not in (None, split):
                raise DataError("cannot resume: the fit would hold out other songs than it "
                                "started with; give the same groups (and corpus) as then")
            if held is not None and self.n_songs_ == len(everything):
                corpus, held = everything, None      # stopped, the held-out songs joining
            if self.n_songs_ != len(corpus):
                kept = f" it keeps after holding out {len(held)}" if held is not None else ""
                raise DataError(f"cannot resume: the model was fitted on {self.n_songs_} songs, "
                                f"this corpus has {len(corpus)}{kept}")
        else:
            self._initialise(corpus)
            self.converged_ = False
        self.held_out_digest_ = split
        record_corpus(self, X, corpus.ids)
        optimiser = self._optimiser()
        optimiser.start(self, corpus)
        message = optimiser.fit_warning(self, corpus)
        if message is not None:
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        dev, dtype = self._device(), self._dtype()
        corpus = hold_on_gpu(corpus, dev)
        rank, size = world()
        saving = checkpoint is not None and rank == 0
        while not self.converged_ and (self.epoch_ < self.max_epochs
                                       or self._folding_in(held)):
            t_pass = time.perf_counter()
            plan = self._plan(corpus)
            todo = plan[self.batch_in_epoch_:]
            bar = progress_bar(len(plan), f"pass {self.epoch_ + 1}/{self.max_epochs}",
                               unit="batch", enabled=self.verbose and rank == 0,
                               initial=self.batch_in_epoch_)
            try:
                mine = corpus.iter_batches([shard(b, rank, size) for _, b in todo], device=dev,
                                           dtype=dtype, whitener=self.whitener_)
                for batch_id, _ in todo:
                    t_wait = time.perf_counter()
                    batch = next(mine)
                    wait = time.perf_counter() - t_wait
                    record = self._step(batch.frames, corpus.lengths[batch.indices],
                                        batch.indices, batch_id=batch_id)
                    record["data_wait"] = wait / (wait + record["seconds"])
                    self.batch_in_epoch_ += 1
                    bar.update(1)
                    bar.set_postfix(elbo=f"{record['elbo_per_frame']:.4g}",
                                    active=record["n_active"],
                                    fps=f"{record['frames_per_s']:.3g}",
                                    it=f"{record['local_iter']:.0f}")
                    if saving and checkpoint_every and self.n_steps_ % checkpoint_every == 0:
                        self.save(checkpoint)
            finally:
                bar.close()
            self._end_pass(t_pass, held)
            if self._folding_in(held):                   # every song has now been fitted
                record_corpus(self, X)
            if held is not None and self.converged_:
                corpus, held = self._fold_in(everything, len(held)), None
            if saving:
                self.save(checkpoint)
        message = optimiser.capped_warning(self)
        if message is not None and rank == 0:
            warnings.warn(message, ConvergenceWarning, stacklevel=2)
        return self

    def partial_fit(self, X: Any, y: None = None, *, corpus_size: int | None = None) -> HDPGMM:
        """One online (stochastic) update from the songs of ``X`` taken as one mini-batch.

        The online update with step ρ_t: ``algorithm="online"`` only (memoized inference
        revisits the fixed batches of a whole corpus: use :meth:`fit`; a ParameterError
        says so). The first call initialises the model (whitening, priors, components)
        from ``X``.

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray (n_j, d)
        corpus_size : int, optional
            J, the number of songs the statistics are scaled to (first call only; default
            ``len(X)``); the corpus's frames are estimated from ``X``'s mean song length.

        Raises
        ------
        DataError
            ``X``'s feature settings differ from those of the earlier batches.

        Notes
        -----
        The model records the songs of every batch (``fitted_corpus_``; arrays carry no
        ids, and a batch of them leaves the songs unknown), so that ``transform`` marks
        them and ``evaluate`` warns of scores on songs the model saw.
        """
        corpus = self._as_corpus(X)
        optimiser_for(self.algorithm)().partial_update(self)
        start = not hasattr(self, "stats_")
        record = extend_record(getattr(self, "fitted_corpus_", None), X, start=start)
        if start:
            self._initialise(corpus, n_songs=corpus_size)
        self._check_dim(corpus)
        idx = np.arange(len(corpus))
        batch = corpus.load_batch(idx, device=self._device(), dtype=self._dtype(),
                                  whitener=self.whitener_)
        self._step(batch.frames, corpus.lengths, idx, batch_id=None)
        self.fitted_corpus_ = record
        return self

    def transform(self, X: Any, kind: Kind = EMBED_KIND, *, log: bool | None = None,
                  log_floor: float = 1e-8, batch_size: int | None = None,
                  components: Components = "live", min_weight: float = 0.0) -> np.ndarray:
        """Song-level representations, one row per song.

        Parameters
        ----------
        X : Corpus or sequence of np.ndarray (n_j, d)
        kind : {"posterior", "responsibility", "loglik", "fisher", "fisher-mean"}, \
default="posterior"
            ``posterior``: frame-average of p(k|x) ∝ exp E_q[log p(x|φ_k)] under uniform
            weights (the study's feature); ``responsibility``: frame-average of the HDP
            responsibilities r = ζφ from the local step (uses the sticks);
            ``loglik``: the paper's formula ``y_jk = N_j⁻¹ ỹ_jk / Σ_k' ỹ_jk'`` with
            ``ỹ_jk = E_q[log p(X_j | c_j, z_j, φ_k)] = Σ_n r_jnk E_q[log p(x_jn | φ_k)]``,
            component k's share of the song's expected log-likelihood (the ratio of two
            sums of log-densities: meaningful while they share a sign, as when the
            densities are below one); ``fisher``: the improved Fisher vector of the song
            under its own component weights (:mod:`hdpmusic.model.fisher`; each
            component's covariance raised by a tenth of the mixture's): weight,
            first- and second-order parts, 1 + 2d values per component;
            ``fisher-mean``: without the second-order part, 1 + d values per component.
        log : bool or None, default=None
            Return ``log(max(y, log_floor))``. None: True for the share kinds
            (``posterior``, ``responsibility``, ``loglik``), False for the Fisher kinds
            (signed values, for which True is an error).
        log_floor : float, default=1e-8
        batch_size : int, optional
            Songs per batch (default ``self.batch_size``).
        components : {"live", "all"}, default="live"
            ``live``: the components of :meth:`song_components` (dead ones, which give
            constant columns, are left out); ``all``: every one of the K components.
        min_weight : float, default=0.0
            With ``components="live"``: keep only components with ``E[β_k] >=
            min_weight`` (a compact representation).

        Returns
        -------
        np.ndarray, float32, shape (J, C) for the share kinds, (J, C(1 + 2d)) for
        ``fisher`` and (J, C(1 + d)) for ``fisher-mean``
            C = ``len(self.song_components(min_weight))`` (K with ``components="all"``),
            columns in the order of those components.
        """
        log = self._transform_log(kind, log)
        corpus = self._as_corpus(X)
        self._check_dim(corpus)
        keep = self._kept_components(components, min_weight)
        lp = self._local_params()
        summary = self._song_summary(kind, keep)
        out: np.ndarray | None = None
        for batch in self._ordered_batches(corpus, batch_size, "transform"):
            lengths = corpus.lengths[batch.indices]
            self._check_finite(batch.frames, lengths, batch.indices, corpus.ids)
            if summary is None:
                Y = frame_averages(batch.frames, lengths, lp)
            else:
                res = infer_batch(batch.frames, lengths, lp, statistics=False,
                                  summaries={kind: summary})
                Y = res.songs[kind]
            if kind == "loglik":
                n = torch.as_tensor(lengths, dtype=Y.dtype, device=Y.device)
                Y = Y / Y.sum(1, keepdim=True) / n[:, None]
            if kind in SHARE_KINDS:
                Y = Y[:, torch.as_tensor(keep, device=Y.device)]
            if out is None:
                out = np.empty((len(corpus), Y.shape[1]), dtype=np.float32)
            out[batch.indices] = Y.float().cpu().numpy()
        if out is None:
            raise DataError("cannot transform an empty corpus")
        return np.log(np.maximum(out, log_floor)) if log else out

    def song_components(self, min_weight: float = 0.0) -> np.ndarray:
        """The components a representation keeps: the live ones with ``E[β_k] >=
        min_weight``.

        A component is live when its usage (expected frames of the training corpus,
        responsibilities without the splash) is at least :data:`LIVE_FRAMES`; the others
        hold the prior alone (deleted by the moves, or never used) and would give columns
        that are constant across songs.

        Parameters
        ----------
        min_weight : float, default=0.0
            Smallest corpus weight E[β_k] kept.

        Returns
        -------
        np.ndarray of int64, shape (C,)
            Component indices, ascending.

        Raises
        ------
        ParameterError
            ``min_weight`` leaves no component (the message gives the largest weight).
        """
        if not (np.isfinite(min_weight) and 0.0 <= min_weight < 1.0):
            raise ParameterError(f"min_weight must be in [0, 1), got {min_weight}")
        self._check_fitted()
        usage = self.stats_.usage.cpu().numpy()
        weights = self.weights_
        keep = np.flatnonzero((usage >= LIVE_FRAMES) & (weights >= min_weight))
        if keep.size == 0:
            raise ParameterError(f"min_weight={min_weight:g} leaves no component; the "
                                 f"largest weight is {weights.max():.3g}")
        return keep.astype(np.int64)

    def transform_attrs(self, kind: Kind = EMBED_KIND, *, log: bool | None = None,
                        components: Components = "live", min_weight: float = 0.0,
                        **_: Any) -> dict[str, Any]:
        """What a representation file records of :meth:`transform` with these options:
        ``kind``, ``revision`` (of the kind's definition,
        :func:`hdpmusic.model.kinds.kind_revision`), ``standardise`` (whether a linear
        probe should standardise the columns: the share kinds yes, the Fisher vectors,
        normalised as a whole, no), ``log`` (as resolved), ``components`` (the model's
        component indices kept) and ``min_weight``."""
        return {"kind": kind, "revision": kind_revision(kind),
                "standardise": kind in SHARE_KINDS,
                "log": self._transform_log(kind, log),
                "components": self._kept_components(components, min_weight).tolist(),
                "min_weight": min_weight}

    def _transform_log(self, kind: str, log: bool | None) -> bool:
        if kind not in KINDS:
            raise ParameterError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if log is None:
            return kind in SHARE_KINDS
        if log and kind not in SHARE_KINDS:
            raise ParameterError(f"log does not apply to kind {kind!r} (signed values)")
        return bool(log)

    def _kept_components(self, components: str, min_weight: float) -> np.ndarray:
        if components == "all":
            if min_weight:
                raise ParameterError("min_weight needs components='live'")
            return np.arange(self.n_components)
        if components != "live":
            raise ParameterError(f"components must be 'live' or 'all', not {components!r}")
        return self.song_components(min_weight)

    def _song_summary(self, kind: str, keep: np.ndarray) -> SongSummary | None:
        """The local-step summary computing ``kind`` (None for ``posterior``, which needs
        no local step)."""
        if kind == "posterior":
            return None
        if kind == "responsibility":
            return mean_responsibility
        if kind == "loglik":
            return expected_loglik_shares
        g = self._globals_
        total = mixture_covariance(g.m, self._model_covariances(), self.stats_.usage.to(g.m))
        return FisherEncoder.from_posterior(
            g.m, g.W, g.nu, g.weights, torch.as_tensor(keep, device=g.m.device),
            floor=COVARIANCE_FLOOR * total, second_order=kind == "fisher",
            dtype=self._dtype())

    def predict_proba(self, frames: np.ndarray) -> np.ndarray:
        """p(k | x) ∝ exp(E_q[log p(x|φ_k)] + E[log β_k]) per frame.

        Parameters
        ----------
        frames : np.ndarray, shape (n, d)

        Returns
        -------
        np.ndarray, shape (n, K)
        """
        x = self._frames_tensor(frames)
        lp = self._local_params()
        return torch.softmax(lp.loglik(x) + lp.log_beta, 1).cpu().numpy()

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Most probable component per frame, shape (n,)."""
        return self.predict_proba(frames).argmax(1)

    def transform_frames(self, frames: np.ndarray) -> np.ndarray:
        """One vector per frame (the HEAR timestamp embedding): :meth:`predict_proba`.

        Parameters
        ----------
        frames : np.ndarray, shape (n, d)

        Returns
        -------
        np.ndarray, shape (n, K), float32
        """
        return self.predict_proba(frames).astype(np.float32)

    def score_samples(self, frames: np.ndarray) -> np.ndarray:
        """Log predictive density of frames under the corpus-level mixture (original space).

        ``log Σ_k E[β_k] St(x | m_k, L_k, ν_k + 1 − d)`` (Bishop 10.81) in the whitened
        space, plus the log-Jacobian of the whitening.

        Returns
        -------
        np.ndarray, shape (n,), float64
        """
        return (self._log_predictive(self._frames_tensor(frames))
                + self._log_jacobian()).cpu().numpy()

    def _log_predictive(self, x: Tensor) -> Tensor:
        """``log Σ_k E[β_k] St(x | ...)`` of whitened frames (n, d) in chunks; (n,) float64."""
        g = self._globals_
        log_w = torch.log(g.weights.clamp_min(1e-300))
        step = ex.feature_chunk_rows(x.device)
        out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
        for lo in range(0, x.shape[0], step):
            phi = ex.quadratic_features(x[lo:lo + step].double())
            log_t = ex.student_t_predictive(phi, g.lam, g.m, g.W, g.logdet_W, g.nu)
            out[lo:lo + step] = torch.logsumexp(log_t + log_w, 1)
        return out

    def score(self, X: Any, y: None = None, *, batch_size: int | None = None) -> float:
        """Mean per-frame held-out log predictive density of a corpus (higher is better).

        Computed batch by batch (``batch_size`` songs, default ``self.batch_size``), so
        memory is bounded by the batch, not the corpus.
        """
        corpus = self._as_corpus(X)
        self._check_dim(corpus)
        return self._log_density(corpus, batch_size) / corpus.n_frames + self._log_jacobian()

    def _log_density(self, corpus: Any, batch_size: int | None = None) -> float:
        """The summed log predictive density of a corpus's whitened frames, batch by batch
        (0 for no songs)."""
        return sum(float(self._log_predictive(batch.frames).sum())
                   for batch in self._ordered_batches(corpus, batch_size, "score"))

    def _validation_score(self, held: Any) -> float:
        """:meth:`score` of early stopping's held-out songs; under
        :mod:`torch.distributed` each rank scores its share of them and the sums are added,
        so every rank gets the same score for a share of the work."""
        rank, size = world()
        mine = held.subset(shard(np.arange(len(held)), rank, size))
        total = all_reduce_sum(torch.tensor([self._log_density(mine)], dtype=torch.float64,
                                            device=self._device()))
        return float(total) / held.n_frames + self._log_jacobian()

    @property
    def weights_(self) -> np.ndarray:
        return self._globals_.weights.cpu().numpy()

    @property
    def means_(self) -> np.ndarray:
        m = self._globals_.m.cpu().numpy()
        return m if self.whitener_ is None else self.whitener_.inverse_transform(m)

    @property
    def covariances_(self) -> np.ndarray:
        cov = self._model_covariances().cpu().numpy()
        if self.whitener_ is None:
            return cov
        Minv = np.linalg.inv(np.asarray(self.whitener_.matrix_, dtype=np.float64))
        return Minv.T @ cov @ Minv

    def _model_covariances(self) -> Tensor:
        """The components' expected covariances ``E[Λ_k]⁻¹ = (ν_k W_k)⁻¹`` in the model's
        (whitened) space, shape (K, d, d)."""
        g = self._globals_
        return torch.linalg.inv(g.W) / g.nu[:, None, None]

    @property
    def n_active_components_(self) -> int:
        usage = self.stats_.usage
        return int((usage >= 1e-3 * usage.sum()).sum())

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Save parameters, fitted state and training position (atomically; the format is
        :mod:`hdpmusic.model.persistence`'s)."""
        persistence.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> HDPGMM:
        """Load a model saved by :meth:`save` (``device`` overrides the saved one).

        Raises
        ------
        FormatError
            A file of another kind or version, or a damaged one (shapes that disagree with
            the header, NaN, negative counts).
        """
        return persistence.load(cls, path, device=device)

    @classmethod
    def from_study_checkpoint(cls, path: str | os.PathLike, **params: Any) -> HDPGMM:
        """Load a checkpoint written by the study's ``pytorch-hdpgmm`` (``HDPGMM.save``);
        ``params`` override constructor arguments (see
        :func:`hdpmusic.model.persistence.from_study_checkpoint`)."""
        return persistence.from_study_checkpoint(cls, path, **params)

    # ------------------------------------------------------------------ internals
    def _step(self, frames: Tensor, lengths: np.ndarray, indices: np.ndarray, *,
              batch_id: int | None) -> dict:
        """One update from a packed mini-batch (already whitened, on device): the local
        step, then the optimiser's update with its statistics (``batch_id``: the fixed
        batch of a memoized pass; None for the online update).

        Under :mod:`torch.distributed` the arguments are this rank's shard of the global
        batch; the statistics are summed over ranks before the (identical) update.
        """
        t0 = time.perf_counter()
        self._check_finite(frames, lengths, indices)
        optimiser = self._optimiser()
        t = self.n_steps_
        eta = self._eta0() * 1e3 / (t + 1e3)
        pairs = optimiser.merge_pairs()
        res = infer_batch(frames, lengths, self._local_params(),
                          eta=eta if self.splash == "uniform" else 0.0, pairs=pairs)
        batch_stats = res.stats
        if self.splash == "simplex" and eta > 0:
            seed = (self.random_state * 1_000_003 + t) * 1009 + world()[0]
            batch_stats = simplex_splash(batch_stats, frames, eta, seed)
        counters = torch.tensor([len(lengths), float(lengths.sum()), res.padded_frames,
                                 float(res.n_iter.sum())], dtype=torch.float64,
                                device=res.bound.device)
        gaps = res.merge_gaps if pairs is not None else counters[:0]
        flat = all_reduce_sum(torch.cat([batch_stats.flat(), gaps, counters]))
        batch_stats = batch_stats.from_flat(flat)
        n_songs, n_frames, padded, iters = flat[-4:].tolist()
        record: dict[str, Any] = {"step": t + 1, "epoch": self.epoch_, "eta": eta}
        elbo, extra = optimiser.update(self, batch_id, batch_stats, int(n_songs),
                                       flat[-4 - len(gaps):-4] if pairs is not None else None)
        record.update(extra)
        self.n_steps_ = t + 1
        seconds = time.perf_counter() - t0
        record.update({"elbo_per_frame": elbo / self.n_frames_,
                       "n_active": self.n_active_components_,
                       "n_effective": self._effective_components(),
                       "local_iter": iters / n_songs,
                       "frames_per_s": n_frames / seconds, "seconds": seconds,
                       "padding": 1.0 - n_frames / max(padded, 1.0)})
        self.history_.append(record)
        return record

    def _end_pass(self, started: float, held: Any) -> None:
        """The optimiser's end of the pass (memoized: moves and the stopping rule), the
        early-stopping rule on the ``held`` songs (None: off), and the pass's record (its
        seconds from ``started``, a ``time.perf_counter()`` value, moves and scoring
        included)."""
        steps = [h for h in self.history_ if h["epoch"] == self.epoch_]
        elbo, self.converged_, done = self._optimiser().end_pass(self, steps)
        record = {"pass": self.epoch_ + 1, **done}
        if self._folding_in(held):
            record["folded_in"] = True
            self.converged_ = True
        elif held is not None:
            score = self._validation_score(held)
            scores = [p["validation_score"] for p in self.passes_ if "validation_score" in p]
            d = self.n_features_in_
            stale = passes_without_improvement([*scores, score], self.tol * d)
            elbos = [p["elbo_per_frame"] / d for p in self.passes_] + [elbo / d]
            stop = stale >= self.n_iter_no_change and creeping(elbos, self.tol)
            record.update(validation_score=score, stopped_early=stop and not self.converged_)
            self.converged_ = self.converged_ or stop
        record.update({"elbo_per_frame": elbo, "n_active": self.n_active_components_,
                       "n_effective": self._effective_components(),
                       "seconds": time.perf_counter() - started})
        self.passes_.append(record)
        self.epoch_, self.batch_in_epoch_ = self.epoch_ + 1, 0
        log.info("pass %d: elbo/frame %.6g, %d components, %d merges%s", record["pass"], elbo,
                 record["n_active"], record["merges"],
                 f", held-out log density/frame {record['validation_score']:.6g}"
                 if held is not None else
                 ", the held-out songs folded in" if record.get("folded_in") else "")

    def _optimal_elbo(self, stats: Stats, own: Tensor | None = None) -> Tensor:
        """The ELBO of the statistics with the globals the model would derive from them,
        shape (...); ``own`` (..., K): the components' own terms when known
        (:func:`~hdpmusic.model.objective.optimal_component_terms` of ``stats``).

        With ``own`` given only the stick parts and the entropy of ``stats`` are read, and
        they may carry a leading axis of several states (the merge trials) that ``own``
        shares."""
        sticks = update_gamma(stick_posterior(stats, self.prior_, gamma_rate=self.gamma_rate_,
                                              n_songs=self.n_songs_, T=self.n_song_components),
                              stats, self.prior_)
        if own is None:
            own = optimal_component_terms(stats, self.prior_)
        return own.sum(-1) + corpus_terms(stats, sticks, self.prior_, n_songs=self.n_songs_,
                                          T=self.n_song_components)

    def _hold_out(self, corpus: Any, groups: np.ndarray | None) -> tuple[Any, Any, Any]:
        """``(every song with the held-out ones last, the songs to fit, the held-out
        songs)``: with ``early_stopping_``, the split of
        :func:`~hdpmusic.model.stopping.validation_split` by ``groups`` (the same on every
        rank and on a resumed fit); else ``(corpus, corpus, None)``."""
        if not self.early_stopping_:
            return corpus, corpus, None
        train, held = validation_split(len(corpus), self.validation_fraction,
                                       self.random_state, groups)
        log.info("early stopping: %d of %d songs held out%s", len(held), len(corpus),
                 "" if groups is None else f" ({len(np.unique(groups[held]))} of "
                                           f"{len(np.unique(groups))} groups, whole)")
        everything = corpus.subset(np.concatenate([train, held]))
        return (everything, everything.subset(np.arange(len(train))),
                everything.subset(np.arange(len(train), len(corpus))))

    def _folding_in(self, held: Any) -> bool:
        """Whether the pass under way is the last of an early-stopped fit, over every song
        (``held``: the songs still held out, None once they joined)."""
        return self.early_stopping_ and held is None

    def _fold_in(self, everything: Any, n_held: int) -> Any:
        """Let the ``n_held`` held-out songs, last in ``everything``, join the fit for its
        last pass; returns the corpus that pass visits."""
        self.n_songs_, self.n_frames_ = len(everything), int(everything.n_frames)
        self._optimiser().add_songs(self, n_held)
        self.converged_ = False
        return hold_on_gpu(everything, self._device())

    def _plan(self, corpus: Any) -> list[tuple[int | None, np.ndarray]]:
        """This pass's batches, as the optimiser visits them: ``(batch id or None, songs)``."""
        return self._optimiser().plan(self, corpus)

    def _optimiser(self) -> Optimiser:
        """The optimiser of ``algorithm``, with its state (a new one if ``algorithm`` was
        changed since)."""
        current = getattr(self, "optimiser_", None)
        if current is None or current.name != self.algorithm:
            self.optimiser_ = optimiser_for(self.algorithm)()
        return self.optimiser_

    def _effective_components(self) -> float:
        """exp of the entropy of E[β]: the number of equally weighted components with the
        same spread of weight."""
        w = self._globals_.weights
        return float(torch.exp(-torch.special.xlogy(w, w).sum()))

    def _eta0(self) -> float:
        """η0: ``eta0``, or the optimiser's default when it is None."""
        default = optimiser_for(self.algorithm).default_eta0
        return default if self.eta0 is None else float(self.eta0)

    def _initialise(self, corpus: Any, n_songs: int | None = None) -> None:
        self._validate_params()
        if len(corpus) == 0:
            raise DataError("cannot fit on an empty corpus")
        require_frames(corpus, "HDPGMM statistics")
        d, K = corpus.dim, self.n_components
        dev = self._device()
        whitener = None
        if self.whiten is not None:
            whitener = Whitener(method=self.whiten).fit(corpus)
        sample = np.asarray(corpus.sample_frames(min(self.init_samples, corpus.n_frames),
                                                 seed=self.random_state), dtype=np.float64)
        if not np.isfinite(sample).all():
            raise DataError("the corpus has NaN or infinite frames; run Corpus.check_finite() "
                            "to find the songs")
        if whitener is not None:
            sample = whitener.transform(sample)
        mean, cov = sample.mean(0), np.cov(sample, rowvar=False).reshape(d, d)
        if whitener is not None:   # the training data are white by construction
            mean, cov = np.zeros(d), np.eye(d)
        nu0 = float(d + 2 if self.nu0 is None else self.nu0)
        self.prior_ = Prior(m0=torch.as_tensor(mean), W0_inv=torch.as_tensor(cov),
                            lam0=float(self.lambda0), nu0=nu0, gamma=self.gamma,
                            alpha0=self.alpha0)
        n_songs = len(corpus) if n_songs is None else int(n_songs)
        n_frames = round(corpus.n_frames * n_songs / len(corpus))
        labels = INITIAL_LABELS[self.init](sample, K, self.random_state)
        stats = initial_statistics(torch.as_tensor(sample, device=dev), labels, K=K,
                                   T=self.n_song_components, n_songs=n_songs,
                                   n_frames=n_frames, alpha0_prior=self.prior_.alpha0_prior)
        gamma_rate = (torch.as_tensor(self.prior_.gamma_prior[1], dtype=torch.float64)
                      if self.gamma is None else None)
        self._restore(stats, gamma_rate, n_songs=n_songs, n_frames=n_frames,
                      whitener=whitener)
        self.n_steps_, self.epoch_, self.batch_in_epoch_ = 0, 0, 0
        self.history_, self.passes_ = [], []
        self.optimiser_ = optimiser_for(self.algorithm)()

    def _restore(self, stats: Stats, gamma_rate: Tensor | None, *, n_songs: int,
                 n_frames: int, whitener: Any) -> None:
        dev = self._device()
        self.stats_ = stats.to(dev)
        self.gamma_rate_ = None if gamma_rate is None else gamma_rate.to(dev, torch.float64)
        self.n_songs_, self.n_frames_ = int(n_songs), int(n_frames)
        self.n_features_in_ = int(stats.S1.shape[1])
        self.whitener_ = whitener
        self._update_globals(learn_gamma=False)

    def _update_globals(self, learn_gamma: bool = True) -> None:
        """Derive the global parameters from the statistics (and q(γ) by coordinate ascent)."""
        g = derive_globals(self.stats_, self.prior_, gamma_rate=self.gamma_rate_,
                           n_songs=self.n_songs_, T=self.n_song_components)
        if learn_gamma:
            g = update_gamma(g, self.stats_, self.prior_)
            self.gamma_rate_ = None if g.gamma_q is None else g.gamma_q[1]
        self._globals_ = g

    def _local_params(self) -> LocalParams:
        self._check_fitted()
        g: Globals = self._globals_
        dt = self._dtype()
        alpha_mean, alpha_log = concentration_moments(self.prior_.alpha0, g.alpha_q, g.lam)
        coef = ex.expected_loglik_coefficients(g.lam, g.m, g.W, g.logdet_W, g.nu)
        min_frames = (min_bucket_frames(self._device(), coef.shape[1])
                      if self.min_bucket_frames == "auto" else self.min_bucket_frames)
        return LocalParams(
            coef=coef.to(dt), log_beta=g.log_beta.to(dt), alpha_mean=alpha_mean.to(dt),
            alpha_log_mean=alpha_log.to(dt), T=self.n_song_components, tol=self.local_tol,
            max_iter=self.local_max_iter, exact=exact_columns(coef, g.m, g.W, g.nu, dt),
            low=LOW_PRECISIONS.get(self.local_precision),
            iteration=(compiled_iteration() if self.local_kernels == "compiled"
                       else local_iteration),
            max_padding=self.max_padding, min_frames=min_frames)

    def _ordered_batches(self, corpus: Any, batch_size: int | None,
                         desc: str) -> Iterator[Any]:
        """The corpus in order, ``batch_size`` songs at a time, with a progress bar (on
        rank 0 only under :mod:`torch.distributed`, where every rank may do the same)."""
        _check_batch_size(batch_size)
        n = self.batch_size if batch_size is None else batch_size
        order = [np.arange(lo, min(lo + n, len(corpus))) for lo in range(0, len(corpus), n)]
        with progress_bar(len(order), desc, unit="batch",
                          enabled=self.verbose and world()[0] == 0) as bar:
            for batch in corpus.iter_batches(order, device=self._device(),
                                             dtype=self._dtype(), whitener=self.whitener_):
                yield batch
                bar.update(1)

    def _frames_tensor(self, frames: np.ndarray) -> Tensor:
        self._check_fitted()
        x = np.asarray(frames)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataError(f"frames must have shape (n, {self.n_features_in_}), got {x.shape}")
        t = torch.as_tensor(x, dtype=self._dtype(), device=self._device())
        return t if self.whitener_ is None else self.whitener_.transform(t)

    def _log_jacobian(self) -> float:
        if self.whitener_ is None:
            return 0.0
        return float(np.linalg.slogdet(np.asarray(self.whitener_.matrix_, dtype=np.float64))[1])

    @staticmethod
    def _check_finite(frames: Tensor, lengths: np.ndarray, indices: np.ndarray,
                      ids: Any = None) -> None:
        """Refuse NaN or infinite frames, naming the songs (by id when ``ids`` is given)."""
        finite = torch.isfinite(frames).all(1)
        if bool(finite.all()):
            return
        song = song_index(lengths, frames.device, total=frames.shape[0])
        rows = np.asarray(indices)[np.unique(song[~finite].cpu().numpy())]
        names = [str(ids[j]) if ids is not None else f"corpus row {j}" for j in rows[:5]]
        raise DataError(f"NaN or infinite frames in song(s) {', '.join(names)}"
                        f"{' ...' if len(rows) > 5 else ''}; re-extract them, or run "
                        "Corpus.check_finite() to list every such song")

    def _check_dim(self, corpus: Any) -> None:
        self._check_fitted()
        if corpus.dim != self.n_features_in_:
            raise DataError(f"the corpus has {corpus.dim}-d frames; the model was fitted on "
                            f"{self.n_features_in_}-d frames")

    def _check_fitted(self) -> None:
        if not hasattr(self, "stats_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this HDPGMM is not fitted yet; call fit or partial_fit")

    def _validate_params(self) -> None:
        validate_params(self)
        stops = "early_stopping" in optimiser_for(self.algorithm).own_params
        if self.early_stopping is True and not stops:
            raise ParameterError(f"early_stopping applies to algorithm='memoized' only; this "
                                 f"fit uses {self.algorithm!r}, which runs max_epochs passes")
        if self.kappa > 0 and self.tau0 == 0:
            raise ParameterError("tau0 must be > 0 when kappa > 0 (the first step size is "
                                 "tau0 ** -kappa)")

    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32

    @staticmethod
    def _as_corpus(X: Any) -> Any:
        return as_corpus(X)


def _check_batch_size(batch_size: int | None) -> None:
    """Refuse a batch size that is not a whole number >= 1 (None: the default)."""
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, int | np.integer)
                                   or batch_size < 1):
        raise ParameterError(f"batch_size must be a whole number >= 1, got {batch_size!r}")


__all__ = ["HDPGMM"]
