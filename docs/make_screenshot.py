"""Screenshot of the quick demo's report, for the README: ``docs/demo-report.png``.

Usage (needs a headless Chromium, e.g. Debian's ``chromium``)::

    python docs/make_screenshot.py [--out hdpmusic-demo] [--png docs/demo-report.png]

Runs ``hdpmusic demo --quick`` (reusing what an earlier run left in ``--out``), renders
its ``report.html`` at 1200 px wide in headless Chromium, crops the blank page end,
scales it to 900 px wide and stores it as a 256-colour PNG (about 0.5 MB).
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from hdpmusic.cli import main as hdpmusic


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 6000,
               scaled_width: int = 900) -> Path:
    """Render ``html`` headless, crop the blank end, scale and quantise into ``png``."""
    chromium = next(p for p in map(shutil.which, ("chromium", "chromium-browser",
                                                  "google-chrome")) if p)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--window-size={width},{height}",
                        f"--screenshot={raw}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=300)
        img = Image.open(raw).convert("RGB")
    rows = np.flatnonzero((np.asarray(img) < 250).any(axis=(1, 2)))
    img = img.crop((0, 0, width, int(rows.max()) + 24))
    img = img.resize((scaled_width, round(img.height * scaled_width / width)),
                     Image.Resampling.LANCZOS)
    png.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    return png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="hdpmusic-demo", help="demo folder")
    parser.add_argument("--png", default=str(Path(__file__).with_name("demo-report.png")))
    args = parser.parse_args()
    if hdpmusic(["-q", "demo", "--quick", "--out", args.out, "--device", "cpu"]) != 0:
        raise SystemExit("the demo failed")
    png = screenshot(Path(args.out) / "quick" / "experiment" / "report" / "report.html",
                     Path(args.png))
    print(f"{png}: {png.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
