"""Files on disk: the corpus, task data, representations and checkpoint formats, how a
file's kind is recognised, and the atomic writes and locks every writer uses."""
