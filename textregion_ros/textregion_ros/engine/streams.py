"""Two CUDA streams for the two halves of a frame that only share the rescaled image.

SAM2 (encoder, decoder, filters, fusion) and the image-text encoder both read only the frame's
rescaled image, so on CUDA each runs on a side stream of its own and their kernels may overlap;
pooling, which needs both, runs on the caller's stream after `join`. The image-text branch is
queued first: it has no host syncs, so its kernels are all queued before SAM2's filters make the
host wait. Off on the CPU (every branch runs inline on the caller's thread, in order).

Memory safety with the caching allocator: a side stream first waits for the caller's stream (so
the frame is uploaded), the frame's image is marked as used by each side stream (record_stream),
and the caller's stream waits for both side streams before it reads their outputs.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

BRANCHES = ("sam2", "encoder")


class FrameStreams:
    """Side streams by branch name on one device (none on the CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.enabled = device.type == "cuda"
        self._streams = {name: torch.cuda.Stream(device) for name in BRANCHES} if self.enabled else {}

    @contextlib.contextmanager
    def branch(self, name: str, inputs: torch.Tensor) -> Iterator[None]:
        """Run the block's kernels on branch `name`'s stream, after the caller's stream made `inputs`."""
        if not self.enabled:
            yield
            return
        stream = self._streams[name]
        stream.wait_stream(torch.cuda.current_stream(self.device))
        inputs.record_stream(stream)
        with torch.cuda.stream(stream):
            yield

    def join(self) -> None:
        """Make the caller's stream wait for every branch (no host wait)."""
        if not self.enabled:
            return
        current = torch.cuda.current_stream(self.device)
        for stream in self._streams.values():
            current.wait_stream(stream)
