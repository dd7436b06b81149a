"""The record of which library versions computed a feature cache's entries."""

from __future__ import annotations

import json
import platform

import librosa
import numpy as np
import scipy
import soundfile

from hdpmusic.audio.provenance import (
    ProvenanceLog,
    differing_libraries,
    library_versions,
    mixed_libraries,
    summarise_provenance,
    versions_id,
)

OLD = {"python": "3.11.2", "librosa": "0.10.1", "numpy": "1.26.4"}
NEW = {"python": "3.12.3", "librosa": "0.11.0", "numpy": "2.4.6"}


def test_library_versions_are_those_the_libraries_report():
    versions = library_versions()
    assert versions["python"] == platform.python_version()
    assert versions["librosa"] == librosa.__version__
    assert versions["numpy"] == np.__version__
    assert versions["scipy"] == scipy.__version__
    assert versions["soundfile"] == soundfile.__version__
    assert versions["libsndfile"] == soundfile.__libsndfile_version__
    assert set(versions) >= {"hdpmusic", "soxr", "numba", "audioread"}


def test_versions_id_names_a_set_whatever_its_order():
    assert versions_id(OLD) == versions_id(dict(reversed(OLD.items())))
    assert versions_id(OLD) != versions_id(NEW)
    assert len(versions_id(OLD)) == 12


def entry(cache, name):
    path = cache / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_summary_counts_entries_per_set_the_last_record_winning(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    a, b, c, d = (entry(cache, f"{i}{i}track#key.npy") for i in "abcd")
    with ProvenanceLog(cache) as log:
        log.record(a, OLD)
        log.record(b, OLD)
        log.record(c, OLD)
    with ProvenanceLog(cache) as log:       # a second run recomputes c with NEW
        log.record(c, NEW)
    summary = summarise_provenance(cache, [a, b, c, d])
    assert summary == [{"tracks": 2, "libraries": OLD}, {"tracks": 1, "libraries": NEW},
                       {"tracks": 1, "libraries": None}]          # d: never recorded
    sets = sorted(p.name for p in (cache / "libraries").iterdir())
    assert sets == sorted(f"{versions_id(v)}.json" for v in (OLD, NEW))
    assert json.loads((cache / "libraries" / f"{versions_id(NEW)}.json").read_text()) == NEW
    # only the entries asked about are counted
    assert summarise_provenance(cache, [c]) == [{"tracks": 1, "libraries": NEW}]


def test_cut_lines_and_lost_sets_count_as_unrecorded(tmp_path):
    """A run killed in the middle of a line, or a set file deleted, leaves entries
    unrecorded rather than breaking the summary."""
    cache = tmp_path / "cache"
    cache.mkdir()
    a, b, c = (entry(cache, f"{i}{i}track#key.npy") for i in "abc")
    with ProvenanceLog(cache) as log:
        log.record(a, OLD)
        log.record(b, NEW)
    with open(cache / "provenance.tsv", "a") as fh:
        fh.write(f"cc/cctrack#key.npy\t{versions_id(OLD)[:5]}")     # killed mid-line
    (cache / "libraries" / f"{versions_id(NEW)}.json").unlink()
    assert summarise_provenance(cache, [a, b, c]) == [
        {"tracks": 2, "libraries": None}, {"tracks": 1, "libraries": OLD}]


def test_a_cache_without_a_record_counts_everything_unrecorded(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    a = entry(cache, "aatrack#key.npy")
    assert summarise_provenance(cache, [a]) == [{"tracks": 1, "libraries": None}]
    assert summarise_provenance(cache, []) == []


def test_differing_libraries_names_versions_the_reference_never_used():
    model = [{"tracks": 5, "libraries": OLD}, {"tracks": 2, "libraries": None}]
    mixed = [{"tracks": 1, "libraries": OLD}, {"tracks": 3, "libraries": NEW}]
    assert differing_libraries(model, mixed) == {
        "librosa": (["0.10.1"], ["0.10.1", "0.11.0"]),
        "numpy": (["1.26.4"], ["1.26.4", "2.4.6"]),
        "python": (["3.11.2"], ["3.11.2", "3.12.3"])}
    # versions the reference holds among others are no difference
    assert differing_libraries(mixed, [{"tracks": 4, "libraries": NEW}]) == {}
    assert differing_libraries(model, [{"tracks": 1, "libraries": {**OLD, "numpy": "2.0"}}]) \
        == {"numpy": (["1.26.4"], ["2.0"])}
    # nothing recorded on either side: nothing to say
    for unknown in (None, [], [{"tracks": 3, "libraries": None}]):
        assert differing_libraries(unknown, mixed) == {}
        assert differing_libraries(model, unknown) == {}


def test_mixed_libraries_names_those_with_several_versions_in_one_summary():
    mixed = [{"tracks": 1, "libraries": OLD}, {"tracks": 3, "libraries": NEW},
             {"tracks": 2, "libraries": None}]
    assert mixed_libraries(mixed) == ["librosa", "numpy", "python"]
    assert mixed_libraries([{"tracks": 1, "libraries": OLD},
                            {"tracks": 2, "libraries": {**OLD, "numpy": "2.0"}}]) == ["numpy"]
    assert mixed_libraries(mixed[1:]) == mixed_libraries(None) == []
