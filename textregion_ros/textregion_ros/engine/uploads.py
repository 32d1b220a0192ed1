"""Frame uploads through a reused pinned host buffer, so the host-to-device copy is asynchronous.

A copy from ordinary (pageable) host memory is synchronous whatever `non_blocking` says: CUDA
first stages it through a pinned buffer of its own. Copying the frame into a pinned buffer of ours
and uploading that with non_blocking=True lets the host go on queueing the frame's kernels while
the DMA runs. The buffer is reused while the frame size stays the same; before it is overwritten,
the previous upload's event is waited for (long finished by then: a frame's work follows it).
On the CPU there is nothing to upload: the tensor is returned as it is.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch


class FrameUploader:
    """Uploads HxWx3 uint8 host tensors to one device, through one pinned buffer per frame size."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.enabled = device.type == "cuda"
        self._host: Optional[torch.Tensor] = None
        self._copied: Optional[torch.cuda.Event] = None
        self.allocations = 0  # pinned buffers made so far (one per frame size seen in a row)

    def upload(self, pixels: torch.Tensor) -> torch.Tensor:
        """`pixels` on the device; a tensor already there (or any tensor on the CPU path) is not copied."""
        if not self.enabled or pixels.device.type != "cpu":
            return pixels.to(self.device)
        if self._host is None or self._host.shape != pixels.shape:
            self._host = torch.empty(pixels.shape, dtype=pixels.dtype, pin_memory=True)
            self._copied = None
            self.allocations += 1
        elif self._copied is not None:
            self._copied.synchronize()  # the previous frame's upload has read the buffer
        self._host.copy_(pixels)
        uploaded = self._host.to(self.device, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record(torch.cuda.current_stream(self.device))
        return uploaded


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A small host array (an index plan, a few constants) on `device`, without a host sync.

    Why non_blocking from pageable memory is safe and sync-free: CUDA copies a pageable source into
    its own staging buffer before cudaMemcpyAsync returns, so the array may be freed at once, and no
    device synchronisation is performed (a blocking copy would wait for the queue; the CUDA sync
    test catches those). On the CPU the array's memory is used as it is.
    """
    return torch.from_numpy(np.ascontiguousarray(array)).to(device, non_blocking=True)
