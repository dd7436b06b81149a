"""The HEAR 2021 API over any fitted hdpmusic model: audio in, embeddings out.

So that hear-eval-kit (and any harness written for the HEAR API) can evaluate a model::

    python -m heareval.embeddings.runner hdpmusic.hear --model model.ckpt --tasks-dir tasks

* :func:`load_model` — a fitted model file (``hdpmusic fit``: HDPGMM, G1, VQ, KIM or
  CLMR) wrapped as a :class:`torch.nn.Module` with ``sample_rate`` (22 050 Hz),
  ``scene_embedding_size`` and ``timestamp_embedding_size``;
* :func:`get_scene_embeddings` — one vector per sound: the song representation of
  ``hdpmusic transform`` (equal to it for the same audio);
* :func:`get_timestamp_embeddings` — vectors at regular times, with the times in ms.

What a model gives per timestamp:

=========  ==========================================  ==============================
model      timestamp embedding (size)                  times (centres)
=========  ==========================================  ==============================
hdpgmm     p(k | frame) under the corpus weights        every frame hop (512 samples,
           (``HDPGMM.predict_proba``; K)                ≈ 23.2 ms), frame t at
g1         the frame's 52 features (their mean and std  t · hop: 0, 23.2, 46.4, ...
           over the sound are the scene vector; 52)
vq         one-hot of the frame's nearest codeword
           (the scene vector histograms them; K)
kim        the encoder output of a 2.5 s chunk (256)    every chunk (non-overlapping),
clmr       the SampleCNN output of a 2.68 s chunk (256) at the chunk's centre
=========  ==========================================  ==============================

Frame models compute the features of each sound from the waveform with the function
``hdpmusic extract`` uses (:func:`hdpmusic.audio.features.signal_features`), on the CPU, then
run the model on its device. Sounds shorter than one analysis window (≈ 0.19 s) are
zero-padded to it; silent sounds, which ``extract`` refuses, get the features of silence,
so every sound of a benchmark gets an embedding. Memory: the features of one batch of
sounds (about 9 KB per second of audio) plus one chunk of ``chunk_frames`` frames of
model work (the per-frame outputs of :func:`get_timestamp_embeddings` are what the API
returns); sounds of any length (20 minutes and more) run. While one sound's features are
computed (one sound at a time) its spectrograms are held whole, about 0.7 MB per second
of audio (≈ 860 MB for 20 minutes), because the chroma's tuning is estimated over the
whole sound, as ``extract`` does.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hdpmusic.audio.features import DEFAULT_CONFIG, signal_features
from hdpmusic.pipeline.transform import transform_options
from hdpmusic.representations.registry import known_models, model_input
from hdpmusic.representations.registry import load_model as _load_estimator
from hdpmusic.runtime.devices import resolve_device
from hdpmusic.runtime.errors import DataError, ParameterError

__all__ = ["HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]

#: the sample rate every model takes (Hz)
SAMPLE_RATE = DEFAULT_CONFIG.sr


def load_model(model_file_path: str = "", *, kind: str | None = None,
               log: bool | None = None, device: str | None = None,
               chunk_frames: int = 4096) -> HearModel:
    """A fitted hdpmusic model behind the HEAR API.

    Parameters
    ----------
    model_file_path : str
        A model file from ``hdpmusic fit`` (hear-eval-kit passes ``--model``). Required:
        hdpmusic has no pretrained default.
    kind : {"posterior", "responsibility", "loglik", "fisher", "fisher-mean"}, optional
        HDPGMM scene representation (default :data:`hdpmusic.model.kinds.EMBED_KIND`,
        as ``hdpmusic embed``).
    log : bool, optional
        HDPGMM, VQ: log of the scene vector (default: the model's, as ``hdpmusic
        transform``: True for VQ and HDPGMM's share kinds, never for the Fisher kinds).
    device : str, optional
        Where the model runs (default: its saved device, ``"auto"`` = CUDA when there);
        ``model.to(device)`` moves it later.
    chunk_frames : int
        Frame models: frames per step of the per-frame model work of
        :func:`get_timestamp_embeddings` (bounds its memory). Audio models run
        ``batch_size`` chunks per forward pass, as their ``transform``.

    Returns
    -------
    HearModel

    Raises
    ------
    ParameterError
        No path (the message says what to pass), or an option the model does not take.
    FormatError
        Not an hdpmusic model file.
    """
    if not model_file_path:
        raise ParameterError(
            "hdpmusic.hear.load_model needs a fitted model file: "
            "load_model('path/to/model.ckpt') with a file written by `hdpmusic fit` "
            f"({known_models()}); with hear-eval-kit pass "
            "`--model path/to/model.ckpt`")
    if not os.path.isfile(model_file_path):
        raise ParameterError(f"{model_file_path}: no such model file (give a file written "
                             f"by `hdpmusic fit`)")
    if chunk_frames < 1:
        raise ParameterError(f"chunk_frames must be >= 1, got {chunk_frames}")
    return HearModel(os.fspath(model_file_path), kind=kind, log=log, device=device,
                     chunk_frames=chunk_frames)


class HearModel(torch.nn.Module):
    """A fitted hdpmusic model as a HEAR model (see the module docstring).

    Attributes
    ----------
    sample_rate : int
        22 050.
    scene_embedding_size, timestamp_embedding_size : int
    timestamp_hop_ms : float
        Time between consecutive timestamps.
    name : str
        The model kind (``"hdpgmm"``, ``"g1"``, ``"vq"``, ``"kim"``, ``"clmr"``).
    estimator : object
        The loaded hdpmusic model.
    options : dict
        Keyword arguments of its ``transform``.
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, path: str, *, kind: str | None, log: bool | None,
                 device: str | None, chunk_frames: int) -> None:
        super().__init__()
        self.path = path
        self.chunk_frames = chunk_frames
        self._load(device)
        self.audio_model = model_input(self.name) == "audio"
        self.options = transform_options(self.name, self.estimator, kind=kind, log=log)
        self.register_buffer("_device_anchor", torch.empty(0, device=self._estimator_device()),
                             persistent=False)
        if self.audio_model:
            step = self.estimator.chunk_samples
            self._first_ms = 1000.0 * step / 2 / SAMPLE_RATE
        else:
            step, self._first_ms = DEFAULT_CONFIG.hop_length, 0.0
        self.timestamp_hop_ms = 1000.0 * step / SAMPLE_RATE
        probe = np.random.default_rng(0).uniform(-0.5, 0.5, SAMPLE_RATE).astype(np.float32)
        self.scene_embedding_size = int(self.scene([probe]).shape[1])
        self.timestamp_embedding_size = int(self.frames(probe).shape[1])

    # ------------------------------------------------------------------ device
    def _load(self, device: str | None) -> None:
        """(Re)load the estimator, quiet (no progress bars), on ``device``."""
        self.name, self.estimator = _load_estimator(self.path, device=device)
        if hasattr(self.estimator, "verbose"):
            self.estimator.verbose = False

    def _estimator_device(self) -> torch.device:
        return resolve_device(self.estimator.device)

    def _apply(self, fn: Any, recurse: bool = True) -> HearModel:
        """``.to(device)``, ``.cuda()``, ``.cpu()``: reload the model on the new device."""
        super()._apply(fn, recurse)
        device = self._device_anchor.device
        if device != self._estimator_device():
            self._load(str(device))
        return self

    @property
    def device(self) -> torch.device:
        """Where the model runs (and where the embeddings are returned)."""
        return self._device_anchor.device

    # ---------------------------------------------------------------- per sound
    def scene(self, sounds: list[np.ndarray]) -> np.ndarray:
        """The scene vectors (n, scene_embedding_size) of mono float32 signals."""
        sounds = [_padded(y) for y in sounds]
        if self.audio_model:
            est = self.estimator
            parts = est.embed_chunks([est.signal_chunks(y) for y in sounds])
            return np.stack([est.pool(p).float().cpu().numpy() for p in parts])
        features = [_features(y) for y in sounds]
        return np.asarray(self.estimator.transform(features, **self.options), np.float32)

    def frames(self, y: np.ndarray) -> np.ndarray:
        """The timestamp vectors (n_timestamps, timestamp_embedding_size) of one signal."""
        y = _padded(y)
        est = self.estimator
        if self.audio_model:
            emb = est.embed_chunks([est.signal_chunks(y)])[0]
            return emb.float().cpu().numpy()
        x = _features(y)
        step = self.chunk_frames
        return np.concatenate([est.transform_frames(x[lo:lo + step])
                               for lo in range(0, len(x), step)])

    def timestamps_ms(self, n: int) -> np.ndarray:
        """The times (ms) of ``n`` consecutive timestamps, shape (n,), float64."""
        return self._first_ms + self.timestamp_hop_ms * np.arange(n)


