"""Leak test: a few hundred frames through the real node leave its memory, threads and open files where
they were after the warm-up.

A per-frame leak (a message, tensor or DDS entity kept per frame, a thread or file per query change)
passes every functional test and ends a robot's run after hours; benchmarks/soak.py measures the
slope over 10,000 frames, this test keeps the gross cases out of CI. The node is the real one
(cpu_smoke preset, real architectures with random weights) at the smallest settings that still run
every stage, so 300 frames fit in about two minutes on 2 CPU cores. While frames flow, the test does
what a robot does: it changes the queries (alternately ~/set_queries and the `queries` topic) and
calls ~/query, cycling through fixed sets, and subscribes to every frame output so each is computed.
"""
from __future__ import annotations

import dataclasses
import statistics

import numpy as np
from std_msgs.msg import String

from node_session import NodeSession
from textregion_ros.tooling import process_stats
from textregion_ros.tooling.process_stats import ProcessSample

FRAMES = 300
# Every query set and ~/query phrase is first used before the warm-up ends, so text embeddings are
# cached and the allocator has seen every size of work by then: memory added later is not a cache
# filling up. Changes every 10 frames (4 sets), ~/query every 5 (3 sets) -> all used by frame 40.
# Each change is waited for until ~/label_info shows it in force: the node's text thread only
# encodes the newest set it was given, so unawaited changes on a slow CPU would leave sets
# unencoded and have their first encoding (tens of MB of text-model activations) fall after the
# warm-up, which reads like a leak.
WARMUP = 50
SAMPLE_EVERY = 10
CHANGE_EVERY = 10
ASK_EVERY = 5
QUERY_SETS = (["person", "chair", "table; desk"], ["cup", "bottle"], ["door", "window; glass", "plant"],
              ["car; truck", "road"])
ASK_SETS = (["chair"], ["red mug", "laptop"], ["something to sit on"])
SWITCH_TIMEOUT_S = 120.0  # a first encoding of a set (80 templates per phrase) on a busy 2-core CPU
# The smallest settings that run every stage (SAM2 encoder and decoder on a 2 x 2 grid, the PE encoder
# on a global view plus one tile, pooling, segmentation, grounding, every output), on 64 x 48 frames
# that need no rescale: about 0.1 s of model work per frame on a loaded 2-core CPU.
SMALLEST = {"points_per_side": 2, "sam2_image_size": 64, "crop_size": 64, "scale": [64, 48]}
WIDTH, HEIGHT = 64, 48
# RSS at the end (median of the samples at frames 280, 290, 300) may exceed RSS after the warm-up
# (median at 50, 60, 70) by this much. Measured on this shared 2-core CPU, 3 runs: +0.3 MB, +0.6 MB
# and -79 MB (most likely a thread's allocator arena still holding the warm-up's text-model
# activations at frame 50 and giving them back later): after the warm-up the node's ~2 GB RSS moved
# only in steps of a few hundred kB; file-backed pages and Fast DDS's shared memory did not move.
# 8 MB is >10x the largest rise seen, and a real leak crosses it within 250 frames when it keeps ~32 kB
# per frame (about one 64 x 48 frame's outputs) or ~320 kB per query switch; a thread or file per switch
# fails the exact checks below.
RSS_TOLERANCE_KB = 8 * 1024
LAZY_THREADS = 2  # threads a library may start once, late (see the thread check)


def frames() -> list[np.ndarray]:
    """Eight different frames, so region counts (and allocation sizes) vary from frame to frame."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    images = []
    for _ in range(8):
        rgb = np.stack([xx * 4, yy * 5, rng.integers(0, 64, (HEIGHT, WIDTH))], axis=-1).astype(np.uint8)
        x0, y0 = int(rng.integers(0, WIDTH // 2)), int(rng.integers(0, HEIGHT // 2))
        rgb[y0:y0 + HEIGHT // 3, x0:x0 + WIDTH // 3] = rng.integers(0, 256, 3)
        images.append(rgb)
    return images


def median_sample(samples: list[ProcessSample]) -> ProcessSample:
    """Median of each field: one sample that caught an allocation in flight does not decide the verdict."""
    return ProcessSample(**{field.name: int(statistics.median(getattr(s, field.name) for s in samples))
                            for field in dataclasses.fields(ProcessSample)})


def switch_queries(session: NodeSession, queries: list[str], via_topic: bool) -> None:
    """New queries through the `queries` topic or ~/set_queries; returns once ~/label_info lists them."""
    if via_topic:
        session.queries_topic.publish(String(data=", ".join(queries)))
    else:
        assert session.set_queries(queries).success
    session.spin_until(lambda: bool(session.label_info) and
                       [c.class_name for c in session.label_info[-1].class_map] == list(queries),
                       SWITCH_TIMEOUT_S, f"the queries {queries} in force")


def test_node_memory_threads_and_open_files_stay_put_over_300_frames():
    images = frames()
    with NodeSession(queries=QUERY_SETS[0], **SMALLEST) as session:
        session.wait_until_active()
        samples: dict[int, ProcessSample] = {}
        for index in range(1, FRAMES + 1):
            session.process(session.image(images[index % len(images)], stamp_sec=index))
            if index % CHANGE_EVERY == 0:
                change = index // CHANGE_EVERY
                switch_queries(session, QUERY_SETS[change % len(QUERY_SETS)], via_topic=change % 2 == 1)
            if index % ASK_EVERY == 0:
                assert session.query(ASK_SETS[(index // ASK_EVERY) % len(ASK_SETS)]).success
            if index % SAMPLE_EVERY == 0:
                samples[index] = process_stats.sample(session.child.pid)
        status = session.fresh_status()

    assert status["frames_failed"] == "0" and status["problems"] == "0", status
    series = "\n".join(f"  frame {index:>3}: {sample}" for index, sample in samples.items())
    # Median of three samples at each end (frames 50-70 and 280-300).
    after_warmup = median_sample([samples[i] for i in range(WARMUP, WARMUP + 3 * SAMPLE_EVERY, SAMPLE_EVERY)])
    end = median_sample([samples[i] for i in range(FRAMES - 2 * SAMPLE_EVERY, FRAMES + 1, SAMPLE_EVERY)])
    # Anonymous memory (heap, tensors) is where a leak shows; total RSS is what a robot's monitor sees.
    for field in ("rss_anon_kb", "rss_kb"):
        grown_kb = getattr(end, field) - getattr(after_warmup, field)
        assert grown_kb <= RSS_TOLERANCE_KB, (
            f"node {field} grew by {grown_kb} kB between frame {WARMUP} and frame {FRAMES} (tolerance "
            f"{RSS_TOLERANCE_KB} kB):\n{series}")
    steady = [sample for index, sample in samples.items() if index >= WARMUP]
    # A pool may start one worker lazily on a code path first taken after the warm-up (seen once in CI:
    # 27 -> 28 at frame 80, then flat); a thread per query switch would add 25 over these frames.
    threads = [sample.threads for sample in steady]
    assert max(threads) - threads[0] <= LAZY_THREADS, (
        f"thread count grew after the warm-up:\n{series}")
    assert len({sample.open_files for sample in steady}) == 1, f"open files changed after the warm-up:\n{series}"
