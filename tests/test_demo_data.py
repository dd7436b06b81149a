"""The demo corpus builder: music21 pieces rendered offline, tags, split, listening log."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("music21")
pytest.importorskip("pretty_midi")

import soundfile

from hdpmusic.datasets import demo_collection as demo_data
from hdpmusic.datasets.demo_collection import (
    QUICK_CLASSES,
    SAMPLE_RATE,
    build_demo_dataset,
    demo_settings,
    demo_tasks,
    ensemble_tag,
    instrument_family,
    load_demo_dataset,
    meter_tags,
    simulate_listening,
    tempo_tag,
    write_demo_tasks,
)
from hdpmusic.formats.taskdata import read_task
from hdpmusic.runtime.errors import HdpmusicError, ParameterError

SMALL = {"classes": ("bach", "ryans_mammoth"), "per_class": 4, "quick": True}


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory):
    """The ``--quick`` demo set, rendered once per test session."""
    root = tmp_path_factory.mktemp("demo") / "quick"
    dataset = build_demo_dataset(root, quick=True, seed=0, progress=False, jobs=2)
    return dataset, _mtimes(root)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A tiny set (2 classes x 4) for the determinism and resume tests."""
    root = tmp_path_factory.mktemp("demo") / "small"
    return build_demo_dataset(root, seed=3, progress=False, jobs=1, **SMALL)


def test_quick_set_is_balanced_over_the_quick_classes(quick_demo):
    dataset, _ = quick_demo
    assert not dataset.cached
    counts = Counter(t.genre for t in dataset.tracks)
    assert set(counts) == set(QUICK_CLASSES)
    assert set(counts.values()) == {10}
    assert len(set(dataset.ids)) == len(dataset.ids) == 40
    assert len({t.source for t in dataset.tracks}) == 40
    for t in dataset.tracks:
        assert t.id == f"{t.genre}/{Path(t.id).name}"


def test_every_audio_file_is_readable_mono_22k_and_not_silent(quick_demo):
    dataset, _ = quick_demo
    settings = dataset.settings
    for t in dataset.tracks:
        path = dataset.path(t.id)
        assert hashlib.sha1(path.read_bytes()).hexdigest() == t.sha1
        audio, sr = soundfile.read(path, dtype="float32")
        assert sr == SAMPLE_RATE
        assert audio.ndim == 1
        assert settings["min_seconds"] <= len(audio) / sr <= settings["max_seconds"] + 1e-3
        assert abs(len(audio) / sr - t.duration) < 1e-2
        assert np.sqrt(np.mean(audio ** 2)) > 0.03
        # sound throughout, not a click then silence
        quarters = np.array_split(audio, 4)
        assert all(np.abs(q).max() > 0.01 for q in quarters[:3])


def test_tags_are_derived_from_score_and_rendering(quick_demo):
    dataset, _ = quick_demo
    tags = Counter(tag for t in dataset.tracks for tag in t.tags)
    assert tags["major"] > 0 and tags["minor"] > 0
    assert len({t.time_signature for t in dataset.tracks}) >= 2
    assert sum(tags[m] for m in ("duple meter", "triple meter", "compound meter")) >= 40
    for t in dataset.tracks:
        assert t.key.split()[-1] in t.tags
        assert ensemble_tag(t.n_parts) in t.tags
        assert tempo_tag(t.beat_tempo) in t.tags
        num, den = (int(x) for x in t.time_signature.split("/"))
        assert set(meter_tags(num, den)) <= set(t.tags)
        assert set(t.instruments) <= set(t.tags)
    by_genre = {g: [t for t in dataset.tracks if t.genre == g] for g in QUICK_CLASSES}
    assert all(t.n_parts == 4 and "vocal" in t.tags for t in by_genre["bach"])
    assert all(t.n_parts == 1 and "solo" in t.tags for t in by_genre["ryans_mammoth"])


def test_split_is_stratified(quick_demo):
    dataset, _ = quick_demo
    per_class = Counter((t.genre, t.split) for t in dataset.tracks)
    for genre in QUICK_CLASSES:
        parts = [per_class[(genre, s)] for s in ("train", "valid", "test")]
        assert sum(parts) == 10 and min(parts) >= 2 and parts[0] == 5


