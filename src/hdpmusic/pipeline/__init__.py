"""The stages a user runs, one implementation each: fit, transform, embed, experiment
and the demo. The command line and the HEAR module call these."""
