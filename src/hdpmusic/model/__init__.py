"""The HDPGMM: estimator (:mod:`.hdpgmm`), pure math (:mod:`.expectations`), the
song-level step (:mod:`.local`) and the global statistics and update (:mod:`.sufficient`)."""
