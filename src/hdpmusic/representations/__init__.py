"""Song representations by model name: the registry of every model that turns songs into
vectors (HDPGMM and the baselines), how each is loaded, and what a file records of it."""
