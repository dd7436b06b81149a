"""The demo corpus: real compositions from music21's bundled corpus, rendered offline.

:func:`build_demo_dataset` turns pieces of the corpus that ships inside the ``music21``
wheel (Bach chorales, Palestrina masses, Monteverdi madrigals, Italian trecento songs,
classical string quartets, fiddle tunes, German and Chinese folk songs of the Essen
collection) into a small labelled audio collection, with no network and no dataset
download:

1. per class, the candidate pieces are shuffled with the seed and taken in that order;
2. each piece is parsed, cut to its first bars (repeat signs removed, so an excerpt is
   the bars as written), exported to MIDI (``midi/<class>/<piece>.mid``) and rendered
   with one General MIDI instrument for every part and every class (acoustic grand
   piano, program 0, so timbre does not give the label away) using the soundfont the
   ``pretty_midi`` wheel ships (``TimGM6mb.sf2``) and ``tinysoundfont``; pieces that
   fail to parse, cut, export or render, or whose excerpt is too short, are skipped and
   the next candidate is taken;
3. the excerpt is cut to ``max_seconds``, mixed to mono, loudness-normalised and
   written as ``audio/<class>/<piece>.wav`` (22 050 Hz, 16-bit);
4. tags are derived from the score and the rendering: key mode (music21's key
   analysis), meter (time signature), tempo bucket (the rendered tempo), ensemble size
   (parts with notes) and the original instrumentation (part and instrument names);
5. a stratified, seeded train/valid/test split and a simulated listening log are
   drawn: users belong to a few taste profiles (favourite classes and a favourite
   tag) and choose tracks by a popularity skew times their taste.

Everything is written to ``demo.json`` beside the audio. The track ids are the audio
paths relative to ``audio/`` — the ids :func:`hdpmusic.audio.extract.find_tracks` gives to the
files of that folder. A second call with the same arguments finds ``demo.json`` with
the same argument hash and returns without rendering; an interrupted build reuses the
pieces already rendered.

``tinysoundfont`` declares ``pyaudio`` (live playback, never used here) whose build
needs the PortAudio headers; install it with ``pip install --no-deps tinysoundfont``.
Without it the pieces are rendered by a small additive piano synthesiser
(``renderer="additive"``) — the build still works, with another sound.

:func:`demo_tasks` and :func:`write_demo_tasks` turn the dataset into the three task
files of the evaluation (genre classification, tagging, recommendation), in the layout of
:mod:`hdpmusic.formats.taskdata`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdpmusic.datasets.splits import stratified_split
from hdpmusic.formats.atomic import atomic_path
from hdpmusic.formats.taskdata import TaskData, read_task, write_task
from hdpmusic.runtime.errors import DataError, HdpmusicError, ParameterError
from hdpmusic.runtime.threads import n_jobs

__all__ = [
    "DEFAULT_CLASSES",
    "DEMO_CLASSES",
    "QUICK_CLASSES",
    "SAMPLE_RATE",
    "DemoClass",
    "DemoDataset",
    "DemoSettings",
    "DemoTrack",
    "build_demo_dataset",
    "demo_settings",
    "demo_tasks",
    "iter_audio",
    "load_demo_dataset",
    "simulate_listening",
    "soundfont_path",
    "write_demo_tasks",
]

log = logging.getLogger(__name__)

#: sample rate of the rendered audio (the feature extractor's rate)
SAMPLE_RATE = 22_050
#: General MIDI program every part is rendered with (acoustic grand piano)
GM_PROGRAM = 0
#: file format of ``demo.json``
FORMAT = "hdpmusic-demo/1"
MANIFEST = "demo.json"
#: version of the piece rendering; part of every piece's cache key
_RENDER_VERSION = 2
_INSTALL_HINT = ('pip install music21 pretty_midi && pip install --no-deps tinysoundfont '
                 '(or pip install "hdpmusic[demo]" plus the latter)')


@dataclass(frozen=True)
class DemoClass:
    """A class of the demo corpus: a composer or a collection of music21's corpus.

    Attributes
    ----------
    name : str
        The label ("genre") and the folder name.
    description : str
        One line for humans.
    patterns : tuple of str
        Regular expressions; a corpus file belongs to the class when its path relative
        to the corpus root (``/`` separators) matches one in full.
    exclude : tuple of str
        Regular expressions of relative paths left out.
    max_bytes : int, optional
        Larger files are left out (whole works that take seconds to parse).
    """

    name: str
    description: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    max_bytes: int | None = None


#: every class the demo knows, by name
DEMO_CLASSES: dict[str, DemoClass] = {c.name: c for c in (
    DemoClass("bach", "J. S. Bach, four-part chorales", (r"bach/[^/]+\.(mxl|xml|krn)",)),
    DemoClass("palestrina", "Palestrina, mass movements", (r"palestrina/[^/]+\.krn",)),
    DemoClass("monteverdi", "Monteverdi, five-voice madrigals (books 3-5)",
              (r"monteverdi/[^/]+\.mxl",), (r".*_old\.mxl",)),
    DemoClass("trecento", "Italian trecento songs (14th century)",
              (r"trecento/[^/]+\.(xml|mxl)",)),
    DemoClass("classical_quartet", "string quartets of Haydn, Mozart and Beethoven",
              (r"haydn/.+\.mxl", r"mozart/.+\.mxl", r"beethoven/.+\.mxl"),
              (r"mozart/k545/.*",), max_bytes=130_000),
    DemoClass("ryans_mammoth", "fiddle tunes, Ryan's Mammoth Collection (1883)",
              (r"ryansMammoth/[^/]+\.abc",)),
    DemoClass("essen_german", "German folk songs, Essen collection",
              (r"essenFolksong/(altdeu|ballad|boehme|dva|erk|fink|kinder|zuccal)\d*\.abc",)),
    DemoClass("essen_chinese", "Chinese folk songs (Han), Essen collection",
              (r"essenFolksong/han\d*\.abc",)),
    DemoClass("oneills_1850", "Irish tunes, O'Neill's Music of Ireland (1903)",
              (r"oneills1850/[^/]+\.abc",)),
    DemoClass("airds_airs", "Scottish airs, Aird's Selection (1782-1797)",
              (r"airdsAirs/[^/]+\.abc",)),
)}
#: classes of the default demo
DEFAULT_CLASSES = ("bach", "palestrina", "monteverdi", "trecento", "classical_quartet",
                   "ryans_mammoth", "essen_german", "essen_chinese")
#: classes of ``--quick``
QUICK_CLASSES = ("bach", "palestrina", "ryans_mammoth", "essen_chinese")


@dataclass(frozen=True)
class DemoSettings:
    """Everything a demo build depends on; its hash names the build in the cache.

    Attributes
    ----------
    classes : tuple of str
        Class names (keys of :data:`DEMO_CLASSES`).
    per_class : int
        Excerpts per class.
    max_bars : int
        Bars kept from the start of each piece before MIDI export.
    max_seconds, min_seconds : float
        Excerpts are cut to ``max_seconds``; shorter ones than ``min_seconds`` are
        skipped.
    n_users, n_profiles : int
        Listeners of the simulated log and their taste profiles.
    seed : int
    renderer : str
        ``"tinysoundfont"`` or ``"additive"``.
    fractions : tuple of float
        Train / valid / test shares of the stratified split.
    """

    classes: tuple[str, ...]
    per_class: int
    max_bars: int
    max_seconds: float
    min_seconds: float
    n_users: int
    n_profiles: int
    seed: int
    renderer: str
    fractions: tuple[float, float, float] = (0.5, 0.25, 0.25)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the settings."""
        out = asdict(self)
        out["classes"] = list(self.classes)
        out["fractions"] = list(self.fractions)
        return out

    @property
    def digest(self) -> str:
        """SHA-1 of the settings (with the sample rate, program and render version)."""
        key = {**self.to_dict(), "sr": SAMPLE_RATE, "program": GM_PROGRAM,
               "render_version": _RENDER_VERSION}
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def piece_key(self) -> dict[str, Any]:
        """What the rendering of one piece depends on (its sidecar must match)."""
        return {"max_bars": self.max_bars, "max_seconds": self.max_seconds,
                "renderer": self.renderer, "sr": SAMPLE_RATE, "program": GM_PROGRAM,
                "render_version": _RENDER_VERSION}


