#!/usr/bin/env python3
"""End-to-end latency and throughput of textregion_node over real DDS, against the bare engine.

    python -m benchmarks.node_latency --device cuda --size 640x480          # GPU
    python -m benchmarks.node_latency --preset cpu_smoke --frames 5          # CPU
    python -m benchmarks.node_latency --preset cpu_smoke --size 320x240 --rate 2 --side-rate 30

With --overlap-compare it measures instead the node's frame period (the median time between two frames'
outputs while frames arrive faster than it works, every frame output subscribed) with overlap_host_stage
off and on, alternated --repeats times in one run, against the engine's own frame time in this process:
the after/before ratio of the period at equal engine time.

With --side-rate HZ it measures instead (benchmarks/side_rate.py) frames at --rate, each with its own
depth + camera_info, with and without depth + camera_info also streaming at HZ (use_depth on),
alternated --repeats times in one run: processed / received and latency p50 / p95 per phase, as ratios.

It starts the node as a separate process (tooling/node_process.py; DDS confined to this machine:
LOCALHOST discovery, a claimed domain id, 64 MB shared memory) with config/textregion.yaml and, for
--preset NAME, config/presets/NAME.yaml on top, then measures in one run:
  - closed loop: publish a frame, wait for its Detection2DArray -> per-frame latency;
  - open loop: publish at --rate for --seconds -> processed frames per second and drops;
  - ~/query: answer time for new phrases (text encoder) and for cached phrases (no model work);
  - the engine called directly in this process on the same image (regions + segment + ground),
    so the node's own overhead shows as a ratio.
Figures are printed as tables (with the CPU/GPU name); nothing here is a test assertion.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from textregion_ros.cli.settings import Settings
from textregion_ros.tooling import local_dds
from textregion_ros.tooling.params_files import NODE_NAME, preset_names
from textregion_ros.tooling.node_command import CONFIGURE_FAILED
from textregion_ros.tooling.node_process import NodeProcess

from .common import DEFAULT_PRESET, device_name, timed_runs
from .node_probe import CAMERA_TOPIC, Probe, benchmark_settings



def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values), "median": statistics.median(values), "mean": statistics.fmean(values),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], "min": ordered[0], "max": ordered[-1],
    }


def engine_direct(settings: Settings, rgb: np.ndarray, queries: list[str], repeats: int) -> list[float]:
    from textregion_ros.engine import TextRegionEngine
    from textregion_ros.ros import conversions
    from std_msgs.msg import Header

    engine = TextRegionEngine(settings.config)

    def frame() -> None:
        regions = engine.regions(rgb)
        segmentation = engine.segment(regions, queries)
        detections = engine.ground(regions, queries, segmentation=segmentation)
        conversions.detections_to_msg(detections, Header())

    times, _ = timed_runs(frame, repeats)  # after one warm-up run (text embeddings, allocator)
    engine.close()
    return times


def print_table(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"{'measure':<34}{'n':>4}{'median ms':>12}{'p90 ms':>10}{'min ms':>10}{'max ms':>10}")
    for name, stats in rows:
        print(f"{name:<34}{stats['n']:>4}{1000 * stats['median']:>12.1f}{1000 * stats['p90']:>10.1f}"
              f"{1000 * stats['min']:>10.1f}{1000 * stats['max']:>10.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=[DEFAULT_PRESET, *preset_names()], default=DEFAULT_PRESET,
                        help="default: the configured models with random weights; else a config/presets/ file")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the preset's)")
    parser.add_argument("--size", default="640x480", help="WxH of the published frames")
    parser.add_argument("--frames", type=int, default=20, help="closed-loop frames")
    parser.add_argument("--rate", type=float, default=None,
                        help="open-loop publish rate (Hz; default 30, with --side-rate 2)")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--queries", default="person, chair, table; desk, floor; wall")
    parser.add_argument("-p", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="extra node parameter (YAML value), repeatable")
    parser.add_argument("--side-rate", type=float, default=0.0, metavar="HZ",
                        help="measure depth + camera_info streaming at HZ against frame throughput instead")
    parser.add_argument("--repeats", type=int, default=3, help="--side-rate: times each phase is run, alternated")
    parser.add_argument("--before", metavar="[LABEL=]PYTHONPATH", action="append", default=[],
                        help="--side-rate: also measure a node run from this copy of the package (e.g. the code "
                             "before a change, `git archive <commit> textregion_ros | tar -x -C DIR`), alternated; "
                             "repeatable")
    parser.add_argument("--node-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment variable of the node process (e.g. OMP_WAIT_POLICY=PASSIVE), repeatable")
    parser.add_argument("--overlap-compare", action="store_true",
                        help="frame period with overlap_host_stage off vs on (alternated --repeats times)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.rate is None:
        args.rate = 2.0 if args.side_rate else 30.0

    from textregion_ros.engine import split_query_text

    width, height = (int(v) for v in args.size.lower().split("x"))
    queries = split_query_text(args.queries)
    params_files, overrides, settings, parameters = benchmark_settings(args.preset, queries, args.device,
                                                                       args.overrides)
    claim = local_dds.claim()
    claim.apply()
    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                    rng.integers(0, 256, (height, width))], axis=-1).astype(np.uint8)
    frame = numpy_to_imgmsg(rgb, "rgb8")
    frame.header.frame_id = "bench_camera"

    env = {**os.environ, **dict(item.split("=", 1) for item in args.node_env)}
    if args.side_rate:
        return side_rate_main(args, overrides, params_files, env, width, height, parameters)
    if args.overlap_compare:
        return overlap_main(args, overrides, params_files, env, frame, settings, rgb, queries, parameters)
    node = NodeProcess.textregion_node(overrides, params_files, NODE_NAME, {"image": CAMERA_TOPIC}, env=env)
    log_path = node.log_path
    results: dict[str, Any] = {"device": device_name(parameters["device"]), "size": [width, height],
                               "params_files": [str(path) for path in params_files], "parameters": parameters}
    probe = None
    try:
        node.start()
        probe = Probe()
        key = 1
        # warm-up: first frame (text encoding, allocator), once the node is up
        node.wait_until(lambda: probe.query_client.service_is_ready(), 600, "the node's ~/query service",
                        probe.spin_once, failure_markers=(CONFIGURE_FAILED,))
        # the service being up does not mean the node's image subscription has matched our camera, nor
        # its detections publisher our subscription: a frame sent before then is lost
        node.wait_until(probe.frames_matched, 600, "the node's image subscription and detections publisher",
                        probe.spin_once)
        probe.publish(frame, key)
        node.wait_until(lambda: key in probe.arrivals, 600, "detections for the warm-up frame", probe.spin_once)

        latencies = []
        for _ in range(args.frames):
            key += 1
            sent = probe.publish(frame, key)
            if probe.poll_until(lambda: key in probe.arrivals, 300, step=0.01):
                latencies.append(probe.arrivals[key] - sent)

        first_open = key + 1
        period, started = 1.0 / args.rate, time.perf_counter()
        sent_count = 0
        while time.perf_counter() - started < args.seconds:
            key += 1
            probe.publish(frame, key)
            sent_count += 1
            probe.poll_until(lambda: time.perf_counter() - started >= sent_count * period, period + 1, step=0.01)
        probe.spin_for(3.0)  # let the last frame finish
        processed = sum(1 for k in probe.arrivals if k >= first_open)

        query_new = [probe.query([f"new phrase {i}"]) for i in range(3)]
        query_cached = [probe.query(queries) for _ in range(10)]
    finally:
        if probe is not None:
            probe.close()
        node.stop()

    direct = engine_direct(settings, rgb, queries, repeats=max(3, min(args.frames, 10)))
    print(f"device: {results['device']}   frames {width}x{height}   preset {args.preset}   node log: {log_path}")
    rows = [
        ("node: image -> detections", summary(latencies)),
        ("engine direct (same process)", summary(direct)),
        ("~/query, new phrase (text enc.)", summary(query_new)),
        ("~/query, cached phrases", summary(query_cached)),
    ]
    print_table("latency", rows)
    ratio = statistics.median(latencies) / statistics.median(direct)
    throughput = processed / args.seconds
    print(f"\nnode overhead: median node latency / median direct engine time = {ratio:.2f}x")
    print(f"open loop: published {sent_count} frames at {args.rate:.0f} Hz for {args.seconds:.0f} s -> "
          f"{processed} processed ({throughput:.2f} frames/s), {sent_count - processed} dropped by the "
          f"latest-frame policy")
    results.update({name: stats for name, stats in rows})
    results.update({"overhead_ratio": ratio, "throughput_fps": throughput, "published": sent_count,
                    "processed": processed})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def frame_periods(node: NodeProcess, frame: Any, rate: float, seconds: float) -> tuple[list[float], list[float]]:
    """Start `node`, send frames at `rate` for `seconds` with every frame output subscribed; (the times
    between consecutive frames' detections: the node's frame period while it never waits for input, the
    engine stage's own time per frame: `latency_ms_observe` of the node's diagnostics, once a second)."""
    from textregion_ros.ros.frame_messages import FRAME_OUTPUTS

    probe = None
    try:
        node.start()
        probe = Probe("overlap_probe")
        probe.watch_diagnostics()
        engine_s: list[float] = []
        seen = [0]

        def sample() -> None:
            if probe.statuses != seen[0] and "latency_ms_observe" in probe.status:
                seen[0] = probe.statuses
                engine_s.append(float(probe.status["latency_ms_observe"]) / 1000.0)
        keep = [probe.subscribe_output(name, lambda msg: None) for name in FRAME_OUTPUTS if name != "detections"]
        node.wait_until(lambda: probe.query_client.service_is_ready(), 600, "the node's ~/query service",
                        probe.spin_once, failure_markers=(CONFIGURE_FAILED,))
        node.wait_until(probe.frames_matched, 600, "the node's image subscription and detections publisher",
                        probe.spin_once)
        node.wait_until(lambda: all(probe.matched(s) for s in keep), 60, "every output matched", probe.spin_once)
        key = 1
        probe.publish(frame, key)
        node.wait_until(lambda: key in probe.arrivals, 600, "detections for the warm-up frame", probe.spin_once)
        first, period, started, sent = key + 1, 1.0 / rate, time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            key += 1
            probe.publish(frame, key)
            sent += 1
            probe.poll_until(lambda: time.perf_counter() - started >= sent * period, period + 1, step=0.01)
            sample()
        probe.spin_for(3.0)
        arrivals = sorted(t for k, t in probe.arrivals.items() if k >= first)
        return [b - a for a, b in zip(arrivals, arrivals[1:])], engine_s
    finally:
        if probe is not None:
            probe.close()
        node.stop()


def overlap_main(args: argparse.Namespace, overrides: dict[str, Any], params_files: list[Path],
                 env: dict[str, str], frame: Any, settings: Settings, rgb: np.ndarray, queries: list[str],
                 parameters: dict[str, Any]) -> int:
    """--overlap-compare: the node's frame period with overlap_host_stage off (main's loop) and on, against
    the engine's own frame time; a node start per mode and round, alternated, so load drift hits both."""
    periods: dict[str, list[float]] = {"off": [], "on": []}
    engine_stage: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.repeats):
        for mode in periods:
            node = NodeProcess.textregion_node({**overrides, "overlap_host_stage": mode}, params_files, NODE_NAME,
                                               {"image": CAMERA_TOPIC}, env=env)
            node_periods, node_engine = frame_periods(node, frame, args.rate, args.seconds)
            periods[mode] += node_periods
            engine_stage[mode] += node_engine
    direct = engine_direct(settings, rgb, queries, repeats=max(3, min(args.frames, 10)))
    engine_s = statistics.median(direct)
    print(f"device: {device_name(parameters['device'])}   frames {args.size} sent at {args.rate:g} Hz   preset "
          f"{args.preset}   {args.repeats} x {args.seconds:g} s per mode   every frame output subscribed")
    rows = [(f"node frame period, overlap {mode}", summary(values)) for mode, values in periods.items() if values]
    rows += [(f"node engine stage (observe), {mode}", summary(values))
             for mode, values in engine_stage.items() if values]
    rows.append(("engine direct (regions+segment+ground)", summary(direct)))
    print_table("frame period", rows)
    record: dict[str, Any] = {"engine_direct": summary(direct), "rate_hz": args.rate, "seconds": args.seconds,
                              "repeats": args.repeats, "device": device_name(parameters["device"]),
                              "parameters": parameters}
    for mode, values in periods.items():
        if values:
            record[f"period_{mode}"] = summary(values)
            print(f"overlap {mode}: node frame period / engine frame time (direct) = "
                  f"{statistics.median(values) / engine_s:.2f}")
        if values and engine_stage[mode]:
            record[f"engine_stage_{mode}"] = summary(engine_stage[mode])
            print(f"overlap {mode}: node frame period / the node's own engine stage (observe) = "
                  f"{statistics.median(values) / statistics.median(engine_stage[mode]):.2f}")
    if periods["off"] and periods["on"]:
        record["period_ratio_on_off"] = statistics.median(periods["on"]) / statistics.median(periods["off"])
        print(f"after/before (overlap on / off) ratio of the node's frame period: {record['period_ratio_on_off']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2, default=str))
    return 0


def side_rate_main(args: argparse.Namespace, overrides: dict[str, Any], params_files: list[Path],
                   env: dict[str, str], width: int, height: int, parameters: dict[str, Any]) -> int:
    """--side-rate: this code's node (and with --before, the other copy's), `--repeats` rounds alternated."""
    from .side_rate import TABLE_HEADER, PhaseResult, side_rate_run, side_rate_table, summary_dict

    remaps = {name: f"/bench/{name}" for name in ("image", "depth", "camera_info")}
    codes = {}
    for index, item in enumerate(args.before):
        label, _, path = item.rpartition("=")
        codes[label or ("before" if len(args.before) == 1 else f"before{index + 1}")] = {**env, "PYTHONPATH": path}
    codes["after"] = env
    totals = {code: {"none": PhaseResult(), "side": PhaseResult()} for code in codes}
    logs = []
    for _ in range(args.repeats):  # a node start per code and round: load drift hits both alike
        for code, code_env in codes.items():
            node = NodeProcess.textregion_node({**overrides, "use_depth": True}, params_files, NODE_NAME, remaps,
                                               env=code_env)
            logs.append(str(node.log_path))
            for phase, result in side_rate_run(node, args.rate, args.side_rate, args.seconds, 1, width,
                                               height).items():
                totals[code][phase].add(result)
    print(f"device: {device_name(parameters['device'])}   frames {width}x{height} at {args.rate:g} Hz   preset "
          f"{args.preset}   {args.repeats} x {args.seconds:g} s per phase and code   node env: "
          f"{' '.join(args.node_env) or '-'}"
          + (f"   codes: {', '.join(args.before)} and this one (after)" if args.before else ""))
    print(TABLE_HEADER)
    for code, code_totals in totals.items():
        print(side_rate_table(code_totals, args.side_rate, code))
    print(f"node logs: {' '.join(logs)}")
    if args.json:
        args.json.write_text(json.dumps({"side_rate_hz": args.side_rate, "rate_hz": args.rate,
                                         "node_env": args.node_env, "before": args.before,
                                         **{code: summary_dict(t) for code, t in totals.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
