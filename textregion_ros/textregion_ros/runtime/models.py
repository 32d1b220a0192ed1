"""The node's models between configure and cleanup (ROS-free): built from a config, changed, freed.

Why an object of its own: the engine comes and goes with the lifecycle, while services, the text thread
and /diagnostics read it from other threads; each takes `engine` once and checks it for None (a cleanup
may have freed it meanwhile). A configuration change applies its run-time fields at once; the fields that
need new models stay pending until the next configure and are said once per change.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from ..engine import EngineConfig, EngineError, QuerySet, TextRegionEngine
from .heap_trim import release_freed_memory

Say = Callable[[str], None]


class Models:
    """Holds the engine of a configured node; `info`, `warning` and `error` are the node's logger's."""

    def __init__(self, info: Say, warning: Say, error: Say) -> None:
        self._info, self._warning, self._error = info, warning, error
        self.engine: Optional[TextRegionEngine] = None
        self.pending_reconfigure: list[str] = []  # configure-time fields changed since configure

    def load(self, config: EngineConfig) -> bool:
        """Build the models (said with the time it took); False, with the reason logged, when they cannot be."""
        self._info(f"loading models: {config.model_id} + SAM2 {config.sam2_model} on {config.device}")
        started = time.monotonic()
        try:
            self.engine = TextRegionEngine(config)
        except EngineError as error:
            self._error(f"configure failed: {error}")
            return False
        except Exception as error:  # a model that cannot be built (e.g. CUDA out of memory)
            self._error(f"configure failed while building the models: {type(error).__name__}: {error}")
            return False
        self._info(f"models ready in {time.monotonic() - started:.1f} s on {self.engine.device}")
        self.pending_reconfigure = []
        return True

    def apply(self, config: EngineConfig) -> bool:
        """Run-time fields apply now; configure-time ones stay pending (said once per change). False when
        no models are loaded."""
        engine = self.engine
        if engine is None:
            return False
        pending = engine.apply_config(config)
        if pending and pending != self.pending_reconfigure:
            self._warning(f"{', '.join(pending)} changed: applies at the next configure (cleanup, then configure); "
                          f"the other parameters apply at once")
        self.pending_reconfigure = pending
        return True

    def prepare(self, queries: QuerySet) -> None:
        """Text thread: encode a query set's new phrases (the models may be gone meanwhile)."""
        engine = self.engine
        if engine is not None:
            engine.prepare(queries)

    def release(self) -> None:
        """Free the models and give their memory back (cleanup and shutdown both end here: said)."""
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()
            release_freed_memory()  # else glibc keeps the models' memory in its arenas
            self._info("models freed")
