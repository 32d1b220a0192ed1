"""What happens to one frame, ROS-free: the engine, the 3D, the tracks and the memory, run for the
outputs someone wants, returning one FrameResult. The node, `textregion bag` and `textregion segment`
each make one call to it and only convert the result (to messages or files).

    pipeline = FramePipeline(engine, PipelineSettings.from_parameters(values), TrackedObjects(...))
    observed = pipeline.observe(FrameInput(rgb, stamp_ns, frame_id, depth=..., output_transform=...))
    result = pipeline.describe(observed, queries, wanted={"labels", "detections"})

products.py: which outputs need which work (the laziness rules); depth_source.py: what the pipeline
asks of a depth input and an output frame, and why a frame has no 3D; region_3d.py: the frame's and
the detections' 3D in the optical and the output frame; pipeline.py: the two steps.
"""
from .depth_source import DepthSource, DepthView, No3D, OutputTransform
from .pipeline import FrameInput, FramePipeline, FrameResult, ObservedFrame, PipelineSettings
from .products import PRODUCTS, Work, work_for

__all__ = [
    "DepthSource", "DepthView", "FrameInput", "FramePipeline", "FrameResult", "No3D", "ObservedFrame",
    "OutputTransform",
    "PRODUCTS", "PipelineSettings", "Work", "work_for",
]
