"""A gate on a real model module's forward, so a test holds a thread inside a model call as long as it wants.

Why: "frames (or answers) go on while X encodes" is a race against the machine's speed unless X is
held inside its encoding. A forward pre-hook on the real module (no mock: the model runs as usual
once the gate opens) holds every caller there and says when the first one arrived (`entered`), so
the test proves where the other thread is before it checks what goes on meanwhile.
"""
from __future__ import annotations

import threading
from typing import Any

import torch

# How long a held forward waits for the test to open the gate: a test that fails before opening it
# must not leave a thread stuck in the model for good.
HOLD_LIMIT_S = 300.0


class ModelGate:
    """`with ModelGate(module) as gate:` forwards of `module` wait until `gate.open()` (or the block ends)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.entered = threading.Event()  # a forward reached the gate
        self.held = 0  # forwards that reached it so far
        self._open = threading.Event()
        self._handle: Any = None

    def _hold(self, module: torch.nn.Module, args: Any) -> None:
        self.held += 1
        self.entered.set()
        if not self._open.wait(HOLD_LIMIT_S):
            raise RuntimeError("the test never opened the model gate")

    def wait_entered(self, timeout: float) -> bool:
        """Whether a forward reached the gate within `timeout` s."""
        return self.entered.wait(timeout)

    def open(self) -> None:
        self._open.set()

    def __enter__(self) -> "ModelGate":
        self._handle = self.module.register_forward_pre_hook(self._hold)
        return self

    def __exit__(self, *exc: object) -> None:
        self.open()
        self._handle.remove()


def text_tower(backbone: Any) -> torch.nn.Module:
    """The text half of an open_clip model (CustomTextCLIP's `text`, CLIP's `transformer`): only text
    encoding runs it."""
    model = backbone.model
    return model.text if hasattr(model, "text") else model.transformer
