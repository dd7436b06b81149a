"""Baseline song representations: G1, VQ codebook (frames) and KIM, CLMR (audio).

Import a model from its module (``hdpmusic.baselines.kim.KIM``, ...); nothing is
imported here, so that ``import hdpmusic.baselines`` stays cheap.
"""
