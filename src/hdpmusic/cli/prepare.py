"""``hdpmusic prepare``: a dataset in its published layout → a task corpus file."""

from __future__ import annotations

import argparse

from hdpmusic.cli._options import add_jobs, add_recompute
from hdpmusic.cli._types import WholeNumber, positive_int, seed
from hdpmusic.runtime.errors import ParameterError


def _common(p: argparse.ArgumentParser, *, root_help: str | None = None,
            split: bool = True, out_help: str | None = None) -> None:
    """The options of every dataset; ``root_help`` / ``out_help``: the help of an optional
    ``--root`` / ``--out`` (saying what leaving it out does), None: required."""
    p.add_argument("--root", required=root_help is None, metavar="DIR",
                   help=root_help or "the dataset folder in its published layout")
    if split:
        p.add_argument("--split", default=None, metavar="FILE",
                       help="the split file (see the format above; default: a substitute "
                            "split, not comparable with the paper)")
    p.add_argument("--out", required=out_help is None, metavar="TASK.h5",
                   help=out_help or "corpus file to write (frames + task data)")
    add_jobs(p)
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="feature cache folder (default: OUT.cache beside OUT)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_recompute(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare", help="dataset folder -> corpus file with its task data",
        description="Read GTZAN, MagnaTagATune, the Echo Nest Taste Profile or MSD audio "
                    "from its published layout, or your own collection (a folder of label "
                    "folders or a label table), extract the features of every track and "
                    "store them with the task data (genres, tags, interactions, split) in "
                    "one corpus file for `hdpmusic fit` / `transform` / `evaluate`. Tracks "
                    "that fail extraction are reported and left out of the task data.")
    datasets = p.add_subparsers(dest="dataset", metavar="DATASET", required=True)

    g = datasets.add_parser(
        "gtzan", help="GTZAN genres (targets + split)",
        description="ROOT holds genres/<genre>/<genre>.000NN.{au,wav} (or the genre "
                    "folders). --split: header-less TSV of 'path<TAB>split' lines (split in "
                    "train/valid/test; other names keep a track out of the evaluation), "
                    "listing every track - the fault-filtered artist split of Kereliuk & "
                    "Sturm used by the paper - or a folder with train/valid/test_filtered.txt. "
                    "Without --split: a stratified random split (--seed).")
    _common(g)
    g.add_argument("--seed", type=seed, default=0, help="seed of the random split")
    g.set_defaults(func=run_gtzan)

    f = datasets.add_parser(
        "folder", help="your own collection: one sub-folder per label (genre task)",
        description="ROOT holds one sub-folder per label with audio files in any format "
                    "`hdpmusic extract` reads (at any depth below it); song ids are the "
                    "paths relative to ROOT. A split stratified by label is drawn (--seed).")
    _common(f, split=False)
    f.add_argument("--seed", type=seed, default=0, help="seed of the split")
    f.set_defaults(func=run_folder)

    t = datasets.add_parser(
        "table", help="your own collection: a CSV of path,label|tags[,split,group,id]",
        description="--labels: a CSV (',', tab or ';') with a header row: 'path' "
                    "(relative to the table's "
                    "folder or --root), 'label' (one class: genre task) and/or 'tags' "
                    "(';'-separated: tagging task), optional 'split' (train/valid/test), "
                    "'group' (artist, album: a group never straddles splits), 'id'. "
                    "Without a split column a split stratified by label that keeps each "
                    "group in one part is drawn (--seed). --interactions: 'user,item,"
                    "count' lines (item = a song id) add a recommendation task.")
    _common(t, root_help="folder the table's paths are relative to (default: the "
                         "table's folder)", split=False)
    t.add_argument("--labels", required=True, metavar="CSV", help="the label table")
    t.add_argument("--interactions", default=None, metavar="CSV",
                   help="user,item,count lines for a recommendation task (default: no "
                        "recommendation task)")
    t.add_argument("--seed", type=seed, default=0, help="seed of the split")
    t.set_defaults(func=run_table)

    m = datasets.add_parser(
        "mtat", help="MagnaTagATune tags (annotations + split)",
        description="ROOT holds annotations_final.csv and the mp3 tree (its mp3_path "
                    "column, relative to ROOT or ROOT/mp3). --split: 'clip_id,split' (or "
                    "TAB) lines, the split of Lee & Nam used by the paper; clips not in it "
                    "are dropped. Without --split: the folder split (0-b/c/d-f).")
    _common(m)
    m.add_argument("--annotations", default=None, metavar="CSV",
                   help="default ROOT/annotations_final.csv")
    m.add_argument("--audio-root", default=None, metavar="DIR",
                   help="folder the mp3_path column is relative to (default: ROOT, or "
                        "ROOT/mp3 where the paths are)")
    m.add_argument("--tags", default="top50",
                   help="top50 (the published list), frequency (the --n-tags most "
                        "frequent), all, or a comma-separated list of tag names")
    m.add_argument("--n-tags", type=positive_int, default=50, help="with --tags frequency")
    m.add_argument("--drop-untagged", action="store_true",
                   help="also drop clips with none of the selected tags")
    m.set_defaults(func=run_mtat)

    e = datasets.add_parser(
        "echonest", help="Echo Nest Taste Profile interactions",
        description="ROOT: the tracks' audio in the MSD layout (or a 'path<TAB>track_id' "
                    "list file). Songs are filtered as in Liang et al. (songs with >= "
                    "--min-song-users users, then users with >= --min-user-songs songs), "
                    "mapped to tracks, and songs without audio are dropped.")
    _common(e, split=False)
    e.add_argument("--triplets", default=None, metavar="FILE",
                   help="user<TAB>song<TAB>count lines (default ROOT/train_triplets.txt)")
    e.add_argument("--track-map", default=None, metavar="FILE",
                   help="MSD unique_tracks.txt or song<TAB>track lines "
                        "(default ROOT/unique_tracks.txt)")
    e.add_argument("--min-user-songs", type=positive_int, default=20,
                   help="keep users with at least this many songs")
    e.add_argument("--min-song-users", type=positive_int, default=200,
                   help="keep songs with at least this many users")
    e.add_argument("--filter-rounds", default=1,
                   type=WholeNumber(1, special={0: "to a fixed point"}),
                   help="rounds of the filter (1 as in Liang et al.; 0: to a fixed point)")
    e.add_argument("--layout", default=None, metavar="PATTERN",
                   help="audio path of a track under ROOT (default "
                        "'{id[2]}/{id[3]}/{id[4]}/{id}.mp3')")
    e.set_defaults(func=run_echonest)

    s = datasets.add_parser(
        "msd", help="MSD training corpus (and random subsets)",
        description="ROOT: the audio in the MSD layout. --list: one MSD track id or audio "
                    "path[<TAB>id] per line (default: every audio file under ROOT, id = "
                    "stem). --subsets 2000x5,20000x5 also writes the paper's random subsets "
                    "(SIZExCOUNT: 5 of 2000 songs, 5 of 20000) as "
                    "OUT-stem_subset<SIZE>_<i>.h5.")
    _common(s, root_help="the audio in the MSD layout (default: none; --list then names "
                         "the audio files)", split=False,
            out_help="corpus file to write (default: none; with --write-list, only list "
                     "the tracks)")
    s.add_argument("--list", default=None, metavar="FILE",
                   help="track ids or audio paths (default: every audio file under ROOT)")
    s.add_argument("--layout", default=None, metavar="PATTERN",
                   help="audio path of a track id under ROOT (default "
                        "'{id[2]}/{id[3]}/{id[4]}/{id}.mp3')")
    s.add_argument("--subsample", type=positive_int, default=None, metavar="N",
                   help="keep a random subset of N tracks (default: keep all)")
    s.add_argument("--seed", type=seed, default=0, help="seed of --subsample")
    s.add_argument("--subsets", default=None, metavar="SIZExCOUNT,...",
                   help="also write random subsets of the corpus, SIZExCOUNT (as "
                        "`experiment sweep`), e.g. 2000x5,20000x5 (default: none)")
    s.add_argument("--subset-seed", type=seed, default=2022,
                   help="seed of the random subsets, the study's")
    s.add_argument("--write-list", default=None, metavar="FILE",
                   help="write the resolved 'path<TAB>id' list for `hdpmusic extract` "
                        "(default: no list); without --out, stop there")
    s.set_defaults(func=run_msd)


