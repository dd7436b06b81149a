"""Audio files → mono float32 signals at a chosen rate, as :func:`librosa.load` gives.

:func:`load_audio` reads a file with soundfile (WAV, FLAC, OGG/Vorbis, MP3, AU, AIFF, …;
anything else through librosa's audioread fallback) a block of frames at a time, mixes
each block down and resamples it with a streaming soxr resampler, so that only the
result is held whole. It refuses, with one clear line, what would give wrong features:
a missing file, a FIFO or device, a truncated file, audio that is empty, silent or not
finite (:func:`check_signal`). What a C decoder prints about a damaged file (libmpg123's
notes) is caught (:func:`hdpmusic.runtime.stderr.capture_stderr`) and quoted in that
line, not left in the terminal.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import warnings
from typing import Any

import numpy as np

from hdpmusic.audio.info import declared_frames, stream_complete
from hdpmusic.runtime.errors import DataError
from hdpmusic.runtime.stderr import Captured, capture_stderr

__all__ = ["SILENCE_PEAK", "check_signal", "load_audio"]

#: a signal whose peak absolute amplitude is below this (−120 dBFS) counts as silent
SILENCE_PEAK = 1e-6

#: a file decoding to more than this many frames fewer than its header declares is
#: truncated (four MP3 frames: decoders may trim the encoder's delay and padding)
_TRUNCATION_SLACK = 4 * 1152

#: frames decoded (and mixed down) at a time
_READ_BLOCK = 1 << 16

#: what a C decoder puts before its messages (``Note:``, ``[src/…/parse.c:…] error:``)
_DECODER_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)?(note|warning|error)\s*:\s*", re.IGNORECASE)

#: the longest line of a decoder's message quoted in an error
_SAID_CHARS = 80

log = logging.getLogger(__name__)


def check_signal(y: np.ndarray, name: str = "signal", *, min_samples: int = 1,
                 sr: int | None = None) -> None:
    """Raise :class:`DataError` unless ``y`` is a usable mono signal.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    name : str
        What to call the signal in messages (a file name).
    min_samples : int
        Fewer samples than this is an error (see
        :attr:`hdpmusic.audio.features.FeatureConfig.min_samples`).
    sr : int, optional
        Sample rate, only used to state durations in messages.

    Raises
    ------
    DataError
        ``y`` is not 1-D, empty, too short, contains NaN/inf, or is silent
        (peak below :data:`SILENCE_PEAK`).
    """
    if y.ndim != 1:
        raise DataError(f"{name}: expected a mono signal of shape (n_samples,), got shape "
                        f"{y.shape}; mix it down first (librosa.to_mono)")
    if y.size == 0:
        raise DataError(f"{name}: the audio is empty (0 samples)")
    if y.size < min_samples:
        rate = f" ({y.size / sr:.3f} s at {sr} Hz)" if sr else ""
        need = f" ({min_samples / sr:.3f} s)" if sr else ""
        raise DataError(f"{name}: the audio is too short: {y.size} samples{rate}, at least "
                        f"{min_samples}{need} are needed for one frame and the Δ window")
    low, high = float(np.min(y)), float(np.max(y))  # NaN propagates; no copy of y
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataError(f"{name}: the audio contains NaN or infinite samples")
    if max(-low, high) < SILENCE_PEAK:
        raise DataError(f"{name}: the audio is silent (peak below {SILENCE_PEAK:g}, "
                        f"i.e. −120 dBFS); remove the track")


def load_audio(path: str | os.PathLike, sr: int = 22050, *,
               min_samples: int = 1) -> np.ndarray:
    """Decode an audio file to a mono float32 signal at ``sr``, as :func:`librosa.load`.

    The file is read with soundfile (WAV, FLAC, OGG/Vorbis, MP3, AU, AIFF, …; anything
    else through :func:`librosa.load`'s audioread fallback) a block of frames at a time:
    each block's channels are averaged and the block is resampled to ``sr`` by a
    streaming soxr resampler (``HQ``, the quality of :func:`librosa.resample`'s default
    ``soxr_hq``). The result equals ``librosa.load(path, sr=sr, mono=True)[0]``, and only
    it is held whole: neither the multi-channel nor the native-rate signal is.

    Parameters
    ----------
    path : path-like
        The audio file.
    sr : int
        Target sample rate (Hz).
    min_samples : int
        Shortest accepted signal after resampling (samples).

    Returns
    -------
    np.ndarray, shape (n_samples,), float32

    Raises
    ------
    DataError
        The file is missing or not a regular file (a FIFO, a device), cannot be decoded
        or is truncated (decodes to less than its header declares, see
        :func:`hdpmusic.audio.info.declared_frames`, or an Ogg stream without its end,
        see :func:`hdpmusic.audio.info.stream_complete`), or the audio is empty, shorter
        than ``min_samples``, silent, or not finite (see :func:`check_signal`).
    """
    name = os.fspath(path)
    _check_regular_file(name)
    try:
        y = _decode(name, sr)
    except DataError:
        raise
    except Exception as err:  # soundfile, audioread and resampler errors vary
        raise _undecodable(name, err) from err
    check_signal(y, name, min_samples=min_samples, sr=sr)
    return y


def _check_regular_file(name: str) -> None:
    """Raise :class:`DataError` unless ``name`` is a regular file (reading a FIFO blocks)."""
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{name}: is a directory, not an audio file")
    if not stat.S_ISREG(mode):
        raise DataError(f"{name}: not a regular file (a FIFO, a device or a socket); "
                        f"skipped, as reading it may never end")


def _undecodable(name: str, err: BaseException, said: str = "") -> DataError:
    """The error for a file no decoder could read, with the decoder's first line (and
    what it printed, ``said``: :func:`_decoder_words`)."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    return DataError(f"{name}: cannot decode audio ({first}{said}); check that it is a "
                     f"complete audio file (WAV, FLAC, OGG, MP3, AU, AIFF)")


