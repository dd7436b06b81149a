"""The report's components section and what a person sees of the report page.

A small planted collection: pure A4 tones (tagged ``tonal``) and click tracks (tagged
``percussive``), extracted, tagged and fitted by a small HDPGMM. The component that
explains the tones must name ``tonal``, play an excerpt of a tone and show a raised A in
its chroma profile; every file the page references must exist (and load in a headless
Chromium where one is installed).
"""

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import soundfile as sf

from audio_gen import clicks, tone, write
from hdpmusic.cli import main
from hdpmusic.formats.taskdata import TaskData, write_task
from hdpmusic.report import ComponentsOptions, write_report
from hdpmusic.report.components import AUDIO_SR, AUDIO_TYPES, components_section, excerpt_suffix
from page_check import browser_check, find_chromium, referenced_files

N_PER_CLASS = 4


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(model path, task corpus path, audio folder, tone song ids)."""
    from hdpmusic.audio.extract import extract_collection
    from hdpmusic.model.hdpgmm import HDPGMM

    root = tmp_path_factory.mktemp("collection")
    audio = root / "audio"
    for i in range(N_PER_CLASS):
        write(audio / f"tone_{i}.wav", tone(440.0, seconds=4.0, amp=0.2 + 0.05 * i))
        write(audio / f"clicks_{i}.wav", clicks(rate_hz=3.0 + i, seconds=4.0, seed=i))
    corpus = root / "corpus.h5"
    extract_collection(audio, corpus, jobs=1, progress=False)
    task = root / "tagging.h5"
    shutil.copyfile(corpus, task)
    from hdpmusic.formats.corpus import Corpus

    ids = Corpus.open(corpus).ids
    Y = sp.csr_matrix([[1, 0] if i.startswith("tone") else [0, 1] for i in ids])
    write_task(task, TaskData(ids, annotations=Y, tags=["tonal", "percussive"],
                              split=np.array(["train"] * len(ids)), name="tagging"))
    model = HDPGMM(n_components=4, n_song_components=2, batch_size=8, max_epochs=6,
                   local_max_iter=20, device="cpu", verbose=False, random_state=0)
    model.fit(Corpus.open(corpus))
    path = root / "model.hdp"
    model.save(path)
    return path, task, audio, [i for i in ids if i.startswith("tone")]


def _load(path):
    from hdpmusic.model.hdpgmm import HDPGMM

    return HDPGMM.load(path, device="cpu")


def test_tone_component_names_plays_and_profiles_the_tones(planted, tmp_path):
    model_path, task, _, tones = planted
    section = components_section(_load(model_path), "hdpgmm", task, tmp_path,
                                 top_components=2, top_songs=3)
    assert section.label_kind == "tags" and section.corpus == "tagging.h5"
    assert [c.rank for c in section.cards] == [1, 2]
    tonal = [c for c in section.cards if c.labels and c.labels[0][0] == "tonal"]
    assert len(tonal) == 1, [c.labels for c in section.cards]
    card = tonal[0]
    assert card.labels[0][1] > 1.5                      # lift: well above no association
    assert all(song in tones for song, _, _ in card.songs)
    assert all(lab == "tonal" for _, _, lab in card.songs)
    assert card.excerpt.split(",")[0] in tones           # the excerpt is a tone
    assert 0 < card.weight < 1 and 0 < card.share < 1
    # the excerpt: 3 s, mono, at AUDIO_SR, with the tone's pitch
    y, sr = sf.read(tmp_path / card.audio)
    assert sr == AUDIO_SR and y.ndim == 1 and abs(len(y) - 3 * AUDIO_SR) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.fft.rfftfreq(len(y), 1 / sr)[spectrum.argmax()] - 440) < 2
    # its feature profile: the A chroma raised against all frames
    assert (tmp_path / card.profile).read_bytes()[:4] == b"\x89PNG"


def test_profile_zscores_match_a_direct_computation(planted, tmp_path):
    from hdpmusic.evaluation.interpretability import scan_exemplars
    from hdpmusic.formats.corpus import Corpus

    model_path, task, _, tones = planted
    model = _load(model_path)
    corpus = Corpus.open(task)
    found = scan_exemplars(model.predict_proba, corpus, range(model.n_components),
                           np.arange(len(corpus)), width=129)
    frames, _ = corpus.read(np.arange(len(corpus)))
    a = corpus.attrs["columns"].index("log_chroma_A")
    tone_rows = np.concatenate([corpus[corpus.ids.index(t)] for t in tones])
    p = model.predict_proba(tone_rows).mean(0)
    k = int(p.argmax())                              # the component of the tone frames
    assert found.zscores()[k, a] > 0.5                # its A chroma: above all frames'
    assert found.frame_mean[a] == pytest.approx(frames[:, a].mean(), rel=1e-5)


def test_section_without_audio_says_so(planted, tmp_path):
    model_path, task, _, _ = planted
    moved = tmp_path / "task.h5"
    shutil.copyfile(task, moved)
    section = components_section(_load(model_path), "m", moved, tmp_path / "r",
                                 top_components=2, audio_root=tmp_path / "nowhere")
    assert any(note.startswith("No audio excerpts") for note in section.notes)
    assert all(c.audio is None and c.profile for c in section.cards)
    assert not [f for f in (tmp_path / "r").iterdir() if f.suffix in AUDIO_TYPES]


def test_cli_report_components_section(planted, tmp_path):
    model_path, task, _, _ = planted
    out = tmp_path / "rep"
    assert main(["-q", "report", "--models", str(model_path), "--components-corpus",
                 str(task), "--top-components", "2", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert "Components of HDPGMM “model” over tagging.h5" in page   # the file's stem
    assert page.count('<div class="card">') == 2 and page.count("<audio") == 2
    assert "tonal" in page and "percussive" in page
    assert "𝔼[β<sub>k</sub>]" in page
    files = referenced_files(page)
    audio = [f for f in files if f.endswith(excerpt_suffix())]
    assert len(audio) == 2 and f'type="{AUDIO_TYPES[excerpt_suffix()]}"' in page
    assert len([f for f in files if f.endswith(".png")]) == 3    # trace + 2 profiles
    for f in files:
        assert (out / f).is_file(), f
        assert f"({f})" in md
    # without audio: the section says why, and the page references no audio
    assert main(["-q", "report", "--models", str(model_path), "--components-corpus",
                 str(task), "--top-components", "1", "--no-audio", "--out",
                 str(tmp_path / "quiet")]) == 0
    quiet = (tmp_path / "quiet" / "report.html").read_text()
    assert "<audio" not in quiet and "not requested" in quiet


def test_components_without_a_model_is_an_error(planted, tmp_path):
    _, task, _, _ = planted
    from hdpmusic.evaluation.protocol import RunResult, write_results
    from hdpmusic.runtime.errors import DataError

    write_results([RunResult("g1", "t", 0, 0.5, "f1_macro", {})], tmp_path / "res")
    with pytest.raises(DataError, match="needs an HDPGMM"):
        write_report([tmp_path / "res"], tmp_path / "r", components=ComponentsOptions(task))


def test_referenced_files_parses_every_media_reference():
    page = ('<img src="a.png"><audio controls src="b.ogg"><source src="c.ogg"></audio>'
            '<video><source src="d.webm"></video><a href="e.html">x</a>')
    assert referenced_files(page) == ["a.png", "b.ogg", "c.ogg", "d.webm"]


@pytest.mark.skipif(find_chromium() is None,
                    reason="no headless Chromium (Debian: apt-get install chromium)")
def test_report_loads_in_a_browser(planted, tmp_path):
    model_path, task, _, _ = planted
    out = tmp_path / "rep"
    assert main(["-q", "report", "--models", str(model_path), "--components-corpus",
                 str(task), "--top-components", "2", "--out", str(out)]) == 0
    state = browser_check(out / "report.html")
    assert len(state["images"]) == 3 and len(state["audio"]) == 2
    for img in state["images"]:
        assert img["width"] > 0, img                     # decoded, not a broken icon
    for audio in state["audio"]:
        assert audio["error"] is None and audio["ready"] >= 1, audio
        assert audio["duration"] == pytest.approx(3.0, abs=0.05)
    # a missing image is caught
    Path(out / "model_training.png").unlink()
    broken = browser_check(out / "report.html")
    assert any(img["width"] == 0 for img in broken["images"])


def test_cards_list_only_enriched_labels_and_loading_songs(planted, tmp_path):
    """Asked for more labels and songs than there are: a card keeps the labels over-
    represented among its songs (lift > 1) and the songs that load on it (≥ 0.005);
    cards are ranked by the share each shows first."""
    from hdpmusic.report.page import Page, render_html, render_markdown

    model_path, task, _, _ = planted
    section = components_section(_load(model_path), "hdpgmm", task, tmp_path,
                                 top_components=4, top_labels=2, top_songs=2 * N_PER_CLASS,
                                 audio=False)
    cards = section.cards
    assert all(score > 1 for card in cards for _, score in card.labels)
    assert all(r >= 0.005 for card in cards for _, r, _ in card.songs)
    assert any(len(card.songs) < 2 * N_PER_CLASS for card in cards)
    shares = [card.share for card in cards]
    assert shares == sorted(shares, reverse=True)
    md = render_markdown(Page("t", components=[section]))
    first = cards[0]
    assert f"### 1. component {first.component} — {first.share:.1%} of the songs' " in md
    assert "ranked by their share of the songs' responsibility" in md
    # long song names and captions wrap inside the card
    css = render_html(Page("t"))
    assert ".card{" in css and "min-width:0" in css and "overflow-wrap:anywhere" in css
