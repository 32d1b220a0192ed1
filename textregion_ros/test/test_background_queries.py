"""background_queries: one hidden class in every softmax, so a lone query does not label everything.

The text embeddings are hand-made (written into the engine's text cache, which every scoring path
reads) and the region tokens are unit vectors, so each outcome is known exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine_fixtures import engine_factory, open_clip_models, sam2_tiny, siglip2_tokenizer_dir  # noqa: F401
from textregion_ros import params
from textregion_ros.engine import TextRegionEngine, parse_queries
from textregion_ros.engine.boxes import exclusive_boxes
from textregion_ros.engine.queries import BACKGROUND_CLASS, with_background
from textregion_ros.engine.results import Regions

DEFAULT_BACKGROUND = params.BY_NAME["background_queries"].default
# One axis per phrase: a token equal to an axis matches that phrase with cosine 1 and the others with 0.
AXES = {"mug": 0, "object": 1, "things": 2, "stuff": 3, "texture": 4}


def _engine(factory, background: str = DEFAULT_BACKGROUND) -> TextRegionEngine:
    engine = factory("pe", background_queries=background)
    dim = engine.backbone.embed_dim
    for phrase, axis in AXES.items():  # the cache is what segment / ground / score_tokens read
        engine.text._cache[phrase] = F.one_hot(torch.tensor(axis), dim).float()
    return engine


def _regions(engine: TextRegionEngine, axes: list[int]) -> Regions:
    """One region per axis, side by side (10 px wide each, 2 px gaps) on a 10 x 12k image."""
    count, dim = len(axes), engine.backbone.embed_dim
    masks = torch.zeros(count, 10, 12 * count)
    for index in range(count):
        masks[index, :, 12 * index:12 * index + 10] = 3.0
    tokens = F.one_hot(torch.tensor(axes), dim).float()
    return Regions(tokens=tokens, masks=masks, boxes=exclusive_boxes(masks > 0), areas=(masks > 0).flatten(1).sum(1),
                   predicted_iou=torch.ones(count), stability=torch.ones(count), image_size=(10, 12 * count))


@pytest.fixture
def mug_and_object(engine_factory):
    engine = _engine(engine_factory)
    return engine, _regions(engine, [AXES["mug"], AXES["object"]])


def test_the_default_background_is_the_lerf_canonical_phrases():
    assert DEFAULT_BACKGROUND == "object; things; stuff; texture"


def test_a_lone_query_labels_only_the_region_that_matches_it_better_than_the_background(mug_and_object):
    engine, regions = mug_and_object
    segmentation = engine.segment(regions, ["mug"])
    assert (segmentation.labels[:, 0:10] == 0).all()
    assert (segmentation.labels[:, 12:22] == -1).all()


def test_background_pixels_carry_confidence_zero(mug_and_object):
    engine, regions = mug_and_object
    segmentation = engine.segment(regions, ["mug"])
    assert (segmentation.confidence[:, 12:22] == 0).all()
    # on the mug: softmax over mug + the four background phrases, mug at cosine 1, the others at 0
    assert segmentation.confidence[0, 5] == pytest.approx(np.exp(50.0) / (np.exp(50.0) + 4.0), rel=1e-5)


def test_a_region_whose_label_is_background_is_never_a_detection(mug_and_object):
    engine, regions = mug_and_object
    detections = engine.ground(regions, ["mug"], mode="all")
    assert [(d.query, d.region_index) for d in detections] == [("mug", 0)]


def test_best_mode_leaves_out_a_query_whose_best_region_is_background(engine_factory):
    engine = _engine(engine_factory)
    regions = _regions(engine, [AXES["object"], AXES["stuff"]])
    assert engine.ground(regions, ["mug"], mode="best") == []


def test_empty_background_queries_restore_the_reference_method(engine_factory):
    engine = _engine(engine_factory, background="")
    regions = _regions(engine, [AXES["mug"], AXES["object"]])
    segmentation = engine.segment(regions, ["mug"])
    assert (segmentation.labels[:, 0:10] == 0).all() and (segmentation.labels[:, 12:22] == 0).all()
    assert (segmentation.confidence[:, 12:22] == 1.0).all()  # softmax over one class
    detections = engine.ground(regions, ["mug"], mode="all")
    assert sorted(d.region_index for d in detections) == [0, 1]
    assert all(d.score == 1.0 for d in detections)


def test_the_background_is_not_a_class_of_the_segmentation(mug_and_object):
    engine, regions = mug_and_object
    segmentation = engine.segment(regions, ["mug"])
    assert segmentation.classes == ("mug",)
    assert tuple(segmentation.region_class_probability.shape) == (2, 1)


def test_a_query_that_uses_a_background_phrase_keeps_it(engine_factory):
    engine = _engine(engine_factory)
    regions = _regions(engine, [AXES["mug"], AXES["object"]])
    segmentation = engine.segment(regions, ["mug", "object"])
    assert (segmentation.labels[:, 12:22] == 1).all()  # "object" is the user's class here
    scored = with_background(parse_queries(["mug", "object"]), ("object", "things"))
    assert scored.classes == ("mug", "object", BACKGROUND_CLASS) and scored.phrases == ("mug", "object", "things")


def test_token_scores_use_the_same_softmax_with_the_background(mug_and_object):
    engine, _ = mug_and_object
    dim = engine.backbone.embed_dim
    tokens = F.one_hot(torch.tensor([AXES["mug"], AXES["stuff"]]), dim).float()
    classes, scores = engine.score_tokens(tokens, ["mug"])
    assert classes.tolist() == [0, -1]
    assert scores[0] == pytest.approx(np.exp(50.0) / (np.exp(50.0) + 4.0), rel=1e-5)


def test_token_scores_without_background_give_every_token_the_lone_query(engine_factory):
    engine = _engine(engine_factory, background="")
    tokens = F.one_hot(torch.tensor([AXES["stuff"]]), engine.backbone.embed_dim).float()
    classes, scores = engine.score_tokens(tokens, ["mug"])
    assert classes.tolist() == [0] and scores.tolist() == [1.0]


@pytest.mark.parametrize("value", ["object;;stuff", "object;", "; stuff"])
def test_background_queries_with_an_empty_phrase_are_rejected(value):
    reason = params.value_problem(params.BY_NAME["background_queries"], value)
    assert reason and "empty phrase" in reason
