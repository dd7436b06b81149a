"""CLMR: contrastive learning of a SampleCNN on raw audio (Spijkervet & Burgoyne 2021).

As the study ran it (eldrin/CLMR ``hdpgmm_study_mod``): the
small SampleCNN (``SampleCNNS``: 3^9 design, 256-d last hidden layer) on 59 049-sample
crops of 22 050 Hz audio; two random crops of a song form a positive pair, the other
songs of the batch the negatives; NT-Xent loss (temperature 0.5) on a 64-d projection
(two bias-free linear layers with a ReLU); Adam, learning rate 3·10⁻⁴, batch 48; random
cropping is the only augmentation (polarity inversion, gain and noise can be switched
on). A song's representation is the 256-d last hidden layer averaged over its
non-overlapping 59 049-sample chunks (a last partial chunk is dropped; a song shorter
than one chunk is one zero-padded chunk).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hdpmusic.baselines.audio_data import SR, RawAudio
from hdpmusic.baselines.training import SelfSupervisedAudio
from hdpmusic.runtime.validation import Interval, Sizes

__all__ = ["CLMR", "ClmrNetwork", "SampleCNN", "WaveAugment", "nt_xent"]


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """Normalised temperature-scaled cross-entropy (SimCLR's NT-Xent) of paired views.

    With u_1..u_2B the L2-normalised rows of ``[z1; z2]`` and s_ij = u_i·u_j / τ, the
    loss is the mean over the 2B anchors i of ``−log(exp(s_ip) / Σ_{k≠i} exp(s_ik))``,
    p being i's other view.

    Parameters
    ----------
    z1, z2 : torch.Tensor, shape (B, d)
        Row b of ``z1`` and row b of ``z2`` are the two views of item b.
    temperature : float
        τ.

    Returns
    -------
    torch.Tensor, shape ()
    """
    n = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (u @ u.T) / temperature
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(self_pairs, float("-inf"))
    other_view = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(sim.device)
    return F.cross_entropy(sim, other_view)


class SampleCNN(nn.Module):
    """SampleCNN encoder: raw samples (n, 1, 3^len(channels)) → (n, channels[-1]).

    A stem convolution (kernel 3, stride 3, ``channels[0]`` maps), then one block per
    further entry (convolution with kernel 3, batch norm, ReLU, max-pool 3), then a
    last convolution keeping ``channels[-1]`` maps, with batch norm and ReLU; the time
    axis is then of length 1. The default is the study's ``SampleCNNS``.

    Parameters
    ----------
    channels : sequence of int, length >= 2
    """

    def __init__(self, channels: tuple[int, ...] = (128, 128, 128, 256, 256, 256, 256, 256,
                                                    256, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(1, channels[0], 3, stride=3),
                                   nn.BatchNorm1d(channels[0]), nn.ReLU()]
        for a, b in pairwise(channels):
            layers += [nn.Conv1d(a, b, 3, padding=1), nn.BatchNorm1d(b), nn.ReLU(),
                       nn.MaxPool1d(3)]
        layers += [nn.Conv1d(channels[-1], channels[-1], 3, padding=1),
                   nn.BatchNorm1d(channels[-1]), nn.ReLU(), nn.Flatten()]
        self.sequential = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Embeddings (n, channels[-1]) of crops (n, 1, 3^len(channels))."""
        return self.sequential(x)


class ClmrNetwork(nn.Module):
    """SampleCNN encoder and SimCLR projection head (Linear, ReLU, Linear; no biases)."""

    def __init__(self, channels: tuple[int, ...], projection_dim: int) -> None:
        super().__init__()
        width = channels[-1]
        self.encoder = SampleCNN(channels)
        self.projector = nn.Sequential(nn.Linear(width, width, bias=False), nn.ReLU(),
                                       nn.Linear(width, projection_dim, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        """Projections (n, projection_dim) of crops (n, 1, length)."""
        return self.projector(self.encoder(x))


@dataclass(frozen=True)
class WaveAugment:
    """Random polarity inversion, gain and noise (CLMR's, each with its probability).

    Gain: −20 to −1 dB; noise: Gaussian with a standard deviation drawn from
    [10⁻⁴, 10⁻²] (as ``torchaudio_augmentations``). Calling it with a crop (n,) and a
    generator returns the augmented crop (n,), float32.
    """

    polarity: float = 0.0
    gain: float = 0.0
    noise: float = 0.0

    def __call__(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.polarity:
            crop = -crop
        if rng.random() < self.gain:
            crop = crop * np.float32(10 ** (rng.uniform(-20.0, -1.0) / 20))
        if rng.random() < self.noise:
            crop = crop + rng.normal(0.0, rng.uniform(1e-4, 1e-2), size=crop.shape)
        return crop.astype(np.float32, copy=False)


class CLMR(SelfSupervisedAudio):
    """Contrastive SampleCNN on raw audio (CLMR, the study's small variant).

    Defaults are the study's settings (module docstring; batch 48, Adam 3·10⁻⁴ without
    weight decay, 200 epochs — CLMR's default configuration).

    Parameters
    ----------
    channels : tuple of int, default=(128, 128, 128, 256, 256, 256, 256, 256, 256, 256)
        SampleCNN widths (see :class:`SampleCNN`); the crop and chunk length is
        ``3 ** len(channels)`` samples (59 049 by default) and the representation has
        ``channels[-1]`` values (256).
    projection_dim : int, default=64
        Output of the projection head the loss is computed on.
    temperature : float, default=0.5
        NT-Xent temperature.
    polarity : float, default=0.0
    gain : float, default=0.0
    noise : float, default=0.0
        Probabilities of the optional augmentations (:class:`WaveAugment`); 0 (off) in
        the study.
    batch_size : int, default=48
    max_epochs : int, default=200
    max_steps : int or None, default=None
    learning_rate : float, default=0.0003
    weight_decay : float, default=0.0
    num_workers : int, default=4
    cache_bytes : int, default=2147483648
    device : str, default="auto"
    random_state : int, default=0
    verbose : bool, default=True
        See :class:`~hdpmusic.baselines.training.SelfSupervisedAudio`.

    Attributes
    ----------
    network_, optimizer_, n_steps_, n_songs_, songs_fingerprint_, history_
        See :class:`~hdpmusic.baselines.training.SelfSupervisedAudio`.

    Examples
    --------
    >>> clmr = CLMR(max_steps=1000).fit(train_paths)          # doctest: +SKIP
    >>> clmr.transform(paths).shape                           # doctest: +SKIP
    (len(paths), 256)
    """

    model_name = "clmr"
    checkpoint_version = 1
    partial = "drop"

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "channels": [Sizes(2)],
        "projection_dim": [Interval(Integral, 1, None)],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "polarity": [Interval(Real, 0, 1)],
        "gain": [Interval(Real, 0, 1)],
        "noise": [Interval(Real, 0, 1)],
    }

    def __init__(self, *, channels: tuple[int, ...] = (128, 128, 128, 256, 256, 256, 256,
                                                       256, 256, 256),
                 projection_dim: int = 64, temperature: float = 0.5, polarity: float = 0.0,
                 gain: float = 0.0, noise: float = 0.0, batch_size: int = 48,
                 max_epochs: int = 200, max_steps: int | None = None,
                 learning_rate: float = 3e-4, weight_decay: float = 0.0,
                 num_workers: int = 4, cache_bytes: int = 2 << 30, device: str = "auto",
                 random_state: int = 0, verbose: bool = True) -> None:
        super().__init__(batch_size=batch_size, max_epochs=max_epochs, max_steps=max_steps,
                         learning_rate=learning_rate, weight_decay=weight_decay,
                         num_workers=num_workers, cache_bytes=cache_bytes, device=device,
                         random_state=random_state, verbose=verbose)
        self.channels = channels
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.polarity = polarity
        self.gain = gain
        self.noise = noise

    # ------------------------------------------------------------------ hooks
    def _reader(self) -> RawAudio:
        return RawAudio(SR)

    def _crop_length(self) -> int:
        return 3 ** len(self.channels)

    def _augment(self) -> WaveAugment | None:
        augment = WaveAugment(self.polarity, self.gain, self.noise)
        return augment if max(self.polarity, self.gain, self.noise) > 0 else None

    def _build_network(self) -> ClmrNetwork:
        return ClmrNetwork(tuple(self.channels), self.projection_dim)

    def _views(self, anchors: np.ndarray, rng: np.random.Generator, n_songs: int,
               ) -> np.ndarray:
        """Two crops of every anchor song."""
        return np.stack([anchors, anchors], axis=1)

    def _loss(self, crops: Tensor, songs: Tensor) -> Tensor:
        z = self.network_(torch.cat([crops[:, 0], crops[:, 1]]).unsqueeze(1))
        return nt_xent(*z.chunk(2), temperature=self.temperature)

    def _embed(self, chunks: Tensor) -> Tensor:
        return self.network_.encoder(chunks.unsqueeze(1))

    def _pool(self, embeddings: Tensor) -> Tensor:
        return embeddings.mean(0)

