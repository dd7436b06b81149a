"""KIM: a siamese CNN on dB mel spectrograms trained to tell whether two clips share a song.

The self-supervised model of Kim et al. (2020, "One deep music representation to rule
them all?"), as the study ran it (``musmtl`` with the ``self_``
task): 22 050 Hz audio, a 128-band dB mel spectrogram (n_fft 1024, hop 256),
standardised per band, cut into 216-frame (2.5 s) chunks. A VGG-like CNN maps a chunk
to a 256-d hidden layer; a head on the concatenated embeddings of two chunks predicts
whether they come from the same song (positive, probability 1/2) or from two different
songs (binary cross-entropy). A song's representation is the mean and the standard
deviation of the 256-d hidden layer over its non-overlapping chunks (the last one
padded) — 512 values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hdpmusic.audio.decode import load_audio
from hdpmusic.baselines.audio_data import SR, iter_songs
from hdpmusic.baselines.training import SelfSupervisedAudio
from hdpmusic.runtime.errors import ParameterError
from hdpmusic.runtime.validation import Interval, Sizes

__all__ = ["KIM", "DbMel", "KimNetwork"]

#: the smallest per-band standard deviation (dB) used when standardising
_MIN_STD = 1e-3


@dataclass(frozen=True)
class DbMel:
    """Reader of a dB mel spectrogram, optionally standardised per band.

    ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft,
    hop_length=hop_length, n_mels=n_mels))`` of the mono signal at ``sr`` (centred
    frames; ``power_to_db`` with ref 1, amin 1e-10, top_db 80), then
    ``(S − mean) / std`` per band when ``mean`` and ``std`` (each shape (n_mels,)) are
    given. Calling it with a path returns an np.ndarray of shape (n_mels, n_frames),
    float32, with ``n_frames = 1 + n_samples // hop_length``.
    """

    sr: int = SR
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 128
    mean: np.ndarray | None = field(default=None, compare=False)
    std: np.ndarray | None = field(default=None, compare=False)

    @property
    def step(self) -> int:
        """Samples of audio per frame (the hop)."""
        return self.hop_length

    def __call__(self, path: str) -> np.ndarray:
        return self.signal(load_audio(path, self.sr))

    def signal(self, y: np.ndarray) -> np.ndarray:
        """The (standardised) dB mel spectrogram (n_mels, n_frames) of a signal at ``sr``."""
        import librosa

        S = librosa.power_to_db(librosa.feature.melspectrogram(
            y=y, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels))
        if self.mean is not None and self.std is not None:
            S = (S - self.mean[:, None]) / self.std[:, None]
        return S.astype(np.float32)


class _ConvBlock(nn.Sequential):
    """Conv2d → BatchNorm → ReLU (→ 2×2 max-pool)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: tuple[int, int] = (1, 1),
                 pool: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride=stride,
                                             padding=kernel // 2),
                                   nn.BatchNorm2d(c_out), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)


