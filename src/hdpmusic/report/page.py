"""The report's pages: ``report.md`` and a self-contained ``report.html``.

Both reference the figures and audio excerpts by file name, so the report folder can be
moved or zipped as a whole.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from hdpmusic.report.components import AUDIO_TYPES, ComponentCard, ComponentsSection
from hdpmusic.report.labels import hdpgmm_title
from hdpmusic.report.tables import (
    MainTable,
    paired_html,
    paired_markdown,
    table_html,
    table_markdown,
)

__all__ = ["CHANCE_GUESSES", "PAIRED_NOTE", "Figure", "Page", "chance_note", "render_html",
           "render_markdown"]

CHANCE_GUESSES = {"f1_macro": "uniform guesses for macro F1",
                  "roc_auc_macro": "random scores for ROC-AUC",
                  "ndcg": "random rankings for nDCG"}
"""The uninformed predictor behind the chance level of each metric (``ndcg@N`` reads as
``ndcg``)."""
NO_SONGS = "none above 0.005"
"""What a card says when no song loads on its component."""
TABLE_NOTE = ("Mean ± SD over runs (n = number of runs); in brackets, where the results kept "
              "their predictions, the 95 % percentile bootstrap CI of the mean over the test "
              "songs (whole groups where the task has them; users for recommendation); "
              "best mean per task in bold.")
PAIRED_NOTE = ("Paired bootstrap: both models rescored on the same 1000 resamples of the "
               "same test songs (groups, users); A − B is the difference of the means, the "
               "CI its 95 % percentile interval, and the win columns the share of "
               "resamples in which each model scores higher. A CI that holds 0 means the "
               "test set cannot tell the two apart.")

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1180px;margin:auto;padding:0 16px;
 color:#222;line-height:1.4}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child{text-align:left}
figure{margin:12px 0}img{max-width:100%}figcaption{font-size:90%;color:#555}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:0;
 overflow-wrap:anywhere}
.card h3{margin:4px 0;font-size:105%}.card ol{margin:4px 0;padding-left:22px}
.meta,.small{font-size:88%;color:#555;margin:4px 0}audio{width:100%}
"""


@dataclass
class Figure:
    """A written figure: its file name (relative to the report), caption and section."""

    file: str
    caption: str
    section: str


@dataclass
class Page:
    """Everything a report page shows, in order."""

    title: str
    intro: str = ""
    table: MainTable | None = None
    cautions: list[str] = field(default_factory=list)
    paired: list[dict[str, Any]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    components: list[ComponentsSection] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)


def chance_note(table: MainTable) -> str:
    """What the chance row means, naming only the metrics of the tasks that have one."""
    metrics = {table.metrics[task].split("@")[0] for task in table.chance}
    guesses = [text for metric, text in CHANCE_GUESSES.items() if metric in metrics]
    how = f" ({', '.join(guesses)})" if guesses else ""
    return ("Chance: the expected score of an uninformed predictor on the same test data"
            f"{how}.")


def _score(value: float, score_name: str) -> str:
    return f"×{value:.2f}" if score_name == "lift" else f"{value:+.2f}"


def _section_title(section: ComponentsSection) -> str:
    return f"Components of {hdpgmm_title(section.model)} over {section.corpus}"


def _card_heading(card: ComponentCard) -> str:
    return (f"{card.rank}. component {card.component} — {_share(card)} "
            f"(𝔼[βₖ] = {card.weight:.3g})")


def _share(card: ComponentCard) -> str:
    """The weight the cards are ranked by, as each card shows it first."""
    return f"{card.share:.1%} of the songs' responsibility"


def _components_markdown(section: ComponentsSection) -> list[str]:
    lines = [f"## {_section_title(section)}", ""]
    lines += [" ".join(section.notes), ""] if section.notes else []
    for card in section.cards:
        lines += [f"### {_card_heading(card)}", ""]
        if card.labels:
            lines.append(f"- {section.label_kind} ({section.score_name}): " + ", ".join(
                f"{t} ({_score(s, section.score_name)})" for t, s in card.labels))
        lines.append("- songs: " + ("; ".join(
            f"{song} ({r:.2f}{', ' + lab if lab else ''})" for song, r, lab in card.songs)
            or NO_SONGS))
        if card.audio:
            lines.append(f"- excerpt: [{card.excerpt}]({card.audio})")
        else:
            lines.append(f"- highest responsibility: {card.excerpt}")
        lines.append("")
        if card.profile:
            lines += [f"![feature profile of component {card.component}]({card.profile})", ""]
    return lines