@dataclass
class DemoTrack:
    """One rendered excerpt.

    Attributes
    ----------
    id : str
        Audio path relative to ``<root>/audio`` (``<class>/<piece>.wav``).
    genre : str
        The class (composer or collection).
    tags : list of str
        Derived from the score and the rendering.
    split : str
        ``train``, ``valid`` or ``test``.
    source : str
        The corpus file relative to music21's corpus root, ``#<n>`` for the n-th tune of
        an ABC collection.
    title : str
    duration : float
        Seconds of audio.
    tempo : float
        Rendered tempo (quarter notes per minute).
    beat_tempo : float
        Rendered beats per minute, the beat of the time signature (a dotted quarter in
        6/8, a half note in 2/2); the tempo tag is taken from it.
    key : str
        music21's key estimate of the excerpt, e.g. ``"g minor"``.
    time_signature : str
    n_parts : int
        Parts with notes in the excerpt.
    instruments : list of str
        Instrument families of the original score (``vocal``, ``strings``, ...).
    sha1 : str
        Of the audio file.
    """

    id: str
    genre: str
    tags: list[str]
    split: str
    source: str
    title: str
    duration: float
    tempo: float
    beat_tempo: float
    key: str
    time_signature: str
    n_parts: int
    instruments: list[str]
    sha1: str


@dataclass
class DemoDataset:
    """The demo corpus on disk (see :func:`build_demo_dataset`).

    Attributes
    ----------
    root : pathlib.Path
        The output folder.
    tracks : list of DemoTrack
    listening : list of (str, str, int)
        ``(user, track id, play count)`` rows of the simulated log.
    profiles : list of dict
        The planted taste profiles: ``name``, ``genres``, ``tags``.
    users : dict of str to str
        Profile name of each user.
    popularity : dict of str to float
        Planted popularity of each track (the most popular 1).
    settings : dict
        :meth:`DemoSettings.to_dict` of the build.
    skipped : list of dict
        Candidate pieces that failed, with the reason (``source``, ``error``).
    cached : bool
        True when the call found the finished build and rendered nothing.
    """

    root: Path
    tracks: list[DemoTrack]
    listening: list[tuple[str, str, int]]
    profiles: list[dict[str, Any]]
    users: dict[str, str]
    popularity: dict[str, float]
    settings: dict[str, Any]
    skipped: list[dict[str, str]] = field(default_factory=list)
    cached: bool = False

    @property
    def audio_dir(self) -> Path:
        """The folder of the audio files (give it to ``hdpmusic extract``)."""
        return self.root / "audio"

    @property
    def ids(self) -> list[str]:
        """Track ids, in manifest order."""
        return [t.id for t in self.tracks]

    def path(self, track_id: str) -> Path:
        """Audio file of a track id."""
        return self.audio_dir / track_id


# --------------------------------------------------------------------------- settings