def _decoder_words(captured: Captured) -> str:
    """What a C decoder printed while reading a file, in a few words for a one-line
    message: its first and last lines without their ``Note:``/``error:`` prefixes, each
    quoted and cut at :data:`_SAID_CHARS` characters ("" when it printed nothing)."""
    lines = [_DECODER_PREFIX.sub("", line) for line in captured.lines()]
    if not lines:
        return ""
    ends = lines[:1] + lines[1:][-1:]
    return "; the decoder said " + " … ".join(
        f'"{line if len(line) <= _SAID_CHARS else line[:_SAID_CHARS - 1] + "…"}"'
        for line in ends)


def _decode(name: str, sr: int) -> np.ndarray:
    """The mono float32 signal of an audio file at ``sr``.

    What the C decoders print while reading (libmpg123's notes on a damaged MP3) is kept
    off the terminal: it joins the error when the file is refused, and is logged at
    DEBUG level when the file decodes in full.

    Raises
    ------
    DataError
        The file is truncated, or its decoder stopped part-way for another reason; the
        audio is empty, silent or not finite.
    """
    import soundfile as sf

    with capture_stderr() as captured:
        try:
            fh = sf.SoundFile(name)
        except sf.LibsndfileError as err:  # not a soundfile format (or a broken one)
            fh, refused = None, err
        if fh is not None:
            with fh:
                declared = declared_frames(name, fh.format, fh.frames)
                y, decoded, stopped = _read_resampled(fh, sr)
                complete = stream_complete(name, fh.format)
    said = _decoder_words(captured)
    if fh is None:  # let librosa try audioread
        try:
            return _decode_audioread(name, sr)
        except DataError:
            raise
        except Exception as err:
            if not said:
                raise
            raise _undecodable(name, refused, said) from err
    short = declared is not None and decoded + _TRUNCATION_SLACK < declared
    if short or not complete:
        raise DataError(f"{name}: the file is truncated: "
                        f"{_declared_text(fh.format, declared, fh.samplerate)}, only "
                        f"{decoded / fh.samplerate:.2f} s could be decoded{said}; copy or "
                        f"download it again")
    if stopped is not None:
        raise _undecodable(name, stopped, said)
    if said:
        log.debug("%s: decoded in full%s", name, said)
    check_signal(y, name, min_samples=1)
    return y