def _options(args: argparse.Namespace) -> dict:
    return {"jobs": args.jobs, "cache": args.cache, "overwrite": args.overwrite,
            "recompute": args.recompute, "progress": not args.quiet}


def _done(path) -> int:
    from hdpmusic.datasets.base import describe_task

    print(f"{path}: {describe_task(path)}")
    return 0


def run_gtzan(args: argparse.Namespace) -> int:
    from hdpmusic.datasets.gtzan import prepare_gtzan

    return _done(prepare_gtzan(args.root, args.out, split=args.split, seed=args.seed,
                               **_options(args)))


def run_folder(args: argparse.Namespace) -> int:
    from hdpmusic.datasets.own import prepare_folder

    return _done(prepare_folder(args.root, args.out, seed=args.seed, **_options(args)))


def run_table(args: argparse.Namespace) -> int:
    from hdpmusic.datasets.own import prepare_table

    return _done(prepare_table(args.labels, args.out, audio_root=args.root,
                               interactions=args.interactions, seed=args.seed,
                               **_options(args)))


def run_mtat(args: argparse.Namespace) -> int:
    from hdpmusic.datasets.mtat import prepare_mtat

    tags = args.tags
    if tags not in ("top50", "frequency", "all"):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    return _done(prepare_mtat(args.root, args.out, split=args.split,
                              annotations=args.annotations, audio_root=args.audio_root,
                              tags=tags, n_tags=args.n_tags,
                              drop_untagged=args.drop_untagged, **_options(args)))