def test_listening_log_has_planted_taste(quick_demo):
    dataset, _ = quick_demo
    genre = {t.id: t.genre for t in dataset.tracks}
    n_classes = len(QUICK_CLASSES)
    assert len(dataset.users) == dataset.settings["n_users"]
    assert {u for u, _, _ in dataset.listening} <= set(dataset.users)
    for profile in dataset.profiles:
        members = {u for u, p in dataset.users.items() if p == profile["name"]}
        rows = [(i, c) for u, i, c in dataset.listening if u in members]
        if not rows:
            continue
        share = np.mean([genre[i] in profile["genres"] for i, _ in rows])
        chance = len(profile["genres"]) / n_classes
        assert share > 2 * chance, (profile, share)
    # popularity skew: tracks planted as popular have more listeners
    listeners = Counter(i for _, i, _ in dataset.listening)
    pop = np.log([dataset.popularity[i] for i in dataset.ids])
    assert np.corrcoef(pop, [listeners[i] for i in dataset.ids])[0, 1] > 0.3


def test_simulated_listening_without_taste_is_near_chance():
    ids = [f"t{j}" for j in range(80)]
    genres = [f"g{j % 4}" for j in range(80)]
    tags = [["a"] if j % 2 else ["b"] for j in range(80)]
    profiles, users, log, _ = simulate_listening(ids, genres, tags, n_users=200, n_profiles=2,
                                              seed=1, genre_boost=0.0, tag_boost=0.0)
    fav = {p["name"]: p["genres"] for p in profiles}
    genre = dict(zip(ids, genres, strict=True))
    share = np.mean([genre[i] in fav[users[u]] for u, i, _ in log])
    assert 0.15 < share < 0.35  # 1 of 4 classes: the test above can tell the difference
    _, _, again, _ = simulate_listening(ids, genres, tags, n_users=200, n_profiles=2, seed=1,
                                     genre_boost=0.0, tag_boost=0.0)
    assert again == log


def test_second_call_is_a_cache_hit_that_renders_nothing(quick_demo, monkeypatch):
    dataset, mtimes = quick_demo

    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(demo_data, "_render_all", fail)
    again = build_demo_dataset(dataset.root, quick=True, seed=0, progress=False)
    assert again.cached
    assert again.ids == dataset.ids
    assert _mtimes(dataset.root) == mtimes