def demo_settings(*, quick: bool = False, seed: int = 0,
                  classes: Sequence[str] | None = None, per_class: int | None = None,
                  renderer: str = "auto") -> DemoSettings:
    """The settings of the default (or ``quick``) demo, with optional overrides.

    Parameters
    ----------
    quick : bool
        4 classes × 10 excerpts of ≤ 10 s instead of 8 classes × 25 excerpts of ≤ 20 s.
    seed : int
    classes : sequence of str, optional
        Names from :data:`DEMO_CLASSES`.
    per_class : int, optional
        Excerpts per class.
    renderer : {"auto", "tinysoundfont", "additive"}
        ``auto``: tinysoundfont when it is installed.

    Returns
    -------
    DemoSettings

    Raises
    ------
    ParameterError
        Unknown class or renderer, fewer than 2 classes or fewer than 4 excerpts a class.
    """
    classes = tuple(classes) if classes is not None else (QUICK_CLASSES if quick
                                                          else DEFAULT_CLASSES)
    unknown = [c for c in classes if c not in DEMO_CLASSES]
    if unknown:
        raise ParameterError(f"unknown demo classes {unknown}; choose from "
                             f"{', '.join(DEMO_CLASSES)}")
    if len(set(classes)) < 2:
        raise ParameterError("the demo needs at least 2 distinct classes")
    per_class = per_class if per_class is not None else (10 if quick else 25)
    if per_class < 4:
        raise ParameterError(f"per_class={per_class}: need at least 4 excerpts a class "
                             f"(train, valid and test must each get one)")
    return DemoSettings(classes=classes, per_class=per_class,
                        max_bars=12 if quick else 24,
                        max_seconds=10.0 if quick else 20.0,
                        min_seconds=4.0 if quick else 8.0,
                        n_users=200 if quick else 300, n_profiles=3 if quick else 4,
                        seed=int(seed), renderer=_resolve_renderer(renderer))


def _resolve_renderer(renderer: str) -> str:
    if renderer not in ("auto", "tinysoundfont", "additive"):
        raise ParameterError(f"renderer {renderer!r}: choose auto, tinysoundfont or additive")
    if renderer == "auto":
        try:
            import tinysoundfont  # noqa: F401
        except ImportError:
            log.warning("tinysoundfont is not installed; rendering with the additive "
                        "synthesiser (install it: pip install --no-deps tinysoundfont)")
            return "additive"
        return "tinysoundfont"
    return renderer


# ------------------------------------------------------------------- build and load

def build_demo_dataset(out_dir: str | os.PathLike, *, quick: bool = False, seed: int = 0,
                       progress: bool = True, jobs: int = -1,
                       classes: Sequence[str] | None = None, per_class: int | None = None,
                       renderer: str = "auto") -> DemoDataset:
    """Build (or find cached) the demo corpus under ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        Output folder: ``audio/<class>/<piece>.wav``, ``midi/<class>/<piece>.{mid,json}``
        and ``demo.json``.
    quick : bool
        The small set of the test suite (4 classes × 10 excerpts of ≤ 10 s).
    seed : int
        Seeds the choice of pieces, the split and the listening log.
    progress : bool
        Show a progress bar (tqdm, stderr).
    jobs : int
        Worker processes for the rendering (``-1``: one per core).
    classes, per_class, renderer
        Overrides, see :func:`demo_settings`.

    Returns
    -------
    DemoDataset
        ``cached`` is True when the finished build was found and nothing was rendered.

    Raises
    ------
    HdpmusicError
        music21 or pretty_midi is missing, or a class has too few pieces that render.
    """
    root = Path(out_dir)
    settings = demo_settings(quick=quick, seed=seed, classes=classes, per_class=per_class,
                             renderer=renderer)
    found = _cached_dataset(root, settings)
    if found is not None:
        return found
    _require_music_packages()
    pieces, skipped = _render_all(root, settings, jobs=jobs, progress=progress)
    dataset = _assemble(root, settings, pieces, skipped)
    _write_manifest(dataset, settings)
    return dataset


def load_demo_dataset(out_dir: str | os.PathLike) -> DemoDataset:
    """Read a built demo corpus from its ``demo.json``.

    Raises
    ------
    HdpmusicError
        No ``demo.json`` in ``out_dir`` or not a demo manifest.
    """
    root = Path(out_dir)
    path = root / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise HdpmusicError(f"{path}: cannot read the demo manifest ({err}); build it with "
                            f"`hdpmusic demo --out {root}`") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HdpmusicError(f"{path}: not a demo manifest of format {FORMAT}")
    try:
        return DemoDataset(
            root=root, tracks=[DemoTrack(**t) for t in data["tracks"]],
            listening=[(str(u), str(i), int(c)) for u, i, c in data["listening"]],
            profiles=data["profiles"], users=data["users"], popularity=data["popularity"],
            settings=data["settings"], skipped=data.get("skipped", []))
    except (KeyError, TypeError, ValueError) as err:
        raise HdpmusicError(f"{path}: malformed demo manifest ({type(err).__name__}: "
                            f"{err}); delete it to rebuild") from err


def _cached_dataset(root: Path, settings: DemoSettings) -> DemoDataset | None:
    """The finished build of ``settings`` under ``root``, or None."""
    path = root / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or data.get("settings_digest") != settings.digest:
        log.info("%s was built with other settings; rebuilding", path)
        return None
    try:
        dataset = load_demo_dataset(root)
    except HdpmusicError:
        return None
    if not all(dataset.path(t.id).is_file() for t in dataset.tracks):
        log.info("%s: audio files are missing; rebuilding", root)
        return None
    dataset.cached = True
    return dataset


