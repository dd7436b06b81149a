"""What a person sees of an HTML report: the files it references, and whether a browser
loads them.

``referenced_files`` parses a page with :mod:`html.parser` and lists the ``src`` of every
``<img>``, ``<audio>``, ``<video>`` and ``<source>``. ``browser_check`` opens a copy of
the page, with a small script added, in headless Chromium (``--dump-dom``) and returns
what the browser made of each image (decoded width) and audio element (ready state,
error, duration).
"""

import html
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

MEDIA_TAGS = ("img", "audio", "video", "source")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")

_PROBE = """
<script>
(async () => {
  await new Promise(r => document.readyState === "complete" ? r() :
                    window.addEventListener("load", r));
  const media = [...document.querySelectorAll("audio")];
  await Promise.all(media.map(a => a.readyState >= 1 || a.error ? null :
    new Promise(r => { a.addEventListener("loadedmetadata", r);
                       a.addEventListener("error", r, true);
                       a.querySelectorAll("source").forEach(s => s.addEventListener("error", r));
                       setTimeout(r, 8000); a.load(); })));
  const out = {
    images: [...document.images].map(i => ({src: i.getAttribute("src"),
                                            width: i.naturalWidth})),
    audio: media.map(a => ({src: a.currentSrc, ready: a.readyState,
                            error: a.error ? a.error.code : null,
                            duration: isFinite(a.duration) ? a.duration : null}))};
  const pre = document.createElement("pre");
  pre.id = "page-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


class _Media(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        src = dict(attrs).get("src")
        if tag in MEDIA_TAGS and src:
            self.sources.append(src)


def referenced_files(page: str) -> list[str]:
    """The ``src`` of every media element of an HTML page, in document order."""
    parser = _Media()
    parser.feed(page)
    return parser.sources


def find_chromium() -> str | None:
    """A Chromium (or Chrome) executable on the PATH, or None."""
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def browser_check(html_path: Path, timeout: float = 120.0) -> dict:
    """Load ``html_path`` in headless Chromium; what it made of the images and audio.

    Returns
    -------
    dict
        ``images``: ``[{"src", "width"}]`` (``width`` 0: not decoded); ``audio``:
        ``[{"src", "ready", "error", "duration"}]`` (``ready`` ≥ 1: metadata loaded).
    """
    html_path = Path(html_path)
    probe = html_path.with_name(".page-check.html")       # beside it: same relative paths
    probe.write_text(html_path.read_text(encoding="utf-8").replace(
        "</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        done = subprocess.run(
            [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--allow-file-access-from-files", "--virtual-time-budget=15000",
             "--dump-dom", probe.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        probe.unlink()
    start = done.stdout.find('<pre id="page-check">')
    if start < 0:
        raise AssertionError(f"the page did not report (rc {done.returncode}): "
                             f"{done.stderr[-2000:]}")
    text = done.stdout[start:].split(">", 1)[1].split("</pre>", 1)[0]
    return json.loads(html.unescape(text))
