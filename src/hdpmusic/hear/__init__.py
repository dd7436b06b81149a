"""The HEAR 2021 API (``load_model``, ``get_scene_embeddings``,
``get_timestamp_embeddings``) for every hdpmusic model: see :mod:`hdpmusic.hear.api`."""

from hdpmusic.hear.api import HearModel, get_scene_embeddings, get_timestamp_embeddings, load_model

__all__ = ["HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]
