"""Build a labelled collection of real recorded music from Debian's game-music packages.

The demo corpus is rendered MIDI; this script assembles *recorded* music (produced
soundtracks shipped as Ogg Vorbis / Opus / MP3 by Debian packages) into a genre-like
task: one class per soundtrack whose style differs from the others, each track cut
into non-overlapping 30 s excerpts at 22.05 kHz mono, each excerpt's group being its
source track (so a split never puts excerpts of one track on both sides).

Install the sources first (Debian 12 "bookworm" versions, download sizes)::

    apt-get update
    apt-get install --no-install-recommends \\
        wesnoth-1.16-music nexuiz-music supertux-data warzone2100-music \\
        singularity-music drascula-music            # collection 1 (~575 MB)
    apt-get install --no-install-recommends \\
        ufoai-music hyperrogue-music asc-music      # + collection 2 (~285 MB)
    apt-get install --no-install-recommends \\
        widelands-data supertuxkart-data hedgewars-data \\
        freedroidrpg-data megaglest-data            # collection 3 (~1.6 GB)

Collection 1 (``--collection 1``, six classes, genre-like; default 60 excerpts a class):

``orchestral``
    wesnoth-1.16-music 1:1.16.9 (153 MB): The Battle for Wesnoth's symphonic fantasy
    score (several composers, one orchestral idiom).
``electronic``
    nexuiz-music 2.5.2 (84 MB): Nexuiz's beat-driven club electronica (techno,
    breakbeat, industrial); ``thunder.ogg``, a 48 s thunderstorm effect at 11 kHz, is
    left out.
``chiptune``
    supertux-data 0.6.3 (162 MB, ~100 min of it music): SuperTux's bright, melodic
    platformer synth-pop / chiptune.
``dark_ambient``
    warzone2100-music 4.3.3 (86 MB), only LupusMechanicus's *Legacy* and *Aftermath*
    albums (one composer, 80 bpm by the albums' metadata): dark, slow industrial /
    ambient sci-fi RTS score; Martin Severn's three 1999 tracks are left out.
``ambient_electronic``
    singularity-music 007 (52 MB), Max McCracken's score for Endgame: Singularity:
    calm, mid-tempo ambient electronica (the short win/lose stingers left out).
``adventure``
    drascula-music 1.0+ds4 (36 MB): the 1996 CD soundtrack of Alcachofa Soft's comic
    point-and-click adventure Drascula: short cues, older and noisier (lo-fi)
    production.

Measured on a middle 30 s of a few tracks each, the classes differ: the percussive
share of the energy (HPSS) is 0.04 for orchestral against 0.41 for electronic (others
0.18-0.25), the spectral centroid ~1.0 kHz for chiptune against ~2.5 kHz for
electronic, the spectral flatness highest for electronic and adventure.

Collection 2 (``--collection 2``, other packages, seven classes; classes are
soundtracks or composers, harder, closer to artist identification; use ``--per-class 40``):

``ufoai_crystan``
    ufoai-music 2.5 (210 MB), the tracks by Crystan: cinematic orchestral sci-fi
    (little percussion, HPSS share 0.12).
``ufoai_psymong``
    ufoai-music, the tracks by Psymong: dark, low-register score (centroid ~0.7 kHz).
``ufoai_marine``
    ufoai-music, the "Marine*" tracks: brighter, more percussive action cues.
``ufoai_david``
    ufoai-music, the "David*" tracks: the brightest, noisiest textures (centroid
    ~2.8 kHz, flatness 0.03).
``ufoai_van``
    ufoai-music, the "van_*" tracks (geoscape and mission themes; centroid ~1.9 kHz).
``hyperrogue``
    hyperrogue-music 12.0q (64 MB): HyperRogue's land themes (short loops, several
    composers).
``asc_wz1999``
    asc-music 1.3 (10 MB; Michael Kievernagel, 2002) and warzone2100-music's original
    1999 soundtrack (Martin Severn): the strategy-game scores of that era, the most
    percussive of this collection (HPSS share 0.35-0.39).

Collection 3 (``--collection 3``, five classes, one game's soundtrack each, none of
whose packages the first two collections use; soundtrack identification across
studios and composers; use ``--per-class 48``). It was added after every setting of
the representation study had been chosen on collections 1 and 2, as an untouched check:

``widelands``
    widelands-data 2:1.1 (381 MB): Widelands' medieval / orchestral RTS score.
``supertuxkart``
    supertuxkart-data 1.4 (628 MB): SuperTuxKart's race themes (many composers; the
    ``*_fast`` / ``farm_f`` speeded-up duplicates are left out).
``hedgewars``
    hedgewars-data 1.0.2 (145 MB): Hedgewars' themed map music (the ``olympics_sd``
    variant left out).
``freedroidrpg``
    freedroidrpg-data 1.0 (228 MB): FreedroidRPG's electronic / industrial score.
``megaglest``
    megaglest-data 3.13 (242 MB): MegaGlest's faction and menu themes (one composer
    each).

Output::

    DIR/audio/<class>/<track>_<i>.wav   30 s, 22.05 kHz, mono, 16-bit
    DIR/labels.csv                      path,label,group  (hdpmusic prepare table --labels)
    DIR/labels_split.csv                the same + split (train/valid/test by track)
    DIR/manifest.csv                    path,label,group,package,source,offset_s

``labels_split.csv`` carries an explicit split drawn here (:func:`assign_split`: per
class, whole tracks to train/valid/test in shares 0.5/0.25/0.25 of the excerpts, each
part getting at least one track of every class that has three or more). Use it where
the split ``prepare`` draws leaves a class out of a part, as it does for classes with
few, large groups (hdpmusic's ``group_split`` hands such groups to its folds in
fold order, the same for every seed, and maps runs of folds to parts).

Excerpts are taken from the full 30 s windows of a track (tails shorter than 30 s are
dropped), at most ``--per-track`` of them per track, spread evenly over the track;
windows that are mostly silent are skipped. Classes are balanced by taking excerpts
round-robin over a class's tracks (one from each track, then a second, ...) up to
``--per-class``. Everything is deterministic.

Then::

    hdpmusic prepare table --labels DIR/labels.csv --out DIR/task.h5 \
        --cache DIR/features.cache --jobs 1 --seed 0          # split drawn by prepare
    hdpmusic prepare table --labels DIR/labels_split.csv --out DIR/task_split.h5 \
        --cache DIR/features.cache --jobs 1                   # split from this script

Examples
--------
``python benchmarks/real_collection.py --out /work/realmusic``
``python benchmarks/real_collection.py --collection 2 --per-class 40 --out /work/realmusic2``
``python benchmarks/real_collection.py --collection 3 --per-class 48 --out /work/realmusic3``
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import glob
import io
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050
EXCERPT_S = 30.0
SILENCE_DB = -50.0  # a frame quieter than this (dBFS) counts as silent
MAX_SILENT_FRACTION = 0.5


@dataclass(frozen=True)
class Source:
    """Where a class's tracks are installed.

    Attributes
    ----------
    package : str
        Debian package that installs them (named when they are missing).
    pattern : str
        Glob of the audio files (``**`` recursive); for an archive, the archive file.
    member : str or None
        For a zip archive (``.pk3``): glob of its members to take; None for plain files.
    exclude : tuple of str
        Globs (matched against the file or member path) of tracks to leave out.
    """

    package: str
    pattern: str
    member: str | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClassSpec:
    """One class of the collection.

    Attributes
    ----------
    name : str
        Label.
    why : str
        What makes its style differ from the other classes.
    sources : tuple of Source
        Its tracks.
    """

    name: str
    why: str
    sources: tuple[Source, ...] = field(default_factory=tuple)


_WESNOTH = "/usr/share/games/wesnoth/1.16/data/core/music/*.ogg"
_WZ = "/usr/share/games/warzone2100/music/albums"
_UFO = "/usr/share/games/ufoai/base/0music.pk3"
_STK = "/usr/share/games/supertuxkart/data/music"

COLLECTIONS: dict[str, tuple[ClassSpec, ...]] = {
    "1": (
        ClassSpec("orchestral", "symphonic fantasy score (Wesnoth)",
                  (Source("wesnoth-1.16-music", _WESNOTH),)),
        ClassSpec("electronic", "percussive club electronica (Nexuiz)",
                  (Source("nexuiz-music", "/usr/share/games/nexuiz/data/music.pk3",
                          member="sound/cdtracks/*.ogg", exclude=("*/thunder.ogg",)),)),
        ClassSpec("chiptune", "bright melodic platformer synth-pop (SuperTux)",
                  (Source("supertux-data", "/usr/share/games/supertux2/music/**/*.ogg"),)),
        ClassSpec("dark_ambient", "slow dark industrial sci-fi (Warzone 2100, LupusMechanicus)",
                  (Source("warzone2100-music", f"{_WZ}/legacy_soundtrack/*.opus"),
                   Source("warzone2100-music", f"{_WZ}/aftermath_soundtrack/*.opus"))),
        ClassSpec("ambient_electronic", "calm ambient electronica (Endgame: Singularity)",
                  (Source("singularity-music", "/usr/share/games/singularity/music/*.ogg"),)),
        ClassSpec("adventure", "1996 comic adventure-game cues, lo-fi (Drascula)",
                  (Source("drascula-music", "/usr/share/scummvm/drascula/audio/*.ogg"),)),
    ),
    "2": (
        ClassSpec("ufoai_crystan", "cinematic orchestral sci-fi (UFO:AI, Crystan)",
                  (Source("ufoai-music", _UFO, member="music/Crystan-*.ogg"),)),
        ClassSpec("ufoai_psymong", "dark low-register score (UFO:AI, Psymong)",
                  (Source("ufoai-music", _UFO, member="music/Psymong*.ogg"),)),
        ClassSpec("ufoai_marine", "bright percussive action cues (UFO:AI, Marine*)",
                  (Source("ufoai-music", _UFO, member="music/Marine*.ogg"),)),
        ClassSpec("ufoai_david", "bright, noisy-textured action score (UFO:AI, David*)",
                  (Source("ufoai-music", _UFO, member="music/David*.ogg"),)),
        ClassSpec("ufoai_van", "mid-bright mission themes (UFO:AI, van_*)",
                  (Source("ufoai-music", _UFO, member="music/van_*.ogg"),)),
        ClassSpec("hyperrogue", "land-theme loops (HyperRogue)",
                  (Source("hyperrogue-music", "/usr/share/hyperrogue/music/*.ogg"),)),
        ClassSpec("asc_wz1999", "percussive 1999-2002 strategy-game scores (ASC, Warzone 1999)",
                  (Source("asc-music", "/usr/share/games/asc/music/*.mp3"),
                   Source("warzone2100-music", f"{_WZ}/original_soundtrack/*.opus"))),
    ),
    "3": (
        ClassSpec("widelands", "medieval orchestral RTS score (Widelands)",
                  (Source("widelands-data", "/usr/share/games/widelands/data/music/*.ogg"),)),
        ClassSpec("supertuxkart", "kart-race themes, many composers (SuperTuxKart)",
                  (Source("supertuxkart-data", f"{_STK}/*.ogg",
                          exclude=("*_fast.ogg", "*/farm_f.ogg")),)),
        ClassSpec("hedgewars", "themed comic map music (Hedgewars)",
                  (Source("hedgewars-data", "/usr/share/games/hedgewars/Data/Music/*.ogg",
                          exclude=("*/olympics_sd.ogg",)),)),
        ClassSpec("freedroidrpg", "electronic / industrial RPG score (FreedroidRPG)",
                  (Source("freedroidrpg-data",
                          "/usr/share/freedroidrpg/data/sound/music/*.ogg"),)),
        ClassSpec("megaglest", "faction themes, one composer each (MegaGlest)",
                  (Source("megaglest-data", "/usr/share/games/megaglest/**/music/*.ogg"),)),
    ),
}


@dataclass(frozen=True)
class Track:
    """One source recording.

    Attributes
    ----------
    label : str
        Its class.
    name : str
        File-name-safe track name, unique within the class (the excerpts' group).
    package : str
        Debian package it comes from.
    source : str
        Installed file (``archive:member`` for a member of a zip archive).
    read : callable
        Returns the file's bytes or path for :func:`soundfile.read`.
    """

    label: str
    name: str
    package: str
    source: str
    read: Callable[[], str | io.BytesIO]


def _safe(name: str) -> str:
    """File-name-safe version of a track path (no extension, ``/`` → ``-``).

    Parameters
    ----------
    name : str
        Path relative to the source's folder.

    Returns
    -------
    str
    """
    stem = os.path.splitext(name)[0].replace("/", "-")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_")


def _excluded(path: str, source: Source) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in source.exclude)


def find_tracks(spec: ClassSpec) -> list[Track]:
    """The installed tracks of one class, sorted by name.

    Parameters
    ----------
    spec : ClassSpec
        The class.

    Returns
    -------
    list of Track

    Raises
    ------
    SystemExit
        When a source's files are not installed (names the package to install).
    """
    tracks: list[Track] = []
    for source in spec.sources:
        found: list[Track] = []
        if source.member is None:
            base = source.pattern.split("*", 1)[0].rsplit("/", 1)[0]
            for path in sorted(glob.glob(source.pattern, recursive=True)):
                if os.path.isfile(path) and not _excluded(path, source):
                    found.append(Track(spec.name, _safe(os.path.relpath(path, base)),
                                       source.package, path,
                                       lambda path=path: path))
        elif os.path.isfile(source.pattern):
            archive = zipfile.ZipFile(source.pattern)
            for member in sorted(archive.namelist()):
                if fnmatch.fnmatch(member, source.member) and not _excluded(member, source):
                    found.append(Track(
                        spec.name, _safe(os.path.basename(member)), source.package,
                        f"{source.pattern}:{member}",
                        lambda archive=archive, member=member: io.BytesIO(archive.read(member))))
        if not found:
            raise SystemExit(
                f"real_collection: no tracks at {source.pattern} for class {spec.name!r}: "
                f"apt-get install --no-install-recommends {source.package}")
        tracks.extend(found)
    names = [track.name for track in tracks]
    if len(set(names)) != len(names):
        raise SystemExit(f"real_collection: duplicate track names in class {spec.name!r}")
    return tracks


def load_mono(track: Track) -> np.ndarray:
    """Decode a track to mono float32 at :data:`SAMPLE_RATE`.

    Parameters
    ----------
    track : Track
        The track.

    Returns
    -------
    numpy.ndarray
        Samples in [-1, 1] (mean of the channels, then resampled).
    """
    import librosa
    import soundfile as sf

    audio, rate = sf.read(track.read(), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=SAMPLE_RATE)
    return np.asarray(mono, dtype=np.float32)


def good_windows(mono: np.ndarray) -> list[int]:
    """Start samples of the full, not mostly silent, 30 s windows of a track.

    Parameters
    ----------
    mono : numpy.ndarray
        The track at :data:`SAMPLE_RATE`.

    Returns
    -------
    list of int
        Starts of the non-overlapping windows ``[k*30 s, (k+1)*30 s)`` that have at
        most :data:`MAX_SILENT_FRACTION` of their 50 ms frames below :data:`SILENCE_DB`.
    """
    length = int(EXCERPT_S * SAMPLE_RATE)
    hop = SAMPLE_RATE // 20
    starts = []
    for start in range(0, len(mono) - length + 1, length):
        window = mono[start:start + length]
        frames = window[: len(window) // hop * hop].reshape(-1, hop)
        level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        if np.mean(level < SILENCE_DB) <= MAX_SILENT_FRACTION:
            starts.append(start)
    return starts


def spread(starts: Sequence[int], count: int) -> list[int]:
    """``count`` of ``starts`` spread evenly over the track (all when fewer).

    Parameters
    ----------
    starts : sequence of int
        Candidate window starts, in order.
    count : int
        How many to keep.

    Returns
    -------
    list of int
    """
    if len(starts) <= count:
        return list(starts)
    picks = np.unique(np.round(np.linspace(0, len(starts) - 1, count)).astype(int))
    return [starts[i] for i in picks]


def allocate(available: Sequence[int], per_class: int, per_track: int) -> list[int]:
    """Excerpts per track: round-robin over the tracks up to ``per_class`` in all.

    Parameters
    ----------
    available : sequence of int
        Usable windows of each track.
    per_class : int
        Excerpts wanted for the class.
    per_track : int
        At most this many from one track.

    Returns
    -------
    list of int
        How many excerpts to take from each track.
    """
    caps = [min(n, per_track) for n in available]
    take = [0] * len(caps)
    total = 0
    while total < per_class and any(t < c for t, c in zip(take, caps, strict=True)):
        for i, cap in enumerate(caps):
            if take[i] < cap and total < per_class:
                take[i] += 1
                total += 1
    return take


def build_class(spec: ClassSpec, out: Path, per_class: int,
                per_track: int) -> Iterator[dict[str, str]]:
    """Write one class's excerpts and yield their manifest rows.

    Parameters
    ----------
    spec : ClassSpec
        The class.
    out : pathlib.Path
        Collection folder (excerpts go to ``out/audio/<class>/``).
    per_class : int
        Excerpts wanted for the class.
    per_track : int
        At most this many from one track.

    Yields
    ------
    dict
        ``path, label, group, package, source, offset_s`` of each excerpt.
    """
    import soundfile as sf

    tracks = find_tracks(spec)
    length = int(EXCERPT_S * SAMPLE_RATE)
    candidates: list[dict[int, np.ndarray]] = []  # ≤ per_track windows of each track
    for track in tracks:
        mono = load_mono(track)
        starts = spread(good_windows(mono), per_track)
        candidates.append({s: mono[s:s + length].copy() for s in starts})
        del mono
    take = allocate([len(c) for c in candidates], per_class, per_track)
    folder = out / "audio" / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    for track, windows, count in zip(tracks, candidates, take, strict=True):
        for i, start in enumerate(spread(sorted(windows), count)):
            rel = f"audio/{spec.name}/{track.name}_{i}.wav"
            sf.write(out / rel, np.clip(windows[start], -1.0, 1.0),
                     SAMPLE_RATE, subtype="PCM_16")
            yield {"path": rel, "label": spec.name, "group": f"{spec.name}/{track.name}",
                   "package": track.package, "source": track.source,
                   "offset_s": f"{start / SAMPLE_RATE:.1f}"}


def assign_split(labels: Sequence[str], groups: Sequence[str], seed: int = 0,
                 fractions: tuple[float, float, float] = (0.5, 0.25, 0.25)) -> list[str]:
    """A seeded split by whole groups, stratified by label.

    Per class, the groups (shuffled, then taken largest first) go one by one to the
    part furthest below its share of the class's excerpts; then, while a part is
    empty and another holds two or more groups, the smallest group of the fullest
    part moves to it.

    Parameters
    ----------
    labels : sequence of str
        Class of each excerpt.
    groups : sequence of str
        Group (source track) of each excerpt.
    seed : int
        Seed of the shuffle.
    fractions : (float, float, float)
        Shares of train, valid and test.

    Returns
    -------
    list of str
        ``train``, ``valid`` or ``test`` for each excerpt.
    """
    parts = ("train", "valid", "test")
    rng = np.random.default_rng(seed)
    part_of: dict[str, int] = {}
    for label in sorted(set(labels)):
        size: dict[str, int] = {}
        for lab, group in zip(labels, groups, strict=True):
            if lab == label:
                size[group] = size.get(group, 0) + 1
        names = sorted(size)
        order = [names[i] for i in rng.permutation(len(names))]
        order.sort(key=lambda g: -size[g])
        total = sum(size.values())
        filled = [0, 0, 0]
        members: list[list[str]] = [[], [], []]
        for group in order:
            deficit = [f * total - n for f, n in zip(fractions, filled, strict=True)]
            k = int(np.argmax(deficit))
            filled[k] += size[group]
            members[k].append(group)
        for k in range(3):
            if not members[k]:
                donor = max(range(3), key=lambda j: len(members[j]))
                if len(members[donor]) < 2:
                    continue
                group = min(members[donor], key=lambda g: size[g])
                members[donor].remove(group)
                members[k].append(group)
        for k, groups_k in enumerate(members):
            part_of.update(dict.fromkeys(groups_k, k))
    return [parts[part_of[g]] for g in groups]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(
        description="Cut Debian game soundtracks into a labelled collection of 30 s "
                    "excerpts (labels.csv: path,label,group) for hdpmusic prepare table.")
    parser.add_argument("--out", type=Path, required=True, help="collection folder to write")
    parser.add_argument("--collection", choices=sorted(COLLECTIONS), default="1",
                        help="which set of classes (see the module docstring)")
    parser.add_argument("--per-class", type=int, default=60,
                        help="excerpts wanted per class (default 60)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split written to labels_split.csv")
    parser.add_argument("--per-track", type=int, default=6,
                        help="at most this many excerpts per track (default 6)")
    parser.add_argument("--classes", nargs="*", default=None,
                        help="only these classes of the collection")
    args = parser.parse_args(argv)

    specs = [s for s in COLLECTIONS[args.collection]
             if args.classes is None or s.name in args.classes]
    for spec in specs:  # fail before any work when a package is missing
        find_tracks(spec)
    if (args.out / "labels.csv").exists():
        raise SystemExit(f"real_collection: {args.out / 'labels.csv'} exists; "
                         "choose another --out or remove it")
    rows: list[dict[str, str]] = []
    for spec in specs:
        before = len(rows)
        rows.extend(build_class(spec, args.out, args.per_class, args.per_track))
        groups = {r["group"] for r in rows[before:]}
        print(f"{spec.name}: {len(rows) - before} excerpts from {len(groups)} tracks "
              f"({spec.why})", flush=True)
    with open(args.out / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "group"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    splits = assign_split([r["label"] for r in rows], [r["group"] for r in rows], args.seed)
    with open(args.out / "labels_split.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "group", "split"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**r, "split": p} for r, p in zip(rows, splits, strict=True))
    with open(args.out / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    hours = len(rows) * EXCERPT_S / 3600
    print(f"{len(rows)} excerpts ({hours:.2f} h), {len({r['group'] for r in rows})} tracks, "
          f"{len(specs)} classes -> {args.out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