def render_markdown(page: Page) -> str:
    """``report.md``."""
    lines = [f"# {page.title}", ""]
    if page.intro:
        lines += [page.intro, ""]
    if page.table is not None:
        lines += ["## Main results", "", TABLE_NOTE, "", table_markdown(page.table)]
        if page.table.chance:
            lines += ["", chance_note(page.table)]
        lines += ["", *(f"**Caution**: {text}" for text in page.cautions)]
        lines.append("")
    if page.paired:
        lines += ["## Paired differences", "", PAIRED_NOTE, "", paired_markdown(page.paired)]
    section = None
    for fig in page.figures:
        if fig.section != section:
            section = fig.section
            lines += [f"## {section}", ""]
        lines += [f"![{fig.caption}]({fig.file})", "", f"*{fig.caption}*", ""]
    for comp in page.components:
        lines += _components_markdown(comp)
    if page.provenance:
        lines += ["## Provenance", "", *(f"- {fact}" for fact in page.provenance), ""]
    return "\n".join(lines).rstrip() + "\n"


def _card_html(card: ComponentCard, section: ComponentsSection) -> str:
    esc = html.escape
    parts = ['<div class="card">',
             f"<h3>{card.rank}. Component {card.component}</h3>",
             f'<p class="meta">{esc(_share(card))} · 𝔼[β<sub>k</sub>] = '
             f"{card.weight:.3g}</p>"]
    if card.labels:
        labels = ", ".join(f"{esc(t)} <small>{esc(_score(s, section.score_name))}</small>"
                           for t, s in card.labels)
        parts.append(f"<p><b>Most enriched {esc(section.label_kind or '')}</b> "
                     f"<small>({esc(section.score_name)})</small>: {labels}</p>")
    songs = "".join(f"<li>{esc(song)} <small>{r:.2f}{' · ' + esc(lab) if lab else ''}"
                    "</small></li>" for song, r, lab in card.songs)
    parts.append("<p><b>Songs loading on it most</b> <small>(responsibility)</small></p>"
                 + (f"<ol>{songs}</ol>" if songs else f"<p>{esc(NO_SONGS)}</p>"))
    if card.profile:
        parts.append(f'<img src="{esc(card.profile)}" alt="feature profile of component '
                     f'{card.component}">')
    if card.audio:
        kind = AUDIO_TYPES[card.audio[card.audio.rfind("."):]]
        parts.append(f'<audio controls preload="metadata"><source src="{esc(card.audio)}" '
                     f'type="{kind}"></audio>')
        parts.append(f'<p class="small">Excerpt: {esc(card.excerpt)}</p>')
    else:
        parts.append(f'<p class="small">Highest responsibility: {esc(card.excerpt)}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def _components_html(section: ComponentsSection) -> list[str]:
    esc = html.escape
    parts = [f"<h2>{esc(_section_title(section))}</h2>"]
    parts += [f"<p>{esc(note)}</p>" for note in section.notes]
    parts.append('<div class="cards">')
    parts += [_card_html(card, section) for card in section.cards]
    parts.append("</div>")
    return parts


def render_html(page: Page) -> str:
    """``report.html``: one page, no scripts, files referenced by relative name."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(page.title)}</title>", f"<style>{_CSS}</style>",
             "</head><body>", f"<h1>{esc(page.title)}</h1>"]
    if page.intro:
        parts.append(f"<p>{esc(page.intro)}</p>")
    if page.table is not None:
        parts += ["<h2>Main results</h2>", f"<p>{esc(TABLE_NOTE)}</p>",
                  table_html(page.table)]
        if page.table.chance:
            parts.append(f"<p>{esc(chance_note(page.table))}</p>")
        parts += [f"<p><b>Caution</b>: {esc(text)}</p>" for text in page.cautions]
    if page.paired:
        parts += ["<h2>Paired differences</h2>", f"<p>{esc(PAIRED_NOTE)}</p>",
                  paired_html(page.paired)]
    section = None
    for fig in page.figures:
        if fig.section != section:
            section = fig.section
            parts.append(f"<h2>{esc(section)}</h2>")
        parts.append(f'<figure><img src="{esc(fig.file)}" alt="{esc(fig.caption)}">'
                     f"<figcaption>{esc(fig.caption)}</figcaption></figure>")
    for comp in page.components:
        parts += _components_html(comp)
    if page.provenance:
        parts += ["<h2>Provenance</h2>", "<ul>",
                  *(f"<li>{esc(fact)}</li>" for fact in page.provenance), "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