def _require_music_packages() -> None:
    missing = []
    for name in ("music21", "pretty_midi"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise HdpmusicError(f"the demo corpus needs {' and '.join(missing)}; install: "
                            f"{_INSTALL_HINT}")


def _write_manifest(dataset: DemoDataset, settings: DemoSettings) -> None:
    data = {"format": FORMAT, "settings_digest": settings.digest,
            "settings": settings.to_dict(), "sample_rate": SAMPLE_RATE,
            "program": GM_PROGRAM, "versions": _versions(settings.renderer),
            "classes": {c: DEMO_CLASSES[c].description for c in settings.classes},
            "tracks": [asdict(t) for t in dataset.tracks],
            "profiles": dataset.profiles, "users": dataset.users,
            "popularity": dataset.popularity,
            "listening": [list(row) for row in dataset.listening],
            "skipped": dataset.skipped}
    with atomic_path(dataset.root / MANIFEST) as tmp:
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _versions(renderer: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("music21", "pretty_midi", renderer if renderer != "additive" else ""):
        if name:
            with contextlib.suppress(PackageNotFoundError):
                out[name] = version(name)
    return out


# ------------------------------------------------------------------------ candidates

@dataclass(frozen=True)
class _Piece:
    """A candidate: a corpus file (and tune number for ABC collections)."""

    genre: str
    path: str
    number: int | None

    @property
    def source(self) -> str:
        return self.path if self.number is None else f"{self.path}#{self.number}"

    @property
    def stem(self) -> str:
        stem = re.sub(r"\.[A-Za-z0-9]+$", "", self.path)
        stem = re.sub(r"[^A-Za-z0-9.-]+", "_", stem.replace("/", "_")).strip("_.")
        return stem if self.number is None else f"{stem}_{self.number:04d}"


def _corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    from music21 import common

    return Path(str(common.getCorpusFilePath()))


def _corpus_files() -> list[str]:
    """Relative paths (``/`` separators) of every file of music21's core corpus, sorted."""
    from music21 import corpus

    root = _corpus_root()
    out = []
    for p in corpus.getCorePaths():
        with contextlib.suppress(ValueError):
            out.append(Path(str(p)).relative_to(root).as_posix())
    return sorted(set(out))


def _corpus_file(rel: str) -> Path:
    """Absolute path of a corpus file given relative to the corpus root."""
    return _corpus_root() / rel


def _tune_numbers(path: Path) -> list[int | None]:
    """The ``X:`` numbers of an ABC file (``[None]`` for a file of one tune)."""
    text = path.read_text(encoding="latin-1")
    numbers = sorted({int(n) for n in re.findall(r"^X:\s*(\d+)", text, flags=re.M)})
    return [None] if len(numbers) <= 1 else list(numbers)


def _candidates(name: str, files: Sequence[str], seed: int) -> list[_Piece]:
    """The class's candidate pieces in their seeded order."""
    spec = DEMO_CLASSES[name]
    chosen = [f for f in files
              if any(re.fullmatch(p, f) for p in spec.patterns)
              and not any(re.fullmatch(p, f) for p in spec.exclude)
              and (spec.max_bytes is None or _corpus_file(f).stat().st_size <= spec.max_bytes)]
    pieces = []
    for rel in chosen:
        numbers = _tune_numbers(_corpus_file(rel)) if rel.endswith(".abc") else [None]
        pieces.extend(_Piece(name, rel, n) for n in numbers)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return [pieces[i] for i in rng.permutation(len(pieces))]


# ------------------------------------------------------------------------- rendering

def _render_all(root: Path, settings: DemoSettings, *, jobs: int,
                progress: bool) -> tuple[dict[str, list[dict]], list[dict[str, str]]]:
    """Render pieces until every class has ``per_class`` of them (in candidate order)."""
    files = _corpus_files()
    queues = {c: _candidates(c, files, settings.seed) for c in settings.classes}
    for name, queue in queues.items():
        if len(queue) < settings.per_class:
            raise HdpmusicError(f"demo class {name}: only {len(queue)} pieces in music21's "
                                f"corpus for {settings.per_class} excerpts")
    done: dict[str, list[dict | None]] = {c: [] for c in settings.classes}
    errors: dict[str, str] = {}
    bar = _progress_bar(len(settings.classes) * settings.per_class, progress)
    with bar:
        while True:
            batch = []
            for name, results in done.items():
                need = settings.per_class - sum(r is not None for r in results)
                if need > 0:
                    start = len(results)
                    batch.extend(queues[name][start:start + need + max(1, need // 5)])
                    if start >= len(queues[name]):
                        example = next((f"{k}: {e}" for k, e in errors.items()
                                        if k.startswith(tuple(_class_dirs(name)))), "?")
                        raise HdpmusicError(
                            f"demo class {name}: only {settings.per_class - need} of its "
                            f"{len(queues[name])} pieces rendered; e.g. {example}")
            if not batch:
                break
            for piece, (record, error) in zip(batch, _map_pieces(batch, root, settings, jobs),
                                              strict=True):
                done[piece.genre].append(record)
                if record is None:
                    errors[piece.source] = error or "unknown error"
                elif sum(r is not None for r in done[piece.genre]) <= settings.per_class:
                    bar.update(1)
    pieces = {c: [r for r in rs if r is not None][:settings.per_class]
              for c, rs in done.items()}
    used = {r["source"] for rs in pieces.values() for r in rs}
    skipped = [{"source": s, "error": e} for s, e in sorted(errors.items()) if s not in used]
    _remove_unused(root, settings, pieces)
    return pieces, skipped


def _class_dirs(name: str) -> list[str]:
    """The corpus folders of a class's patterns (``bach/``, ``haydn/``, ...)."""
    return [p.split("/", 1)[0] + "/" for p in DEMO_CLASSES[name].patterns]


def _progress_bar(total: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="demo: rendering excerpts", unit="piece",
                disable=not progress)


def _map_pieces(batch: list[_Piece], root: Path, settings: DemoSettings,
                jobs: int) -> list[tuple[dict | None, str | None]]:
    n_jobs = min(_n_jobs(jobs), len(batch))
    if n_jobs == 1:
        return [_render_piece(p, root, settings) for p in batch]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_render_piece)(p, root, settings) for p in batch)


def _n_jobs(jobs: int) -> int:
    """Worker processes for ``jobs`` (``-1``: :func:`hdpmusic.runtime.threads.get_threads`)."""

    if jobs == 0 or jobs < -1:
        raise ParameterError(f"jobs={jobs}: give a positive number of processes or -1 "
                             "(one per core)")
    return n_jobs(jobs)


def _remove_unused(root: Path, settings: DemoSettings,
                   pieces: dict[str, list[dict]]) -> None:
    """Delete rendered files of pieces not in the dataset (extra renders, old builds)."""
    for name in settings.classes:
        keep = {r["stem"] for r in pieces[name]}
        for sub, suffixes in (("audio", (".wav",)), ("midi", (".mid", ".json"))):
            folder = root / sub / name
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                if f.suffix in suffixes and f.stem not in keep:
                    f.unlink()


def _render_piece(piece: _Piece, root: Path,
                  settings: DemoSettings) -> tuple[dict | None, str | None]:
    """Render one candidate (or reuse its earlier rendering); ``(record, error)``."""
    wav = root / "audio" / piece.genre / f"{piece.stem}.wav"
    sidecar = root / "midi" / piece.genre / f"{piece.stem}.json"
    key = settings.piece_key()
    with contextlib.suppress(OSError, ValueError, KeyError):
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        if record["key_settings"] == key and (record["error"] or wav.is_file()):
            return (None, record["error"]) if record["error"] else (record, None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            record = _make_excerpt(piece, root, settings)
        error = None
    except Exception as err:  # a corpus file music21 cannot handle: skip it
        record, error = None, " ".join(f"{type(err).__name__}: {err}".split())[:300]
    with atomic_path(sidecar) as tmp:
        tmp.write_text(json.dumps(record if record is not None else
                                  {"key_settings": key, "error": error}), encoding="utf-8")
    return record, error


def _make_excerpt(piece: _Piece, root: Path, settings: DemoSettings) -> dict:
    """Parse, cut, export, render and describe one piece; raises when it cannot."""
    from music21 import corpus

    score = corpus.parse(str(_corpus_file(piece.path)), number=piece.number)
    if not hasattr(score, "parts") or not score.parts:
        raise DataError("not a score with parts")
    excerpt = score.measures(1, settings.max_bars)
    _strip_repeats(excerpt)
    midi_path = root / "midi" / piece.genre / f"{piece.stem}.mid"
    _export_midi(excerpt, midi_path)
    audio, tempo = _render_midi(midi_path, settings)
    if len(audio) < settings.min_seconds * SAMPLE_RATE:
        raise DataError(f"excerpt of {len(audio) / SAMPLE_RATE:.1f} s is shorter than "
                        f"{settings.min_seconds} s")
    info = _describe(score, excerpt, tempo)
    wav = root / "audio" / piece.genre / f"{piece.stem}.wav"
    _write_wav(wav, audio)
    title = (score.metadata.title if score.metadata is not None else None) or piece.stem
    return {"key_settings": settings.piece_key(), "error": None, "stem": piece.stem,
            "genre": piece.genre, "source": piece.source, "title": str(title),
            "duration": round(len(audio) / SAMPLE_RATE, 3),
            "sha1": hashlib.sha1(wav.read_bytes()).hexdigest(), **info}


def _strip_repeats(excerpt: Any) -> None:
    """Remove repeat barlines and repeat expressions: the excerpt is the bars as written."""
    from music21 import bar, repeat, stream

    for measure in excerpt.recurse().getElementsByClass(stream.Measure):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), bar.Repeat):
                setattr(measure, side, None)
        for expr in list(measure.getElementsByClass(repeat.RepeatExpression)):
            measure.remove(expr)
        for element in list(measure.getElementsByClass(repeat.RepeatMark)):
            measure.remove(element)


def _export_midi(excerpt: Any, path: Path) -> None:
    from music21.midi.translate import music21ObjectToMidiFile

    midi_file = music21ObjectToMidiFile(excerpt)
    with atomic_path(path) as tmp:
        midi_file.open(str(tmp), "wb")
        try:
            midi_file.write()
        finally:
            midi_file.close()


def _note_events(midi_path: Path, max_seconds: float) -> tuple[list[tuple], float, float]:
    """``(time, on, channel, pitch, velocity)`` events, the end time and the tempo."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(midi_path))
    events = []
    channels = [c for c in range(16) if c != 9]
    for number, instrument in enumerate(i for i in pm.instruments if not i.is_drum):
        channel = channels[number % len(channels)]
        for note in instrument.notes:
            if note.start >= max_seconds or note.end <= note.start:
                continue
            events.append((note.start, 1, channel, note.pitch, note.velocity))
            events.append((min(note.end, max_seconds), 0, channel, note.pitch, 0))
    if not events:
        raise DataError("the excerpt has no notes")
    events.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    end = max(e[0] for e in events)
    _, tempi = pm.get_tempo_changes()
    tempo = float(tempi[0]) if len(tempi) else 120.0
    return events, end, tempo


def _render_midi(midi_path: Path, settings: DemoSettings) -> tuple[np.ndarray, float]:
    """Mono float32 audio of a MIDI file, every part on program 0; and its tempo."""
    events, end, tempo = _note_events(midi_path, settings.max_seconds)
    if settings.renderer == "tinysoundfont":
        audio = _render_tinysoundfont(events, end)
    else:
        audio = _render_additive(events, end)
    return _finish(audio, settings.max_seconds), tempo


def soundfont_path() -> Path:
    """The General MIDI soundfont shipped in the ``pretty_midi`` wheel."""
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise HdpmusicError(f"{path}: the soundfont of pretty_midi is missing; reinstall "
                            "pretty_midi")
    return path


def _render_tinysoundfont(events: list[tuple], end: float, tail: float = 1.0) -> np.ndarray:
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    sfid = synth.sfload(str(soundfont_path()))
    for channel in range(16):
        if channel != 9:
            synth.program_select(channel, sfid, 0, GM_PROGRAM)
    out = np.zeros((int((end + tail) * SAMPLE_RATE), 2), dtype=np.float32)
    position = 0
    for time, on, channel, pitch, velocity in events:
        sample = min(round(time * SAMPLE_RATE), len(out))
        if sample > position:
            block = synth.generate_simple(sample - position)
            out[position:sample] = np.frombuffer(block, dtype=np.float32).reshape(-1, 2)
            position = sample
        if on:
            synth.noteon(channel, pitch, velocity)
        else:
            synth.noteoff(channel, pitch)
    if position < len(out):
        block = synth.generate_simple(len(out) - position)
        out[position:] = np.frombuffer(block, dtype=np.float32).reshape(-1, 2)
    return out.mean(axis=1)


def _render_additive(events: list[tuple], end: float, tail: float = 1.0) -> np.ndarray:
    """A plain piano-like synthesiser: decaying harmonics, used without tinysoundfont."""
    out = np.zeros(int((end + tail) * SAMPLE_RATE), dtype=np.float64)
    starts: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for time, on, channel, pitch, velocity in events:
        if on:
            starts.setdefault((channel, pitch), []).append((time, velocity))
        elif starts.get((channel, pitch)):
            onset, vel = starts[(channel, pitch)].pop(0)
            _add_note(out, onset, time, pitch, vel)
    return out.astype(np.float32)


def _add_note(out: np.ndarray, onset: float, offset: float, pitch: int,
              velocity: int, release: float = 0.3) -> None:
    start = int(onset * SAMPLE_RATE)
    length = min(int((offset - onset + release) * SAMPLE_RATE), len(out) - start)
    if length <= 0:
        return
    t = np.arange(length) / SAMPLE_RATE
    f0 = 440.0 * 2.0 ** ((pitch - 69) / 12)
    decay = 1.5 + f0 / 300.0
    envelope = np.exp(-decay * t) * np.minimum(1.0, t / 0.005)
    held = offset - onset
    envelope *= np.where(t < held, 1.0, np.exp(-(t - held) / (release / 4)))
    wave = np.zeros(length)
    for k in range(1, 7):
        if k * f0 < SAMPLE_RATE / 2:
            wave += np.sin(2 * np.pi * k * f0 * t * (1 + 0.0004 * k * k)) / k ** 1.5
    out[start:start + length] += (velocity / 127.0) * 0.2 * envelope * wave


def _finish(audio: np.ndarray, max_seconds: float, fade: float = 0.5,
            target_rms: float = 0.1) -> np.ndarray:
    """Cut to ``max_seconds`` with a fade-out, trim trailing silence, normalise loudness."""
    limit = int(max_seconds * SAMPLE_RATE)
    if len(audio) > limit:
        audio = audio[:limit].copy()
        n = int(fade * SAMPLE_RATE)
        audio[-n:] *= np.linspace(1.0, 0.0, n, dtype=audio.dtype)
    loud = np.flatnonzero(np.abs(audio) > 1e-4)
    if not len(loud):
        raise DataError("the rendering is silent")
    audio = audio[:loud[-1] + 1]
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    gain = min(target_rms / rms, 0.95 / float(np.abs(audio).max()))
    return (audio * gain).astype(np.float32)


def _write_wav(path: Path, audio: np.ndarray) -> None:
    import soundfile

    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")


# ---------------------------------------------------------------------------- tags

_FAMILY_WORDS = (
    ("strings", ("violin", "viola", "cello", "contrabass", "double bass", "string",
                 "fiddle", "violino")),
    ("keyboard", ("piano", "organ", "harpsichord", "cembalo", "keyboard", "clavier")),
    ("winds", ("flute", "oboe", "clarinet", "bassoon", "fife", "recorder", "pipe")),
    ("brass", ("horn", "trumpet", "trombone", "tuba")),
    ("vocal", ("soprano", "alto", "tenor", "bass", "canto", "cantus", "quinto", "quintus",
               "sextus", "contratenor", "superius", "voice", "vox", "voce", "discantus",
               "triplum", "motetus", "chor")),
)
_FAMILY_CLASSES = (("vocal", "Vocalist"), ("strings", "StringInstrument"),
                   ("keyboard", "KeyboardInstrument"), ("winds", "WoodwindInstrument"),
                   ("brass", "BrassInstrument"))


def instrument_family(part_name: str | None, instrument: Any = None) -> str | None:
    """Instrument family of a part from its name, else from its music21 instrument.

    The part name comes first: MusicXML exports often attach a default piano to vocal
    or string parts.

    Parameters
    ----------
    part_name : str or None
    instrument : music21.instrument.Instrument, optional

    Returns
    -------
    str or None
        ``vocal``, ``strings``, ``keyboard``, ``winds``, ``brass`` or None (unknown).
    """
    names = [part_name or ""]
    if instrument is not None:
        names.append(getattr(instrument, "instrumentName", None) or "")
    for name in names:
        lowered = name.lower()
        for family, words in _FAMILY_WORDS:
            if any(w in lowered for w in words):
                return family
    if instrument is not None:
        mro = {c.__name__ for c in type(instrument).__mro__}
        for family, cls in _FAMILY_CLASSES:
            if cls in mro:
                return family
    return None


def meter_tags(numerator: int, denominator: int) -> list[str]:
    """Meter tags of a time signature: duple / triple (+ compound: 6, 9, 12) or irregular."""
    if numerator in (6, 9, 12):
        return ["compound meter", "triple meter" if numerator == 9 else "duple meter"]
    if numerator in (2, 4, 8):
        return ["duple meter"]
    if numerator == 3:
        return ["triple meter"]
    return ["irregular meter"]


def tempo_tag(bpm: float) -> str:
    """``slow`` (< 76 beats a minute), ``moderate`` (76–108, andante) or ``fast``."""
    return "slow" if bpm < 76 else ("moderate" if bpm <= 108 else "fast")


def ensemble_tag(n_parts: int) -> str:
    """``solo``, ``duo``, ``trio``, ``quartet`` or ``large ensemble`` (5 or more parts)."""
    return {1: "solo", 2: "duo", 3: "trio", 4: "quartet"}.get(n_parts, "large ensemble")


def _describe(score: Any, excerpt: Any, tempo: float) -> dict[str, Any]:
    """Tags and facts of an excerpt."""
    from music21 import meter

    parts = [p for p in excerpt.parts if p.recurse().notes]
    key = excerpt.analyze("key")
    mode = key.mode if key.mode in ("major", "minor") else None
    ts = excerpt.recurse().getElementsByClass(meter.TimeSignature).first()
    families = sorted({f for p in score.parts
                       if (f := instrument_family(p.partName, p.getInstrument())) is not None})
    tags = [mode] if mode else []
    if ts is not None:
        tags += meter_tags(ts.numerator, ts.denominator)
    beat_tempo = tempo / float(ts.beatDuration.quarterLength) if ts is not None else tempo
    tags += [tempo_tag(beat_tempo), ensemble_tag(len(parts)), *families]
    return {"tags": sorted(set(tags)), "tempo": round(tempo, 2),
            "beat_tempo": round(beat_tempo, 2),
            "key": f"{key.tonic.name} {key.mode}",
            "time_signature": ts.ratioString if ts is not None else "",
            "n_parts": len(parts), "instruments": families}


# ------------------------------------------------------------- split and listening log

def _assemble(root: Path, settings: DemoSettings, pieces: dict[str, list[dict]],
              skipped: list[dict[str, str]]) -> DemoDataset:
    """Tracks with their split, and the simulated listening log."""

    records = [r for c in settings.classes for r in pieces[c]]
    splits = stratified_split([r["genre"] for r in records], settings.fractions,
                              settings.seed)
    tracks = [DemoTrack(id=f"{r['genre']}/{r['stem']}.wav", genre=r["genre"], tags=r["tags"],
                        split=str(s), source=r["source"], title=r["title"],
                        duration=r["duration"], tempo=r["tempo"],
                        beat_tempo=r["beat_tempo"], key=r["key"],
                        time_signature=r["time_signature"], n_parts=r["n_parts"],
                        instruments=r["instruments"], sha1=r["sha1"])
              for r, s in zip(records, splits, strict=True)]
    profiles, users, listening, popularity = simulate_listening(
        [t.id for t in tracks], [t.genre for t in tracks], [t.tags for t in tracks],
        n_users=settings.n_users, n_profiles=settings.n_profiles, seed=settings.seed,
        mean_items=8 if settings.per_class * len(settings.classes) < 100 else 20)
    return DemoDataset(root=root, tracks=tracks, listening=listening, profiles=profiles,
                       users=users, popularity=popularity, settings=settings.to_dict(),
                       skipped=skipped)


def simulate_listening(ids: Sequence[str], genres: Sequence[str],
                       tags: Sequence[Iterable[str]], *, n_users: int, n_profiles: int,
                       seed: int, mean_items: int = 20, genre_boost: float = 2.5,
                       tag_boost: float = 1.0, popularity_exponent: float = 0.8,
                       ) -> tuple[list[dict[str, Any]], dict[str, str],
                                  list[tuple[str, str, int]], dict[str, float]]:
    """A listening log with planted taste profiles and a popularity skew.

    Each profile favours ``max(1, n_classes // 4)`` classes and one tag (among the tags
    on 10–90 % of the tracks, one on at least 30 % of the favourite classes' tracks where
    there is one). A user of profile ``p`` picks ``1 + Poisson(mean_items)``
    distinct tracks (at most half of them) with probabilities proportional to
    ``popularity · exp(genre_boost · [genre in p] + tag_boost · [tag of p])``, where the
    popularity of the track of random rank ``r`` is ``r ** -popularity_exponent``; the play
    count is ``1 + Poisson(2)``, ``1 + Poisson(4)`` for a favourite class.

    Parameters
    ----------
    ids, genres, tags : sequences of equal length
        Track ids, classes and tag lists.
    n_users, n_profiles, seed : int
    mean_items : int
        Mean number of distinct tracks a user plays.
    genre_boost, tag_boost, popularity_exponent : float

    Returns
    -------
    profiles : list of dict
        ``name``, ``genres``, ``tags`` of each profile.
    users : dict of str to str
        Profile of each user (``u000``, ``u001``, ...).
    listening : list of (user, track id, count)
    popularity : dict of str to float
        The planted popularity of each track (largest 1).
    """
    rng = np.random.default_rng([seed, 7])
    genres = np.asarray(genres, dtype=object)
    tag_sets = [set(t) for t in tags]
    classes = sorted(set(genres))
    n = len(ids)
    counts: dict[str, int] = {}
    for ts in tag_sets:
        for t in ts:
            counts[t] = counts.get(t, 0) + 1
    tag_pool = sorted(t for t, c in counts.items() if 0.1 * n <= c <= 0.9 * n) or sorted(counts)
    n_fav = max(1, len(classes) // 4)
    profiles = []
    for p in range(n_profiles):
        fav = sorted(rng.choice(classes, size=n_fav, replace=False).tolist())
        members = [tag_sets[j] for j in np.flatnonzero(np.isin(genres, fav))]
        # a taste that fits together: a tag common among the favourite classes' tracks
        fitting = [t for t in tag_pool if sum(t in m for m in members) >= 0.3 * len(members)]
        fav_tags = [str(rng.choice(fitting or tag_pool))] if tag_pool else []
        profiles.append({"name": f"profile{p}", "genres": fav, "tags": fav_tags})
    log_pop = -popularity_exponent * np.log1p(rng.permutation(n).astype(float))
    users: dict[str, str] = {}
    listening: list[tuple[str, str, int]] = []
    width = len(str(max(n_users - 1, 1)))
    for u in range(n_users):
        user = f"u{u:0{max(3, width)}d}"
        profile = profiles[int(rng.integers(n_profiles))]
        users[user] = profile["name"]
        in_genre = np.isin(genres, profile["genres"])
        has_tag = np.array([bool(ts & set(profile["tags"])) for ts in tag_sets])
        logits = log_pop + genre_boost * in_genre + tag_boost * has_tag
        k = min(1 + int(rng.poisson(mean_items)), max(1, n // 2))
        chosen = np.argsort(-(logits + rng.gumbel(size=n)), kind="stable")[:k]
        for j in sorted(chosen):
            plays = 1 + int(rng.poisson(4.0 if in_genre[j] else 2.0))
            listening.append((user, ids[j], plays))
    popularity = {i: round(float(np.exp(p)), 6) for i, p in zip(ids, log_pop, strict=True)}
    return profiles, users, listening, popularity


# ------------------------------------------------------------------------ task files

def demo_tasks(dataset: DemoDataset, ids: Sequence[str] | None = None,
               min_tag_count: int = 3) -> dict[str, Any]:
    """The three evaluation tasks of the demo as :class:`hdpmusic.formats.taskdata.TaskData`.

    Parameters
    ----------
    dataset : DemoDataset
    ids : sequence of str, optional
        Keep these tracks, in this order (e.g. the ids of the corpus file, which lacks
        tracks whose extraction failed); default all tracks.
    min_tag_count : int
        Tags on fewer tracks, or on all but fewer, are left out of the tagging task.

    Returns
    -------
    dict
        ``{"genre": ..., "tagging": ..., "recommendation": ...}``; the genre and tagging
        tasks carry the split.

    Raises
    ------
    DataError
        An id is not a track of the dataset.
    """
    import scipy.sparse as sp


    by_id = {t.id: t for t in dataset.tracks}
    ids = list(ids) if ids is not None else dataset.ids
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise DataError(f"ids not in the demo dataset {dataset.root}: {unknown[:5]}")
    tracks = [by_id[i] for i in ids]
    split = [t.split for t in tracks]
    genre = TaskData(ids=ids, targets=[t.genre for t in tracks], split=split, name="genre")
    counts: dict[str, int] = {}
    for t in tracks:
        for tag in t.tags:
            counts[tag] = counts.get(tag, 0) + 1
    tags = sorted(t for t, c in counts.items()
                  if c >= min_tag_count and len(tracks) - c >= min_tag_count)
    column = {t: k for k, t in enumerate(tags)}
    rows = [(j, column[t]) for j, tr in enumerate(tracks) for t in tr.tags if t in column]
    r, c = (np.array(x, dtype=np.int64) for x in zip(*rows, strict=True)) if rows else (
        np.zeros(0, np.int64), np.zeros(0, np.int64))
    annotations = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)),
                                shape=(len(tracks), len(tags)))
    tagging = TaskData(ids=ids, annotations=annotations, tags=tags, split=split,
                       name="tagging")
    return {"genre": genre, "tagging": tagging,
            "recommendation": _recommendation_task(dataset, ids)}


def _recommendation_task(dataset: DemoDataset, ids: list[str]) -> Any:
    import scipy.sparse as sp


    item = {i: k for k, i in enumerate(ids)}
    rows = [(u, item[i], c) for u, i, c in dataset.listening if i in item]
    userlist = sorted({u for u, _, _ in rows})
    user = {u: k for k, u in enumerate(userlist)}
    matrix = sp.csr_matrix(
        (np.array([c for _, _, c in rows], np.float32),
         (np.array([user[u] for u, _, _ in rows], np.int64),
          np.array([j for _, j, _ in rows], np.int64))),
        shape=(len(userlist), len(ids)))
    return TaskData(ids=ids, interaction=matrix, userlist=userlist, itemlist=ids,
                    name="recommendation")


def write_demo_tasks(dataset: DemoDataset, out_dir: str | os.PathLike, *,
                     corpus: str | os.PathLike | None = None,
                     overwrite: bool = False) -> dict[str, Path]:
    """Write the demo's task files ``genre.h5``, ``tagging.h5``, ``recommendation.h5``.

    Parameters
    ----------
    dataset : DemoDataset
    out_dir : path-like
        Folder of the task files.
    corpus : path-like, optional
        A feature corpus of the dataset's audio (``hdpmusic extract`` of
        ``dataset.audio_dir``). Given, each task file is a copy of it with the task
        added — a complete corpus like ``hdpmusic prepare`` writes — over the corpus's
        tracks. Without it the files hold only ``ids`` and the task groups (enough for
        ``hdpmusic evaluate --task``).
    overwrite : bool
        Replace existing task files.

    Returns
    -------
    dict of str to pathlib.Path
        Task kind → file.
    """

    out_dir = Path(out_dir)
    ids = _corpus_ids(Path(corpus)) if corpus is not None else None
    tasks = demo_tasks(dataset, ids)
    written = {}
    for kind, task in tasks.items():
        target = out_dir / f"{kind}.h5"
        with atomic_path(target, overwrite=overwrite) as tmp:
            if corpus is not None:
                shutil.copyfile(corpus, tmp)
            write_task(tmp, task)
        written[kind] = target
    return written


def _corpus_ids(path: Path) -> list[str]:
    return read_task(path).ids


def iter_audio(dataset: DemoDataset) -> Iterator[tuple[str, Path]]:
    """``(id, audio path)`` of every track, in manifest order."""
    for t in dataset.tracks:
        yield t.id, dataset.path(t.id)
