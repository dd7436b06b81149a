"""Frame-level audio features: audio → (n_frames, 52) float32.

The study's feature set (paper, Table 2), computed with librosa's
defaults: 22 050 Hz mono, ``n_fft`` 2048, hop 512 (≈ 43.07 frames/s, centred frames), a
128-band mel power spectrogram converted to dB (``power_to_db``: ref 1, amin 1e-10,
top_db 80) for the MFCCs and the onset strength, and the power spectrogram for the
chroma (``chroma_stft`` with its default tuning estimation). The power spectrogram and
the dB mel spectrogram are shared by every block, so the result equals each block
computed on its own from the signal with librosa's public API (up to float rounding).
A long sound's spectrogram is computed in chunks of :data:`CHUNK_FRAMES` frames, so that
memory stays bounded (:func:`signal_features`); the file is decoded a block of frames at
a time (:func:`hdpmusic.audio.decode.load_audio`).

Columns, in the paper's Table 2 order (the study's code put the chroma before the
onset strength; corpora record the order in their ``columns`` attribute)::

    0–12   mfcc_0 … mfcc_12              MFCC of the dB mel spectrogram
    13–25  d_mfcc_0 … d_mfcc_12          Δ MFCC (Savitzky–Golay, width 9)
    26–38  dd_mfcc_0 … dd_mfcc_12        ΔΔ MFCC (width 9)
    39     log_onset                     log(max(onset strength, 1e-8))
    40–51  log_chroma_C … log_chroma_B   log(max(chroma, 1e-8))
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.audio.decode import check_signal, load_audio
from hdpmusic.formats.locking import exclusive_lock
from hdpmusic.runtime.errors import DataError, ParameterError

__all__ = [
    "CHUNK_FRAMES",
    "DEFAULT_CONFIG",
    "PITCH_CLASSES",
    "FeatureConfig",
    "check_feature_config",
    "check_features",
    "extract_features",
    "signal_features",
    "warm_up",
    "warm_up_lock",
]

#: chroma bin names, in librosa's order (C first)
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

#: spectrogram frames computed at a time (≈ 95 s at 22 050 Hz, hop 512; smaller chunks
#: are no slower, as they fit the CPU caches better); see
#: :func:`signal_features`
CHUNK_FRAMES = 1 << 12


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of :func:`extract_features`; the defaults are the paper's.

    Parameters
    ----------
    sr : int
        Sample rate the audio is resampled to (Hz).
    n_fft : int
        STFT window length (samples).
    hop_length : int
        STFT hop (samples); frames are centred, so a signal of ``n`` samples has
        ``1 + n // hop_length`` frames.
    n_mels : int
        Mel bands of the spectrogram the MFCCs and the onset strength are computed from.
    n_mfcc : int
        MFCC coefficients (also the number of Δ and ΔΔ columns).
    delta_width : int
        Savitzky–Golay window of the Δ and ΔΔ MFCCs (odd, ≥ 3).
    log_floor : float
        The onset strength and the chroma are mapped to ``log(max(x, log_floor))``.
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 13
    delta_width: int = 9
    log_floor: float = 1e-8

    def __post_init__(self) -> None:
        for name in ("sr", "n_fft", "hop_length", "n_mels", "n_mfcc"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value <= 0:
                raise ParameterError(f"FeatureConfig.{name} must be a positive integer, "
                                     f"got {value!r}")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise ParameterError(f"FeatureConfig.delta_width must be odd and >= 3, "
                                 f"got {self.delta_width!r}")
        if not self.log_floor > 0:
            raise ParameterError(f"FeatureConfig.log_floor must be > 0, got {self.log_floor!r}")
        if self.n_mfcc > self.n_mels:
            raise ParameterError(f"FeatureConfig.n_mfcc ({self.n_mfcc}) cannot exceed "
                                 f"n_mels ({self.n_mels})")

    @property
    def dim(self) -> int:
        """Number of feature columns (52 with the defaults)."""
        return 3 * self.n_mfcc + 1 + len(PITCH_CLASSES)

    @property
    def column_names(self) -> list[str]:
        """Names of the ``dim`` columns, in order (see the module docstring)."""
        m = range(self.n_mfcc)
        return ([f"mfcc_{i}" for i in m] + [f"d_mfcc_{i}" for i in m]
                + [f"dd_mfcc_{i}" for i in m] + ["log_onset"]
                + [f"log_chroma_{p}" for p in PITCH_CLASSES])

    @property
    def min_samples(self) -> int:
        """Shortest signal accepted, in samples at ``sr``.

        One full STFT frame (``n_fft``), and enough frames (``delta_width``) for the
        Savitzky–Golay window of the Δ features.
        """
        return max(self.n_fft, (self.delta_width - 1) * self.hop_length)

    def n_frames(self, n_samples: int) -> int:
        """Number of frames of a signal of ``n_samples`` samples at ``sr``."""
        return 1 + int(n_samples) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (stored in corpus files)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing keys default."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


#: the paper's settings
DEFAULT_CONFIG = FeatureConfig()


def check_features(features: np.ndarray, name: str = "signal") -> None:
    """Raise :class:`DataError` if ``features`` holds NaN or infinite values.

    Parameters
    ----------
    features : np.ndarray, shape (n_frames, dim)
    name : str
        What to call the source in messages (a file name).
    """
    finite = np.isfinite(features)
    if not finite.all():
        rows, cols = np.nonzero(~finite)
        raise DataError(f"{name}: {rows.size} feature values are NaN or infinite "
                        f"(first at frame {rows[0]}, column {cols[0]})")


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's mel filter bank (what ``melspectrogram`` builds on every call)."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    basis.setflags(write=False)
    return basis


def extract_features(y_or_path: np.ndarray | str | os.PathLike, sr: int | None = None,
                     config: FeatureConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The frame features (52-d by default) of a signal or an audio file.

    Per frame: 13 MFCC, 13 Δ MFCC, 13 ΔΔ MFCC, the log onset strength and the 12 log
    chroma values — columns in the order of ``config.column_names``::

        [0:13] mfcc   [13:26] Δ mfcc   [26:39] ΔΔ mfcc   [39] log onset   [40:52] log chroma

    Parameters
    ----------
    y_or_path : np.ndarray, shape (n_samples,), or path-like
        A mono floating-point signal at ``sr`` Hz (resampled to ``config.sr`` if
        different), or an audio file (decoded, mixed down and resampled to
        ``config.sr`` by :func:`~hdpmusic.audio.decode.load_audio`).
    sr : int, optional
        Sample rate of a signal (default ``config.sr``); ignored for a path.
    config : FeatureConfig
        Feature settings (default: the paper's).

    Returns
    -------
    features : np.ndarray, shape (n_frames, config.dim), float32
        ``n_frames = 1 + n_samples // config.hop_length`` with ``n_samples`` counted at
        ``config.sr``.

    Raises
    ------
    DataError
        Unreadable file; empty, too short (fewer than ``config.min_samples`` samples,
        ≈ 0.19 s by default), silent or non-finite audio; non-finite features.

    Notes
    -----
    Equivalent to (librosa, defaults otherwise)::

        P = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
        M = librosa.power_to_db(librosa.feature.melspectrogram(S=P, sr=sr, n_mels=n_mels))
        mfcc = librosa.feature.mfcc(S=M, n_mfcc=n_mfcc)
        d1 = librosa.feature.delta(mfcc, width=delta_width)
        d2 = librosa.feature.delta(mfcc, width=delta_width, order=2)
        onset = librosa.onset.onset_strength(S=M, sr=sr, n_fft=n_fft, hop_length=hop)
        chroma = librosa.feature.chroma_stft(S=P, sr=sr, n_fft=n_fft, hop_length=hop)

    with the spectrogram computed in chunks (see :func:`signal_features`) and the mel
    filter bank built once per process.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    >>> extract_features(y, sr=22050).shape
    (44, 52)
    """
    import librosa

    if isinstance(y_or_path, (str, os.PathLike)):
        name = os.fspath(y_or_path)
        y = load_audio(y_or_path, config.sr, min_samples=config.min_samples)
    else:
        name = "signal"
        y = np.asarray(y_or_path)
        if y.dtype.kind != "f":
            raise DataError(f"expected a floating-point signal, got dtype {y.dtype}")
        y = y.astype(np.float32, copy=False)
        check_signal(y, name, min_samples=1)
        if sr is not None and sr != config.sr:
            y = librosa.resample(y, orig_sr=sr, target_sr=config.sr)
        check_signal(y, name, min_samples=config.min_samples, sr=config.sr)
    return signal_features(y, config, name)