def get_scene_embeddings(audio: Tensor, model: HearModel) -> Tensor:
    """One embedding per sound: the song representation of ``hdpmusic transform``.

    Parameters
    ----------
    audio : Tensor, shape (n_sounds, n_samples)
        Mono audio at ``model.sample_rate`` (22 050 Hz), values in [-1, 1].
    model : HearModel
        From :func:`load_model`.

    Returns
    -------
    Tensor, shape (n_sounds, model.scene_embedding_size), float32, on ``model.device``
    """
    sounds = _sounds(audio)
    with torch.inference_mode():
        X = model.scene(sounds)
    return torch.as_tensor(X, dtype=torch.float32, device=model.device)


def get_timestamp_embeddings(audio: Tensor, model: HearModel) -> tuple[Tensor, Tensor]:
    """Embeddings at regular times of every sound.

    Parameters
    ----------
    audio : Tensor, shape (n_sounds, n_samples)
        Mono audio at ``model.sample_rate`` (22 050 Hz), values in [-1, 1].
    model : HearModel

    Returns
    -------
    embeddings : Tensor, shape (n_sounds, n_timestamps, model.timestamp_embedding_size)
        float32, on ``model.device``.
    timestamps : Tensor, shape (n_sounds, n_timestamps)
        Centres of the frames (chunks) in milliseconds, float32, every
        ``model.timestamp_hop_ms``.
    """
    sounds = _sounds(audio)
    with torch.inference_mode():
        emb = np.stack([model.frames(y) for y in sounds])
    times = np.tile(model.timestamps_ms(emb.shape[1]), (emb.shape[0], 1))
    return (torch.as_tensor(emb, dtype=torch.float32, device=model.device),
            torch.as_tensor(times, dtype=torch.float32, device=model.device))


