"""The TextRegion engine: SAM2 masks + region tokens for CLIP, SigLIP2 and PE. No ROS imports.

    from textregion_ros.engine import EngineConfig, TextRegionEngine
    engine = TextRegionEngine(EngineConfig(device="cuda"))
    regions = engine.regions(rgb)                       # HxWx3 uint8
    seg = engine.segment(regions, ["red mug", "table; desk"])
    dets = engine.ground(regions, ["red mug"], mode="best")
"""
from .config import EngineConfig, config_problems, field_names
from .errors import ConfigError, EngineError, ImageError, QueryError, WeightsUnavailableError
from .textregion_engine import TextRegionEngine
from .queries import QuerySet, parse_queries, queries_from_parameter, split_query_text
from .results import Detection, Regions, Segmentation

__all__ = [
    "ConfigError", "Detection", "EngineConfig", "EngineError", "ImageError", "QueryError", "QuerySet",
    "Regions", "Segmentation", "TextRegionEngine", "WeightsUnavailableError", "config_problems",
    "field_names", "parse_queries", "queries_from_parameter", "split_query_text",
]
