"""Frame-level audio features: audio → (n_frames, 52) float32.

The study's feature set (PAPER Table 2; REFERENCE_NOTES §3.1) with librosa's defaults:
22 050 Hz mono, n_fft 2048, hop 512 (≈ 43.07 frames/s), a 128-band mel spectrogram in dB
for the MFCCs and the onset strength, the power spectrogram for the chroma (with its
default tuning estimation). The STFT is computed once and shared by every block.

Columns, in the paper's Table 2 order (the study's code put chroma before onset)::

    0–12   mfcc_0 … mfcc_12           MFCC of the dB mel spectrogram
    13–25  d_mfcc_0 … d_mfcc_12       Δ MFCC (Savitzky–Golay, width 9)
    26–38  dd_mfcc_0 … dd_mfcc_12     ΔΔ MFCC
    39     log_onset                  log(max(onset strength, 1e-8))
    40–51  log_chroma_C … log_chroma_B  log(max(chroma, 1e-8))
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hdpmusic.errors import DataError

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of :func:`extract_features` (the defaults are the paper's)."""

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 13
    delta_width: int = 9
    log_floor: float = 1e-8

    @property
    def dim(self) -> int:
        """Number of feature columns (52 with the defaults)."""
        return 3 * self.n_mfcc + 1 + len(PITCH_CLASSES)

    @property
    def column_names(self) -> list[str]:
        """Names of the columns, in order."""
        m = range(self.n_mfcc)
        return ([f"mfcc_{i}" for i in m] + [f"d_mfcc_{i}" for i in m]
                + [f"dd_mfcc_{i}" for i in m] + ["log_onset"]
                + [f"log_chroma_{p}" for p in PITCH_CLASSES])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


#: the paper's settings
DEFAULT_CONFIG = FeatureConfig()


def load_audio(path: str | os.PathLike, sr: int = 22050) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sr`` (librosa: soundfile, then audioread).

    Raises
    ------
    DataError
        The file cannot be decoded, or holds no samples.
    """
    import librosa

    try:
        with warnings.catch_warnings():   # librosa warns before falling back to audioread
            warnings.simplefilter("ignore", (UserWarning, FutureWarning))
            y, _ = librosa.load(os.fspath(path), sr=sr, mono=True)
    except Exception as err:  # soundfile, audioread and resampling errors vary
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: cannot decode audio ({first})") from err
    if y.size == 0:
        raise DataError(f"{path}: the audio is empty (0 samples)")
    return y


def extract_features(y_or_path: np.ndarray | str | os.PathLike, sr: int | None = None,
                     config: FeatureConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The 52-d frame features of a signal or an audio file.

    Parameters
    ----------
    y_or_path : np.ndarray, shape (n_samples,), or path
        A mono signal at ``sr`` (resampled to ``config.sr`` if different), or a file.
    sr : int, optional
        Sample rate of ``y``; ignored for a path (decoded at ``config.sr``).
    config : FeatureConfig

    Returns
    -------
    np.ndarray, shape (n_frames, 52), float32
        Columns as in the module docstring (``config.column_names``);
        n_frames = 1 + n_samples // hop_length.

    Raises
    ------
    DataError
        Unreadable, empty, shorter than one frame (n_fft samples), silent, or
        non-finite audio.
    """
    import librosa

    name = "signal"
    if isinstance(y_or_path, (str, os.PathLike)):
        name = os.fspath(y_or_path)
        y = load_audio(y_or_path, config.sr)
    else:
        y = np.asarray(y_or_path, dtype=np.float32)
        if y.ndim != 1:
            raise DataError(f"expected a mono signal of shape (n_samples,), got {y.shape}")
        if sr is not None and sr != config.sr:
            y = librosa.resample(y, orig_sr=sr, target_sr=config.sr)
    if y.size < config.n_fft:
        raise DataError(f"{name}: {y.size} samples is shorter than one frame "
                        f"({config.n_fft} samples at {config.sr} Hz)")
    if not np.isfinite(y).all():
        raise DataError(f"{name}: the audio contains NaN or infinite samples")
    if not np.any(y):
        raise DataError(f"{name}: the audio is silent")

    power = np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length)) ** 2
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(
        S=power, sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels))
    mfcc = librosa.feature.mfcc(S=mel_db, sr=config.sr, n_mfcc=config.n_mfcc)
    d1 = librosa.feature.delta(mfcc, width=config.delta_width, order=1)
    d2 = librosa.feature.delta(mfcc, width=config.delta_width, order=2)
    onset = librosa.onset.onset_strength(S=mel_db, sr=config.sr)
    chroma = librosa.feature.chroma_stft(S=power, sr=config.sr, n_fft=config.n_fft,
                                         hop_length=config.hop_length)
    floor = config.log_floor
    features = np.vstack([mfcc, d1, d2, np.log(np.maximum(onset, floor))[None],
                          np.log(np.maximum(chroma, floor))]).T.astype(np.float32)
    if not np.isfinite(features).all():
        raise DataError(f"{name}: the features contain NaN or infinite values")
    return features