def _sounds(audio: Tensor) -> list[np.ndarray]:
    """The rows of a (n_sounds, n_samples) tensor as float32 arrays (checked)."""
    if not isinstance(audio, Tensor):
        kind = f"{type(audio).__module__}.{type(audio).__name__}".removeprefix("builtins.")
        fix = " (convert it with torch.from_numpy)" if isinstance(audio, np.ndarray) else ""
        raise DataError(f"audio must be a torch.Tensor of shape (n_sounds, n_samples), got "
                        f"a {kind}{fix}")
    if audio.ndim != 2:
        raise DataError(f"audio must be a tensor of shape (n_sounds, n_samples), got shape "
                        f"{tuple(audio.shape)}")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise DataError(f"audio holds no sound (shape {tuple(audio.shape)})")
    if not bool(torch.isfinite(audio).all()):
        raise DataError("audio contains NaN or infinite samples")
    x = audio.detach().to("cpu", torch.float32).numpy()
    return [np.ascontiguousarray(row) for row in x]


def _features(y: np.ndarray) -> np.ndarray:
    """``hdpmusic extract``'s features of a signal, bit for bit: one BLAS thread, as there."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return signal_features(y, DEFAULT_CONFIG)


def _padded(y: np.ndarray) -> np.ndarray:
    """``y`` with zeros appended up to one analysis window (``FeatureConfig.min_samples``)."""
    short = DEFAULT_CONFIG.min_samples - len(y)
    return np.concatenate([y, np.zeros(short, np.float32)]) if short > 0 else y
