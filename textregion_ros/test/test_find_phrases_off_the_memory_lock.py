"""~/find with phrases the text encoder has never seen must not hold up frames.

Encoding a new phrase is a text-model forward per template; the frame thread's ObjectMemory.observe()
takes the memory's lock. So the phrases are encoded (engine.token_scorer) before answer_find locks the
memory, and the scorer the memory calls runs no text model. Deterministic: the test holds the text
encoder at its text model (a gate on the real module's forward), waits until the ~/find is inside its
encoding, and checks that a frame's observe() goes through meanwhile.
"""
from __future__ import annotations

import threading

import numpy as np
from textregion_msgs.srv import Find

from model_gates import ModelGate, text_tower
from textregion_ros.engine import parse_queries
from textregion_ros.objects import ObjectMemory
from textregion_ros.ros.find_service import answer_find

NEVER_SEEN = ["a never seen lamp", "a never seen kettle", "a never seen globe"]


def remembered(engine, stamp_ns: int) -> tuple:
    dim = engine.backbone.embed_dim
    tokens = np.zeros((2, dim), dtype=np.float32)
    tokens[:, 0] = 1.0
    return (stamp_ns, "camera", np.array([1, 2], dtype=np.uint32), tokens,
            np.array([[0.0, 0.0, 5.0, 5.0], [10.0, 0.0, 15.0, 5.0]]))


def test_a_token_scorer_runs_no_text_model_once_made(pe_engine):
    scorer = pe_engine.token_scorer(parse_queries(["a chair never scored before"]))
    pe_engine.text.clear()
    tokens = np.ones((3, pe_engine.backbone.embed_dim), dtype=np.float32)
    classes, scores = scorer(tokens / np.linalg.norm(tokens, axis=1, keepdims=True))
    assert len(pe_engine.text) == 0, "scoring encoded phrases: the text model ran inside the scorer"
    assert classes.shape == (3,) and scores.shape == (3,) and np.isfinite(scores).all()


def test_find_with_new_phrases_lets_a_frame_into_the_memory_while_it_encodes(pe_engine):
    memory = ObjectMemory()
    memory.observe(*remembered(pe_engine, 1_000_000_000))
    request, response = Find.Request(queries=NEVER_SEEN), Find.Response()
    with ModelGate(text_tower(pe_engine.backbone)) as text_model:  # the find's encoding cannot finish yet
        finder = threading.Thread(target=answer_find, args=(pe_engine, memory, request, response, parse_queries))
        finder.start()
        assert text_model.wait_entered(120), "~/find never ran the text model for its new phrases"
        frame = threading.Thread(target=memory.observe, args=remembered(pe_engine, 2_000_000_000))
        frame.start()
        frame.join(timeout=60)
        assert not frame.is_alive(), "the frame's observe() waited for ~/find's text encoding"
        assert finder.is_alive() and memory.latest_stamp_ns == 2_000_000_000  # observed while the find encodes
    finder.join(timeout=300)
    assert not finder.is_alive()
    assert response.success, response.message
