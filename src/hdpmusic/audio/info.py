"""How many sample frames an audio file's header declares (to catch truncated files).

A file cut short (an interrupted copy or download) still decodes: libsndfile reads a WAV,
AIFF or AU file up to where it ends, and an MP3 decoder stops at the last whole frame.
Comparing the decoded length with the length the header declares tells such a file from
a complete one. libsndfile clamps the length of PCM containers to the file's size, so
their headers are read here (WAV: the data chunk's size; AIFF: the COMM chunk's frame
count; AU, GTZAN's format: the data size); an MP3 declares its length only in a Xing, Info
or VBRI tag (without one, the decoder's length is an estimate from the bit rate, so
nothing is declared); a FLAC file declares it in its STREAMINFO block.

An Ogg file (Vorbis, Opus) declares no length: libsndfile takes it from the granule
position of the last page it finds, which in a cut file is the last page left. A
complete Ogg stream ends with a page flagged end-of-stream, ending at the end of the
file; :func:`stream_complete` checks that.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

__all__ = ["declared_frames", "stream_complete"]

_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # data chunk size of a WAV written as a stream

#: the longest Ogg page: a 27-byte header, 255 lacing values, 255 segments of 255 bytes
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_OGG_END_OF_STREAM = 0x04  # header_type flag of a stream's last page

#: bytes per sample of the AU encodings (μ-law, 8/16/24/32-bit PCM, float, double, A-law)
_AU_SAMPLE_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}


def declared_frames(path: str | os.PathLike, format: str, frames: int) -> int | None:
    """Sample frames the header of an audio file declares, if it declares them.

    Parameters
    ----------
    path : path-like
        The audio file.
    format : str
        Its container as soundfile names it (``SoundFile.format``: ``"WAV"``, ``"MP3"``,
        ``"FLAC"``, ...).
    frames : int
        The length soundfile reports (``SoundFile.frames``).

    Returns
    -------
    int or None
        WAV: the data chunk's size in frames (None for a streamed WAV of unknown size);
        AIFF: the COMM chunk's frame count; AU: the data size in frames (None when
        unknown); MP3: ``frames`` if the file has a Xing, Info or VBRI tag, else None; any
        other format: ``frames`` (FLAC: the STREAMINFO length).
    """
    readers = {"WAV": _wav_frames, "WAVEX": _wav_frames, "AIFF": _aiff_frames,
               "AU": _au_frames}
    if format in readers:
        with open(path, "rb") as fh:
            return readers[format](fh)
    if format == "MP3":
        with open(path, "rb") as fh:
            return frames if _mp3_has_length_tag(fh) else None
    return frames


def stream_complete(path: str | os.PathLike, format: str) -> bool:
    """Whether a file ends where its stream ends (for containers that declare no length).

    Parameters
    ----------
    path : path-like
        The audio file.
    format : str
        Its container as soundfile names it (``SoundFile.format``).

    Returns
    -------
    bool
        OGG: whether the file ends with a whole page flagged end-of-stream (a file cut
        short ends part-way through a page, or after a page without the flag); any
        other format: True (see :func:`declared_frames` for those).
    """
    if format != "OGG":
        return True
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - _OGG_MAX_PAGE))
        tail = fh.read()
    header_type = _last_ogg_page(tail)
    return header_type is not None and bool(header_type & _OGG_END_OF_STREAM)


def _last_ogg_page(tail: bytes) -> int | None:
    """header_type of the Ogg page that ends exactly at the end of ``tail``, if any."""
    start = tail.rfind(b"OggS")
    while start >= 0:
        segments = tail[start + 26] if start + 27 <= len(tail) else None
        if segments is not None and start + 27 + segments <= len(tail):
            lacing = tail[start + 27:start + 27 + segments]
            if start + 27 + segments + sum(lacing) == len(tail):
                return tail[start + 5]
        start = tail.rfind(b"OggS", 0, start)
    return None


def _wav_frames(fh: BinaryIO) -> int | None:
    """Frames of a RIFF/WAVE file's data chunk: its size over the fmt block size."""
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
        return None
    block = 0
    while len(chunk := fh.read(8)) == 8:
        kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if kind == b"data":
            return size // block if block and size not in _UNKNOWN_SIZES else None
        body = fh.read(size + size % 2)  # chunks are padded to an even size
        if kind == b"fmt " and len(body) >= 14:
            block = struct.unpack("<H", body[12:14])[0]  # nBlockAlign: bytes per frame
    return None


def _aiff_frames(fh: BinaryIO) -> int | None:
    """numSampleFrames of an AIFF/AIFC file's COMM chunk (big-endian chunks)."""
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"FORM" or head[8:] not in (b"AIFF", b"AIFC"):
        return None
    while len(chunk := fh.read(8)) == 8:
        kind, size = chunk[:4], struct.unpack(">I", chunk[4:])[0]
        body = fh.read(size + size % 2)
        if kind == b"COMM" and len(body) >= 6:
            return struct.unpack(">I", body[2:6])[0]  # after numChannels (2 bytes)
    return None


def _au_frames(fh: BinaryIO) -> int | None:
    """Frames of a Sun/NeXT AU file: its header's data size over the frame size."""
    head = fh.read(24)
    if len(head) < 24 or head[:4] != b".snd":
        return None
    _, size, encoding, _, channels = struct.unpack(">5I", head[4:])
    width = _AU_SAMPLE_BYTES.get(encoding)
    if size == 0xFFFFFFFF or not width or not channels:
        return None
    return size // (width * channels)


def _mp3_has_length_tag(fh: BinaryIO) -> bool:
    """Whether the first MPEG frame (after an ID3v2 tag) holds a Xing, Info or VBRI tag."""
    head = fh.read(10)
    start = 0
    if len(head) == 10 and head[:3] == b"ID3":  # size: 4 syncsafe bytes; footer flag
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 \
            | head[9] & 0x7F
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    fh.seek(start)
    first = fh.read(64)  # the tags sit 13–36 bytes into the frame
    return any(tag in first for tag in (b"Xing", b"Info", b"VBRI"))