def _decode_audioread(name: str, sr: int) -> np.ndarray:
    """:func:`librosa.load` of a file soundfile cannot open (through audioread)."""
    import librosa

    with warnings.catch_warnings():  # librosa warns before using audioread
        warnings.simplefilter("ignore", (UserWarning, FutureWarning, DeprecationWarning))
        y, native_sr = librosa.load(name, sr=None, mono=True, dtype=np.float32)
    check_signal(y, name, min_samples=1)
    return librosa.resample(y, orig_sr=native_sr, target_sr=sr)


def _declared_text(format: str, declared: int | None, sr: int) -> str:
    """What a truncated file was meant to hold, for the error message."""
    if format == "OGG":
        return "its Ogg stream stops before its last (end-of-stream) page"
    return f"its header declares {declared / sr:.2f} s ({declared} frames)"


def _read_resampled(fh: Any, sr: int, block: int = _READ_BLOCK,
                    ) -> tuple[np.ndarray, int, Exception | None]:
    """Every frame of an open ``soundfile.SoundFile``, mixed down and resampled to ``sr``
    a block at a time.

    Returns
    -------
    y : np.ndarray, shape (n_samples,), float32
        The signal at ``sr``: ``librosa.resample`` of the mixed-down frames decoded (up
        to the decoder's error, if any), its length fixed as librosa fixes it.
    decoded : int
        Frames decoded, at the file's rate.
    stopped : Exception or None
        The error that stopped the decoder part-way (a cut FLAC file), else None.
    """
    import soundfile as sf
    import soxr

    ratio = sr / fh.samplerate
    stream = (soxr.ResampleStream(fh.samplerate, sr, 1, dtype="float32", quality="HQ")
              if sr != fh.samplerate else None)
    buffer = np.empty((block, fh.channels), dtype=np.float32)
    y = _Growing(int(np.ceil(max(fh.frames, 0) * ratio)) + block)  # + what soxr flushes
    decoded, stopped = 0, None
    while True:
        try:
            frames = fh.read(dtype="float32", always_2d=True, out=buffer)
        except sf.LibsndfileError as err:
            stopped = err
            break
        if not len(frames):
            break
        decoded += len(frames)
        mono = np.ascontiguousarray(_mix_down(frames))
        y.append(stream.resample_chunk(mono) if stream else mono)
    if stream:
        y.append(stream.resample_chunk(np.empty(0, np.float32), last=True))
    return y.array(int(np.ceil(decoded * ratio))), decoded, stopped  # as librosa's fix


class _Growing:
    """A float32 array filled a chunk at a time, in a buffer allocated once for the
    expected length (grown if more comes)."""

    def __init__(self, expected: int) -> None:
        self._data = np.empty(expected, dtype=np.float32)
        self._size = 0

    def append(self, chunk: np.ndarray) -> None:
        """Add ``chunk`` at the end."""
        end = self._size + len(chunk)
        if end > len(self._data):
            grown = np.empty(max(end, len(self._data) * 3 // 2), dtype=np.float32)
            grown[:self._size] = self._data[:self._size]
            self._data = grown
        self._data[self._size:end] = chunk
        self._size = end

    def array(self, length: int) -> np.ndarray:
        """The first ``length`` values (a view), zeros past those appended, as
        :func:`librosa.util.fix_length` pads (in place when the buffer is long enough)."""
        if length > len(self._data):
            self.append(np.zeros(length - self._size, dtype=np.float32))
        self._data[self._size:length] = 0.0
        return self._data[:length]


def _mix_down(frames: np.ndarray) -> np.ndarray:
    """The mono signal of ``frames`` (n, channels), equal to ``librosa.to_mono(frames.T)``."""
    import librosa

    if frames.shape[1] == 1:
        return frames[:, 0]
    if frames.shape[1] == 2:  # == librosa.to_mono(frames.T), bit for bit
        return (frames[:, 0] + frames[:, 1]) / np.float32(2)
    return librosa.to_mono(frames.T)