class KimNetwork(nn.Module):
    """The VGG-like encoder of a chunk and the "same song?" head on a pair.

    Encoder, on a chunk of shape (1, time, mel): a 5×5 convolution with stride (2, 1)
    and ``channels[0]`` maps, then 3×3 convolutions with ``channels[1:-1]`` maps, each
    followed by batch norm, ReLU and 2×2 max-pooling; then a 3×3 and a 1×1 convolution
    with ``channels[-1]`` maps (no pooling), global average pooling, and a linear layer
    to ``hidden_dim`` with batch norm, ReLU and dropout. Head, on two concatenated
    embeddings: linear to ``head_dim``, batch norm, ReLU, dropout, linear to one logit.
    The default channels (16, 32, 64, 64, 128, 256) are the study's ``VGGlikeMTL`` with
    ``branch_at="fc"``.

    Parameters
    ----------
    channels : sequence of int, length >= 2
    hidden_dim, head_dim : int
    dropout : float
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64, 128, 256),
                 hidden_dim: int = 256, head_dim: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        blocks = [_ConvBlock(1, channels[0], 5, stride=(2, 1))]
        blocks += [_ConvBlock(a, b, 3) for a, b in pairwise(channels[:-1])]
        blocks += [_ConvBlock(channels[-2], channels[-1], 3, pool=False),
                   _ConvBlock(channels[-1], channels[-1], 1, pool=False)]
        self.encoder = nn.Sequential(
            *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(channels[-1], hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
            nn.Dropout(dropout))
        self.head = nn.Sequential(
            nn.Linear(2 * hidden_dim, head_dim), nn.BatchNorm1d(head_dim), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(head_dim, 1))

    def forward(self, left: Tensor, right: Tensor) -> Tensor:
        """Logits (B,) that ``left`` and ``right`` (each (B, 1, time, mel)) share a song."""
        emb = self.encoder(torch.cat([left, right]))
        return self.head(torch.cat(emb.chunk(2), dim=1)).squeeze(1)


class KIM(SelfSupervisedAudio):
    """Self-supervised "same song?" siamese CNN on dB mel spectrograms (Kim et al. 2020).

    Defaults are the study's settings (batch 48, Adam with learning rate 1e-4 and weight
    decay 1e-6, 100 epochs of ``n_songs // 48`` steps; mel settings as in the module
    docstring). The mel bands are standardised with the mean and standard deviation of
    the dB values of up to ``scaler_songs`` training songs (the study's
    ``SpecStandardScaler``).

    Parameters
    ----------
    n_mels : int, default=128
    n_fft : int, default=1024
    hop_length : int, default=256
        Mel spectrogram settings (22 050 Hz audio).
    chunk_frames : int, default=216
        Frames of a training crop and of an inference chunk (216 ≈ 2.5 s).
    channels : tuple of int, default=(16, 32, 64, 64, 128, 256)
        Convolution maps (see :class:`KimNetwork`).
    hidden_dim : int, default=256
    head_dim : int, default=128
        Width of the embedding (the representation uses its mean and std: 2·hidden_dim
        values) and of the head's hidden layer.
    dropout : float, default=0.5
    scaler_songs : int, default=256
        Songs (chosen at random) used to fit the per-band standardisation.
    batch_size : int, default=48
    max_epochs : int, default=100
    max_steps : int or None, default=None
    learning_rate : float, default=0.0001
    weight_decay : float, default=1e-6
    num_workers : int, default=4
    cache_bytes : int, default=2147483648
    device : str, default="auto"
    random_state : int, default=0
    verbose : bool, default=True
        See :class:`~hdpmusic.baselines.training.SelfSupervisedAudio`.

    Attributes
    ----------
    mel_mean_, mel_std_ : np.ndarray, shape (n_mels,)
        The per-band standardisation (dB).
    network_, optimizer_, n_steps_, n_songs_, songs_fingerprint_, history_
        See :class:`~hdpmusic.baselines.training.SelfSupervisedAudio`.

    Examples
    --------
    >>> kim = KIM(max_steps=1000).fit(train_paths)            # doctest: +SKIP
    >>> X = kim.transform(paths)                              # doctest: +SKIP
    >>> X.shape                                               # doctest: +SKIP
    (len(paths), 512)
    """

    model_name = "kim"
    checkpoint_version = 1
    partial = "pad"

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_mels": [Interval(Integral, 1, None)],
        "n_fft": [Interval(Integral, 2, None)],
        "hop_length": [Interval(Integral, 1, None)],
        "chunk_frames": [Interval(Integral, 1, None)],
        "channels": [Sizes(2)],
        "hidden_dim": [Interval(Integral, 1, None)],
        "head_dim": [Interval(Integral, 1, None)],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "scaler_songs": [Interval(Integral, 1, None)],
    }

    def __init__(self, *, n_mels: int = 128, n_fft: int = 1024, hop_length: int = 256,
                 chunk_frames: int = 216,
                 channels: tuple[int, ...] = (16, 32, 64, 64, 128, 256),
                 hidden_dim: int = 256, head_dim: int = 128, dropout: float = 0.5,
                 scaler_songs: int = 256, batch_size: int = 48, max_epochs: int = 100,
                 max_steps: int | None = None, learning_rate: float = 1e-4,
                 weight_decay: float = 1e-6, num_workers: int = 4,
                 cache_bytes: int = 2 << 30, device: str = "auto", random_state: int = 0,
                 verbose: bool = True) -> None:
        super().__init__(batch_size=batch_size, max_epochs=max_epochs, max_steps=max_steps,
                         learning_rate=learning_rate, weight_decay=weight_decay,
                         num_workers=num_workers, cache_bytes=cache_bytes, device=device,
                         random_state=random_state, verbose=verbose)
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.chunk_frames = chunk_frames
        self.channels = channels
        self.hidden_dim = hidden_dim
        self.head_dim = head_dim
        self.dropout = dropout
        self.scaler_songs = scaler_songs

    # ------------------------------------------------------------------ hooks
    def _reader(self) -> DbMel:
        return DbMel(SR, self.n_fft, self.hop_length, self.n_mels,
                     self.mel_mean_, self.mel_std_)

    def _crop_length(self) -> int:
        return self.chunk_frames

    def _build_network(self) -> KimNetwork:
        return KimNetwork(tuple(self.channels), self.hidden_dim, self.head_dim, self.dropout)

    def _views(self, anchors: np.ndarray, rng: np.random.Generator, n_songs: int,
               ) -> np.ndarray:
        """Each anchor with itself (probability 1/2) or a uniformly drawn other song."""
        same = rng.random(len(anchors)) < 0.5
        other = (anchors + rng.integers(1, n_songs, size=len(anchors))) % n_songs
        return np.stack([anchors, np.where(same, anchors, other)], axis=1)

    def _prepare(self, paths: list[str]) -> None:
        """Fit the per-band mean and standard deviation of the dB mel values."""
        rng = np.random.default_rng((self.random_state, 3))
        chosen = rng.choice(len(paths), size=min(self.scaler_songs, len(paths)),
                            replace=False)
        reader = DbMel(SR, self.n_fft, self.hop_length, self.n_mels)
        total = np.zeros(self.n_mels)
        square = np.zeros(self.n_mels)
        count = 0
        for S in iter_songs([paths[j] for j in sorted(chosen)], reader,
                            num_workers=self.num_workers):
            S = S.astype(np.float64)
            total += S.sum(axis=1)
            square += (S * S).sum(axis=1)
            count += S.shape[1]
        mean = total / count
        self.mel_mean_ = mean.astype(np.float32)
        self.mel_std_ = np.maximum(np.sqrt(np.maximum(square / count - mean * mean, 0.0)),
                                   _MIN_STD).astype(np.float32)

    def _loss(self, crops: Tensor, songs: Tensor) -> Tensor:
        logits = self.network_(_as_images(crops[:, 0]), _as_images(crops[:, 1]))
        return F.binary_cross_entropy_with_logits(logits, (songs[:, 0] == songs[:, 1]).float())

    def _embed(self, chunks: Tensor) -> Tensor:
        return self.network_.encoder(_as_images(chunks))

    def _pool(self, embeddings: Tensor) -> Tensor:
        return torch.cat([embeddings.mean(0), embeddings.std(0, correction=0)])

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        return {}, {"mel_mean": torch.from_numpy(self.mel_mean_),
                    "mel_std": torch.from_numpy(self.mel_std_)}

    def _restore_extra(self, header: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.mel_mean_ = tensors["mel_mean"].numpy()
        self.mel_std_ = tensors["mel_std"].numpy()

    def _validate_params(self) -> None:
        super()._validate_params()
        channels = tuple(self.channels)
        n_pool = len(channels) - 1
        time = ((self.chunk_frames - 1) // 2 + 1) >> n_pool
        if time < 1 or self.n_mels >> n_pool < 1:
            raise ParameterError(
                f"a {self.chunk_frames}-frame × {self.n_mels}-band chunk is too small for "
                f"{n_pool} pooling stages (channels {self.channels}); use longer chunks, "
                "more mel bands or fewer channels")


def _as_images(mel: Tensor) -> Tensor:
    """Mel chunks (n, n_mels, frames) as one-channel images (n, 1, frames, n_mels)."""
    return mel.transpose(1, 2).unsqueeze(1)
