"""The object store's costs: what a frame pays, writer throughput, cold start, ~/find, fleet delay, bytes.

    python textregion_ros/benchmarks/memory_store.py [--sizes 1000,10000,100000] \
        [--out docs/benchmarks/memory_store_cpu]

SQLite (a temp file) and PostgreSQL (a throwaway cluster from Debian's package, started as the tests
start it) side by side in one run. Tokens of 512 values (PE-Core-T; ViT-B-16 has 512 too), 20 tracks
per frame. ROS-free: the node's ~/find adds only message building on top of the index search.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "test"))

from bench_common import cpu_model, format_table, positive_ints  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402
from store_helpers import fresh_postgres_url  # noqa: E402

from textregion_ros.objects.persistent_memory import PersistenceSettings, PersistentMemory  # noqa: E402
from textregion_ros.objects.store import open_store  # noqa: E402
from textregion_ros.objects.store_records import StoredObject, resolve_store  # noqa: E402
from textregion_ros.objects.stored_index import StoredIndex  # noqa: E402

DIM, TRACKS, MODEL = 512, 20, "pe:PE-Core-T-16-384:random"


def objects(count: int, robot: str = "robot_a", seed: int = 0) -> list[StoredObject]:
    rng = np.random.default_rng(seed)
    tokens = rng.standard_normal((count, DIM)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    return [StoredObject(robot, "s1", i, MODEL, 10**18, 10**18 + i, 3, tokens[i], (1.0, 2.0, 3.0, 4.0), "camera",
                         10**18, True, (1.0, 2.0, 0.5), (1.0, 2.0, 0.5), (0.1, 0.1, 0.1), (0.0, 0.0, 0.0, 1.0), "map",
                         10**18, "floor1") for i in range(count)]


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def scorer(tokens: np.ndarray):
    text = np.random.default_rng(1).standard_normal((2, DIM)).astype(np.float32)
    logits = tokens @ text.T
    return logits.argmax(1), logits.max(1)


def frame_cost_us(location) -> float:
    memory = PersistentMemory(PersistenceSettings(location, "robot_a", flush_s=0.5, queue_size=100000), MODEL).start()
    tokens = np.random.default_rng(0).standard_normal((TRACKS, DIM)).astype(np.float32)
    boxes, ids = np.zeros((TRACKS, 4)), np.arange(1, TRACKS + 1)
    started = time.perf_counter()
    frames = 2000
    for i in range(frames):
        memory.enqueue(i, "camera", ids, tokens, boxes, None)
    cost = (time.perf_counter() - started) / frames * 1e6
    memory.stop()
    return cost


def throughput(location, count: int) -> float:
    store = open_store(location)
    batch = objects(count)
    started = time.perf_counter()
    for i in range(0, count, 500):  # a flush of 500 changed objects per transaction
        store.upsert(batch[i:i + 500])
    seconds = time.perf_counter() - started
    store.close()
    return count / seconds


def cold_start(location) -> tuple[float, int, float]:
    """(seconds to open + load + index, objects, RSS MiB added by the index)."""
    before = rss_mib()
    started = time.perf_counter()
    store = open_store(location)
    index = StoredIndex(MODEL)
    for chunk in store.object_chunks():  # as the node's writer loads it
        index.put(chunk)
    seconds = time.perf_counter() - started
    added = rss_mib() - before
    store.close()
    return seconds, len(index), added, index


def find_ms(index: StoredIndex) -> float:
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        index.search(scorer, 2 * 10**18, max_results=10)  # a ~/find for the best 10
    return (time.perf_counter() - started) / runs * 1e3


def fleet_delay_s(url: str, flush_s: float = 0.2) -> float:
    a = PersistentMemory(PersistenceSettings(resolve_store(url), "robot_a", flush_s=flush_s), MODEL).start()
    b = PersistentMemory(PersistenceSettings(resolve_store(url), "robot_b", flush_s=flush_s), MODEL).start()
    while not (a.state == b.state == "ok"):
        time.sleep(0.01)
    delays = []
    for k in range(5):
        before = len(b.index)
        token = np.random.default_rng(k).standard_normal((1, DIM)).astype(np.float32)
        started = time.perf_counter()
        a.enqueue(k, "camera", np.array([100 + k]), token, np.zeros((1, 4)), None)
        while len(b.index) == before:
            time.sleep(0.002)
        delays.append(time.perf_counter() - started)
    a.stop()
    b.stop()
    return float(np.median(delays))


def disk_bytes(location) -> int:
    if location.kind == "sqlite":
        return sum(p.stat().st_size for p in Path(location.target).parent.glob(Path(location.target).name + "*"))
    import psycopg
    with psycopg.connect(location.target) as conn:
        return int(conn.execute("SELECT pg_total_relation_size('textregion_objects')").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=positive_ints, default=[1000, 10000, 100000])
    parser.add_argument("--out", help="write OUT.json and OUT.txt")
    args = parser.parse_args()
    import tempfile
    server = PostgresServer()
    results = {"machine": cpu_model(), "token_values": DIM, "tracks_per_frame": TRACKS, "sizes": {}}
    try:
        folder = Path(tempfile.mkdtemp(prefix="memory-bench-"))
        kinds = {"sqlite": lambda n: resolve_store(str(folder / f"m{n}.sqlite")),
                 "postgresql": lambda n: resolve_store(fresh_postgres_url(server))}
        results["frame_enqueue_us"] = frame_cost_us(kinds["sqlite"]("frame"))
        results["writer_objects_per_s"] = {kind: throughput(make("tp"), 5000) for kind, make in kinds.items()}
        for size in args.sizes:
            for kind, make in kinds.items():
                location = make(size)
                store = open_store(location)
                batch = objects(size)
                for i in range(0, size, 5000):
                    store.upsert(batch[i:i + 5000])
                store.close()
                del batch
                seconds, count, added_mib, index = cold_start(location)
                results["sizes"].setdefault(str(size), {})[kind] = {
                    "cold_start_s": seconds, "find_ms": find_ms(index), "index_rss_mib": added_mib,
                    "disk_bytes_per_1000": disk_bytes(location) / size * 1000}
                del index
        results["fleet_delay_s_flush_0.2"] = fleet_delay_s(fresh_postgres_url(server))
    finally:
        server.stop()
    rows = [[size, kind, f"{v['cold_start_s']:.3f}", f"{v['find_ms']:.2f}", f"{v['index_rss_mib']:.1f}",
             f"{v['disk_bytes_per_1000'] / 1024:.0f}"]
            for size, by_kind in results["sizes"].items() for kind, v in by_kind.items()]
    text = (f"object store, {results['machine']}; tokens of {DIM} values\n"
            f"frame thread, one enqueue of {TRACKS} tracks: {results['frame_enqueue_us']:.1f} us\n"
            f"writer throughput (500 objects a transaction): "
            + ", ".join(f"{k} {v:,.0f} objects/s" for k, v in results["writer_objects_per_s"].items()) + "\n"
            f"fleet delay (robot A enqueues -> robot B's index has it, memory_flush_s 0.2, PostgreSQL): "
            f"{results['fleet_delay_s_flush_0.2']:.2f} s (median of 5)\n"
            + format_table(["objects", "store", "cold start s", "find ms", "index RSS MiB", "disk KiB/1000"], rows))
    print(text)
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(results, indent=2) + "\n")
        Path(args.out + ".txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
