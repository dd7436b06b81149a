"""The local step's iteration compiled by ``torch.compile`` (``local_kernels="compiled"``).

Eagerly, one iteration of the local step (:func:`hdpmusic.model.local.local_iteration`)
issues 67 PyTorch operations, most on small (songs × T) tensors, and the
softmax over ζ reads and writes the (songs × frames × T) logits six times. On a GPU each
operation is a kernel launch of several microseconds from Python whatever its size, and
each pass over ζ is memory traffic; ``torch.compile`` fuses the elementwise operations
and the reductions between the two batched products into a few kernels (Triton on a GPU,
C++ on a CPU): 7 calls an iteration. The first call of each kind of bucket pays the
compilation (tens of seconds), so it can pay only on long fits, and on a CPU it does not
(``docs/design.md`` §4.4); the results equal the eager iteration's to rounding (the fused
kernels sum in another order).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from hdpmusic.model.local import Iteration, local_iteration
from hdpmusic.runtime.errors import ParameterError


class CompiledIteration:
    """:func:`~hdpmusic.model.local.local_iteration` compiled for any bucket shape.

    Shapes are compiled as dynamic (buckets differ in songs and frames), so a fit
    compiles a handful of graphs, not one per bucket. A backend that cannot build the
    kernels (no C++ compiler, no Triton for the GPU) fails at the first call with a
    one-line :class:`~hdpmusic.runtime.errors.ParameterError` (the CLI prints it as such).
    """

    def __init__(self) -> None:
        self._fn = torch.compile(local_iteration, dynamic=True)

    def __call__(self, *args: Tensor, last: bool = False) -> tuple[Tensor, ...]:
        try:
            return self._fn(*args, last=last)
        except torch._dynamo.exc.BackendCompilerFailed as err:
            inner = getattr(err, "inner_exception", None) or err
            why = (str(inner).strip().splitlines() or [type(inner).__name__])[0]
            raise ParameterError(
                "local_kernels='compiled': torch.compile could not build the local step's "
                f"kernels on this machine ({why}); use local_kernels='eager' (CLI: "
                "--local-kernels eager)") from err


@functools.cache
def compiled_iteration() -> Iteration:
    """The process's one :class:`CompiledIteration` (its compiled graphs are reused by
    every fit and every bucket)."""
    return CompiledIteration()