def run_echonest(args: argparse.Namespace) -> int:
    from hdpmusic.datasets.echonest import prepare_echonest
    from hdpmusic.datasets.msd import MSD_LAYOUT

    return _done(prepare_echonest(args.root, args.out, triplets=args.triplets,
                                  track_map=args.track_map,
                                  layout=args.layout or MSD_LAYOUT,
                                  min_user_songs=args.min_user_songs,
                                  min_song_users=args.min_song_users,
                                  filter_rounds=args.filter_rounds, **_options(args)))


def run_msd(args: argparse.Namespace) -> int:
    from hdpmusic.datasets.base import write_list_file
    from hdpmusic.datasets.msd import MSD_LAYOUT, collect_msd_tracks, parse_subsets, prepare_msd

    layout = args.layout or MSD_LAYOUT
    subsets = parse_subsets(args.subsets) if args.subsets else []
    if args.out is None:
        if args.write_list is None:
            raise ParameterError("give --out TASK.h5 (or --write-list FILE to only list "
                                 "the tracks)")
        if subsets:
            raise ParameterError("--subsets needs --out")
        tracks = collect_msd_tracks(args.root, args.list, layout=layout,
                                    subsample=args.subsample, seed=args.seed)
        write_list_file(tracks, args.write_list)
        print(f"{args.write_list}: {len(tracks)} tracks (extract them with "
              f"`hdpmusic extract {args.write_list} --out CORPUS.h5`)")
        return 0
    out = prepare_msd(args.root, args.out, track_list=args.list, layout=layout,
                      subsample=args.subsample, seed=args.seed, subsets=subsets,
                      subset_seed=args.subset_seed, list_out=args.write_list,
                      **_options(args))
    from hdpmusic.datasets.msd import subset_paths

    print(f"{out}: {_corpus_size(out)} songs")
    for path in subset_paths(out, subsets):
        print(f"{path}: {_corpus_size(path)} songs")
    return 0


def _corpus_size(path) -> int:
    from hdpmusic.formats.corpus import Corpus

    return len(Corpus.open(path))
