"""``python -m hdpmusic`` (also what ``torchrun -m hdpmusic`` runs)."""

from hdpmusic.cli import main

raise SystemExit(main())
