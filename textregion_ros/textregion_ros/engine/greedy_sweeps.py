"""The greedy "earliest wins" rule as a fixed point, resolved by bounded vectorised sweeps.

Both greedy box NMS (nms.py) and nested-mask fusion (mask_fusion.py) ask the same question: in a
given order, which items survive if an item is dropped as soon as an earlier *surviving* item
blocks it? With B[a, b] = "b comes before a and blocks it" (a [M,M] 0/1 matrix) and `valid` the
items taking part, the survivors are the unique fixed point of keep = valid & !(B keep) (unique by
induction in the order). The sweep keep <- valid & !(B keep), started from `valid`, reaches it
after at most (longest chain of blocks + 1) sweeps. Sweeps run in blocks on the device; whether a
block converged is a device flag, so the caller reads it together with whatever else it copies to
the host (one sync) and runs another block only in the rare scene that needs it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Sweeps per block: enough for every scene the tests and benchmarks build (chains of blocks longer
# than this are rare; they cost one more block, i.e. one more host check).
SWEEPS_PER_BLOCK = 8


@dataclass
class Suppression:
    """The state of one greedy resolution: call `sweep()` until `converged` (a device bool) reads True."""

    blockers: torch.Tensor  # [M,M] float: 1 where column b comes before row a and blocks it
    valid: torch.Tensor  # [M] bool items taking part
    keep: torch.Tensor  # [M] bool, the current iterate (the answer once converged)
    converged: torch.Tensor  # 0-dim bool: the last sweep left `keep` unchanged

    def sweep(self, count: int = SWEEPS_PER_BLOCK) -> "Suppression":
        """`count` more sweeps, on the device; `converged` compares the last two."""
        keep, previous = self.keep, self.keep
        for _ in range(count):
            previous, keep = keep, self.valid & ((self.blockers @ keep.float()) == 0)
        self.keep, self.converged = keep, torch.eq(keep, previous).all()
        return self


def start_sweeps(blockers: torch.Tensor, valid: torch.Tensor) -> Suppression:
    """A resolution of `blockers` ([M,M] bool or 0/1) over the `valid` items, one block of sweeps run."""
    done = torch.ones((), dtype=torch.bool, device=valid.device)
    return Suppression(blockers.float(), valid, valid.clone(), done).sweep()
