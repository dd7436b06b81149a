"""The ground floor: errors, devices, thread and worker pools, progress bars.

Nothing here knows music or files; every other package may import it.
"""