def signal_features(y: np.ndarray, config: FeatureConfig = DEFAULT_CONFIG,
                    name: str = "signal", *, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """The frame features of a float32 signal at ``config.sr``, without the audio checks.

    What :func:`extract_features` computes once the signal has passed
    :func:`~hdpmusic.audio.decode.check_signal`; callers that must give every input a
    result (silent or very short clips in a benchmark, see :mod:`hdpmusic.hear`) call it
    directly.

    The spectrogram (``n_fft // 2 + 1`` rows) is computed ``chunk_frames`` frames at a
    time, so that memory does not grow with it for a long sound: a first pass keeps each
    chunk's mel spectrogram (``n_mels`` rows) and its spectral peaks, from which the
    song's tuning is estimated as :func:`librosa.estimate_tuning` would from the whole
    spectrogram; the MFCC, Δ and onset columns are then computed from the whole mel
    spectrogram (its dB scale is relative to the song's maximum), and a second pass
    computes each chunk's chroma with that tuning (the last chunk's spectrogram is kept
    from the first pass, so a sound of one chunk is transformed once). The result
    equals the whole-signal computation up to float rounding.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
        Mono signal at ``config.sr``; at least ``config.n_fft // 2 + 1`` samples (the
        STFT's padding).
    config : FeatureConfig
    name : str
        What to call the signal in messages.
    chunk_frames : int
        Spectrogram frames computed at a time.

    Returns
    -------
    np.ndarray, shape (1 + n_samples // config.hop_length, config.dim), float32

    Raises
    ------
    DataError
        Non-finite features.
    """
    if chunk_frames < 1:
        raise ParameterError(f"chunk_frames must be >= 1, got {chunk_frames}")
    n_frames = config.n_frames(len(y))
    chunks = [(start, min(start + chunk_frames, n_frames))
              for start in range(0, n_frames, chunk_frames)]
    import librosa

    mel, tuning, last_power = _mel_and_tuning(y, config, chunks)
    mel_db = librosa.power_to_db(mel)
    del mel
    features = np.empty((n_frames, config.dim), dtype=np.float32)
    _mel_columns(features, mel_db, config)
    del mel_db
    _chroma_columns(features, y, config, chunks, tuning, last_power)
    check_features(features, name)
    return features


def _chunk_power(y: np.ndarray, start: int, stop: int, config: FeatureConfig) -> np.ndarray:
    """Frames ``start:stop`` of ``np.abs(librosa.stft(y, n_fft, hop_length)) ** 2``.

    The samples those frames cover, with the zeros ``librosa.stft``'s centring pads the
    signal with (``pad_mode="constant"``) where they run past either end.
    """
    import librosa

    pad, hop = config.n_fft // 2, config.hop_length
    first, last = start * hop - pad, (stop - 1) * hop + config.n_fft - pad
    segment = y[max(first, 0):min(last, len(y))]
    if first < 0 or last > len(y):
        segment = np.pad(segment, (max(-first, 0), max(last - len(y), 0)))
    stft = librosa.stft(segment, n_fft=config.n_fft, hop_length=hop, center=False)
    return np.abs(stft) ** 2


def _mel_and_tuning(y: np.ndarray, config: FeatureConfig, chunks: list[tuple[int, int]],
                    ) -> tuple[np.ndarray, float, np.ndarray]:
    """The mel power spectrogram of ``y``, its tuning and the last chunk's power
    spectrogram, computed chunk by chunk (the first pass of :func:`signal_features`).

    The tuning is :func:`librosa.estimate_tuning` of the whole power spectrogram (what
    :func:`librosa.feature.chroma_stft` uses): the peaks of every chunk
    (:func:`librosa.piptrack`, frame by frame) are pooled, and those at least as strong
    as their median vote.
    """
    import librosa

    n_frames = chunks[-1][1]
    basis = _mel_basis(config.sr, config.n_fft, config.n_mels)
    mel = np.empty((config.n_mels, n_frames), dtype=np.float32)
    pitches, magnitudes = [], []
    for start, stop in chunks:
        power = _chunk_power(y, start, stop, config)
        # == librosa.feature.melspectrogram(S=power, sr, n_fft, n_mels), without
        # rebuilding the filter bank for every track
        mel[:, start:stop] = basis @ power
        pitch, magnitude = librosa.piptrack(S=power, sr=config.sr, n_fft=config.n_fft)
        peaks = pitch > 0
        pitches.append(pitch[peaks])
        magnitudes.append(magnitude[peaks])
    pitch, magnitude = np.concatenate(pitches), np.concatenate(magnitudes)
    threshold = np.median(magnitude) if magnitude.size else 0.0
    with warnings.catch_warnings():  # harmless: no peaks in 150–4000 Hz → tuning 0
        warnings.filterwarnings("ignore", "Trying to estimate tuning from empty frequency")
        tuning = librosa.pitch_tuning(pitch[magnitude >= threshold],
                                      bins_per_octave=len(PITCH_CLASSES))
    return mel, float(tuning), power


def _mel_columns(features: np.ndarray, mel_db: np.ndarray, config: FeatureConfig) -> None:
    """Fill the MFCC, Δ, ΔΔ and log onset columns of ``features`` from the dB mel
    spectrogram of the whole signal (``librosa.power_to_db`` of the mel power)."""
    import librosa

    mfcc = librosa.feature.mfcc(S=mel_db, sr=config.sr, n_mfcc=config.n_mfcc)
    k = config.n_mfcc
    features[:, 0:k] = mfcc.T
    features[:, k:2 * k] = librosa.feature.delta(mfcc, width=config.delta_width, order=1).T
    features[:, 2 * k:3 * k] = librosa.feature.delta(mfcc, width=config.delta_width,
                                                     order=2).T
    onset = librosa.onset.onset_strength(S=mel_db, sr=config.sr, n_fft=config.n_fft,
                                         hop_length=config.hop_length)
    features[:, 3 * k] = np.log(np.maximum(onset, config.log_floor))


def _chroma_columns(features: np.ndarray, y: np.ndarray, config: FeatureConfig,
                    chunks: list[tuple[int, int]], tuning: float,
                    last_power: np.ndarray) -> None:
    """Fill the log chroma columns of ``features`` chunk by chunk (the second pass of
    :func:`signal_features`; the last chunk first, from ``last_power``)."""
    import librosa

    column = 3 * config.n_mfcc + 1
    power: np.ndarray | None = last_power
    for start, stop in reversed(chunks):
        if power is None:
            power = _chunk_power(y, start, stop, config)
        chroma = librosa.feature.chroma_stft(S=power, sr=config.sr, n_fft=config.n_fft,
                                             hop_length=config.hop_length, tuning=tuning)
        features[start:stop, column:] = np.log(np.maximum(chroma, config.log_floor)).T
        power = None


def warm_up(config: FeatureConfig = DEFAULT_CONFIG) -> None:
    """Compile, in this process, every numba function :func:`extract_features` uses.

    librosa compiles some functions with numba (the peak picking of the chroma's tuning
    estimation, among others) and caches the machine code on disk (beside librosa's
    sources, or in ``NUMBA_CACHE_DIR``). Processes that compile one function at the same
    time can leave a cache entry that crashes (SIGSEGV) every process loading it later
    (numba issues #4807, #10128). Called once before worker processes start, this
    process becomes the only one of its run writing those entries; the workers load them.
    Runs started at once (two commands, or the processes of ``torchrun``) take turns
    through a lock file (:func:`warm_up_lock`): the first compiles and writes the cache,
    the others wait and then load it.

    Worker processes call it too when they start, after their parent: they then load
    librosa's lazily imported modules and the compiled functions (taking turns, in case
    their numba cache is not their parent's) before their first track, whose time
    limit should not count them.

    Parameters
    ----------
    config : FeatureConfig
        The settings the workers will use.
    """
    seconds = 2 * config.min_samples / config.sr
    t = np.arange(int(seconds * config.sr)) / config.sr
    y = sum(np.sin(2 * np.pi * 440.0 * h * t) / h for h in range(1, 5))  # pitches to tune
    with exclusive_lock(warm_up_lock(), wait=True):
        extract_features((0.3 * y).astype(np.float32), sr=config.sr, config=config)


def warm_up_lock() -> Path:
    """The lock file :func:`warm_up` takes turns through: in ``NUMBA_CACHE_DIR`` when set,
    else in the temporary folder, one per user."""
    folder = os.environ.get("NUMBA_CACHE_DIR") or tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(folder) / f".hdpmusic-numba-warm-up-{uid}.lock"


def check_feature_config(model: Any, config: Mapping[str, Any] | None, *,
                         model_path: str | os.PathLike, data: str) -> None:
    """Refuse frames made with other feature settings than the model's training corpus.

    Nothing is checked when either side records no settings (a model file written
    before they were recorded, a corpus in the study's layout).

    Parameters
    ----------
    model : object
        A frame model, with ``fitted_corpus_`` from
        :func:`hdpmusic.formats.checkpoint.restore_corpus`.
    config : mapping or None
        The feature settings of the frames to transform
        (:meth:`hdpmusic.audio.features.FeatureConfig.to_dict`).
    model_path : path-like
        The model file (for the message).
    data : str
        What the frames are (for the message), e.g. the corpus path.

    Raises
    ------
    DataError
        The settings differ; the message gives both.
    """
    fitted = (getattr(model, "fitted_corpus_", None) or {}).get("feature_config")
    if fitted is None or config is None:
        return
    ours, theirs = _full_config(fitted), _full_config(config)
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    if differ:
        raise DataError(f"{model_path} was fitted on features with {_settings(ours, differ)}"
                        f" but {data} has {_settings(theirs, differ)}: extract the audio "
                        f"with the model's settings, or fit a model on these features")


def _full_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Feature settings with the defaults filled in (for files that lack newer fields)."""
    return {**DEFAULT_CONFIG.to_dict(), **config}


def _settings(config: Mapping[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{k}={config.get(k)}" for k in keys)