def test_other_settings_are_not_taken_from_the_cache(small_demo, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("rendered")

    monkeypatch.setattr(demo_data, "_render_all", fail)
    with pytest.raises(AssertionError, match="rendered"):
        build_demo_dataset(small_demo.root, seed=4, progress=False, **SMALL)


def test_same_seed_gives_the_same_manifest_and_audio(small_demo, tmp_path):
    other = build_demo_dataset(tmp_path / "again", seed=3, progress=False, jobs=2, **SMALL)
    assert not other.cached
    first = (small_demo.root / "demo.json").read_bytes()
    assert (other.root / "demo.json").read_bytes() == first
    assert json.loads(first)["tracks"][0]["sha1"]  # the manifest pins the audio too


def test_another_seed_draws_other_pieces(small_demo, tmp_path):
    other = build_demo_dataset(tmp_path / "seed4", seed=4, progress=False, jobs=2, **SMALL)
    assert {t.source for t in other.tracks} != {t.source for t in small_demo.tracks}


def test_interrupted_build_resumes_and_renders_only_what_is_missing(small_demo, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(small_demo.root, root)
    manifest = (root / "demo.json").read_bytes()
    (root / "demo.json").unlink()
    lost = small_demo.tracks[2].id
    (root / "audio" / lost).unlink()
    before = _mtimes(root)
    again = build_demo_dataset(root, seed=3, progress=False, jobs=1, **SMALL)
    assert not again.cached
    assert (root / "demo.json").read_bytes() == manifest
    after = _mtimes(root)
    changed = {k for k in after if before.get(k) != after[k]}
    stem = f"midi/{lost[:-len('.wav')]}"
    assert changed == {"demo.json", f"audio/{lost}", f"{stem}.mid", f"{stem}.json"}, changed


def test_load_demo_dataset_round_trip(small_demo):
    loaded = load_demo_dataset(small_demo.root)
    assert loaded.tracks == small_demo.tracks
    assert loaded.listening == small_demo.listening
    assert loaded.profiles == small_demo.profiles
    with pytest.raises(HdpmusicError, match="demo manifest"):
        load_demo_dataset(small_demo.root / "audio")


def test_tasks_from_the_quick_set(quick_demo, tmp_path):
    dataset, _ = quick_demo
    tasks = demo_tasks(dataset)
    genre, tagging, rec = tasks["genre"], tasks["tagging"], tasks["recommendation"]
    assert genre.task_kind == "genre" and tagging.task_kind == "tagging"
    assert rec.task_kind == "recommendation"
    assert list(genre.targets) == [t.genre for t in dataset.tracks]
    assert list(tagging.split) == [t.split for t in dataset.tracks]
    positives = np.asarray(tagging.annotations.sum(axis=0)).ravel()
    assert len(tagging.tags) >= 4
    assert (positives >= 3).all() and (positives <= 40 - 3).all()
    assert rec.interaction.shape == (len(rec.userlist), 40)
    assert rec.interaction.nnz == len(dataset.listening)

    written = write_demo_tasks(dataset, tmp_path / "tasks")
    for kind, path in written.items():
        back = read_task(path)
        assert back.ids == dataset.ids
        assert back.task_kind == kind
    assert (read_task(written["tagging"]).annotations != tagging.annotations).nnz == 0
    with pytest.raises(HdpmusicError, match="exists"):
        write_demo_tasks(dataset, tmp_path / "tasks")


def test_tasks_over_the_tracks_of_a_corpus_file(quick_demo, tmp_path):
    import h5py

    dataset, _ = quick_demo
    kept = dataset.ids[::2]
    corpus = tmp_path / "corpus.h5"
    with h5py.File(corpus, "w") as f:
        f.create_dataset("ids", data=np.array(kept, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("data", data=np.zeros((3, 2), np.float32))
    written = write_demo_tasks(dataset, tmp_path / "tasks", corpus=corpus)
    rec = read_task(written["recommendation"])
    assert rec.ids == kept and rec.itemlist == kept
    with h5py.File(written["genre"], "r") as f:
        assert f["data"].shape == (3, 2)  # the corpus was copied, task added
    with pytest.raises(HdpmusicError, match="not in the demo"):
        demo_tasks(dataset, ["nope.wav"])


def test_additive_renderer_sounds_without_tinysoundfont(quick_demo):
    dataset, _ = quick_demo
    midi = next((dataset.root / "midi" / "bach").glob("*.mid"))
    settings = demo_settings(quick=True, renderer="additive")
    audio, tempo = demo_data._render_midi(midi, settings)
    assert audio.dtype == np.float32 and tempo > 0
    assert 4 * SAMPLE_RATE < len(audio) <= 10 * SAMPLE_RATE
    assert np.sqrt(np.mean(audio ** 2)) > 0.05


def test_tag_rules():
    assert meter_tags(4, 4) == ["duple meter"]
    assert meter_tags(3, 4) == ["triple meter"]
    assert meter_tags(6, 8) == ["compound meter", "duple meter"]
    assert meter_tags(9, 8) == ["compound meter", "triple meter"]
    assert meter_tags(5, 4) == ["irregular meter"]
    assert [tempo_tag(q) for q in (60, 96, 120)] == ["slow", "moderate", "fast"]
    assert [ensemble_tag(n) for n in (1, 4, 6)] == ["solo", "quartet", "large ensemble"]
    assert instrument_family("Violoncello") == "strings"
    assert instrument_family("Basso") == "vocal"
    assert instrument_family("Contrabass") == "strings"
    assert instrument_family("Instrument 1") is None
    from music21 import instrument

    # the part name wins over a default piano attached by the exporter
    assert instrument_family("Canto", instrument.Piano()) == "vocal"
    assert instrument_family(None, instrument.Violin()) == "strings"


def test_bad_settings_are_refused():
    with pytest.raises(ParameterError, match="unknown demo classes"):
        demo_settings(classes=["bach", "jazz"])
    with pytest.raises(ParameterError, match="at least 4"):
        demo_settings(per_class=2)
    with pytest.raises(ParameterError, match="renderer"):
        demo_settings(renderer="fluidsynth")
    default, quick = demo_settings(), demo_settings(quick=True)
    assert len(default.classes) == 8 and default.per_class == 25
    assert len(quick.classes) == 4 and quick.per_class == 10
    assert default.digest != quick.digest


def test_a_class_whose_pieces_all_fail_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_data, "_render_piece",
                        lambda piece, root, settings: (None, "boom"))
    with pytest.raises(HdpmusicError, match=r"demo class \w+: only 0 of its \d+ pieces.*boom"):
        build_demo_dataset(tmp_path, classes=("trecento", "monteverdi"), per_class=4,
                           progress=False, jobs=1)
    assert not (tmp_path / "demo.json").exists()
