"""Dataset loaders: the study's datasets, read from their published layouts.

Each loader turns a user-given dataset folder into one corpus file holding the frames
(``hdpmusic extract``) and the task annotations (:mod:`hdpmusic.formats.taskdata`):

* :func:`prepare_gtzan` — genre ``targets`` and ``split`` (GTZAN);
* :func:`prepare_mtat` — top-50 tag ``annotations`` and ``split`` (MagnaTagATune);
* :func:`prepare_echonest` — user × item ``interaction`` play counts (Echo Nest Taste
  Profile, filtered as in Liang et al.);
* :func:`prepare_msd` — the training corpus (frames only) and its random subsets;
* :func:`prepare_folder`, :func:`prepare_table` — a user's own collection (label
  folders, or a table of paths, labels, tags, splits, groups; interactions).

All share :func:`hdpmusic.datasets.base.prepare_corpus`: list the audio files with ids,
extract, build the task data of the songs whose extraction succeeded (failed songs are
dropped consistently and reported), write everything, then move the file into place.
The split files of the study are not shipped (their licences are unclear); each module's
docstring says which file to supply and its format. The command is ``hdpmusic prepare``.
"""

from hdpmusic.datasets.echonest import frequency_filter, prepare_echonest
from hdpmusic.datasets.gtzan import prepare_gtzan
from hdpmusic.datasets.msd import make_subsets, prepare_msd
from hdpmusic.datasets.mtat import MTAT_TOP50, prepare_mtat
from hdpmusic.datasets.own import prepare_folder, prepare_table
from hdpmusic.datasets.splits import group_split, stratified_split

__all__ = [
    "MTAT_TOP50",
    "frequency_filter",
    "group_split",
    "make_subsets",
    "prepare_echonest",
    "prepare_folder",
    "prepare_gtzan",
    "prepare_msd",
    "prepare_mtat",
    "prepare_table",
    "stratified_split",
]
