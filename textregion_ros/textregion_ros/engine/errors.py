"""Errors the engine raises on purpose; each message says what was wrong and what to do."""


class EngineError(RuntimeError):
    """Base class: something the caller can report and recover from."""


class ConfigError(EngineError, ValueError):
    """An EngineConfig field holds a value the engine cannot use."""


class WeightsUnavailableError(EngineError):
    """Model weights are neither on disk nor downloadable; the message names the file needed."""


class QueryError(EngineError, ValueError):
    """Text queries that cannot be scored (empty, duplicate, too many)."""


class ImageError(EngineError, ValueError):
    """An input image of the wrong shape, type or size."""
