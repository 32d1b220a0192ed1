"""`textregion memory`: look at and tend a robot's object store from a laptop, without ROS.

    textregion memory [--store FILE|URL] list [--robot R] [--json]
    textregion memory [--store ...] find "red mug" [--max N]        (scores with the configured text encoder)
    textregion memory [--store ...] forget --robot R [--session S] [--track N ...]
    textregion memory [--store ...] export FILE.jsonl / import FILE.jsonl   (a portable file, one object a line)
    textregion memory [--store ...] prune --older-than SECONDS

--store defaults to the settings' memory_store (--config / -p memory_store=..., else the table's default
file under $ROS_HOME). Passwords in a URL are never printed.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from dataclasses import asdict, fields

import numpy as np

from ..objects.store import ObjectStore, open_store
from ..objects.store_records import StoredObject, StoreError, resolve_store
from .settings import EXIT_USAGE, UsageError, settings_from_args


def add_memory_parser(commands, add_shared) -> None:
    """The `memory` subcommand and its actions, on the parser the CLI builds."""
    memory = commands.add_parser("memory", help="list, search, forget, export/import or prune an object store",
                                 description=__doc__.split("\n\n")[1], formatter_class=argparse.RawTextHelpFormatter)
    memory.add_argument("--store", metavar="FILE|URL", help="SQLite file or postgresql:// URL (default: the "
                        "settings' memory_store)")
    actions = memory.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="every stored object")
    listing.add_argument("--robot", action="append", default=[], help="only this robot (repeatable)")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    search = actions.add_parser("find", help="objects matching phrases (loads the configured models)")
    search.add_argument("phrase", help='comma-separated phrases, e.g. "red mug, chair"')
    search.add_argument("--max", type=int, default=10, help="at most this many (default 10)")
    forget = actions.add_parser("forget", help="delete one robot's objects")
    forget.add_argument("--robot", required=True)
    forget.add_argument("--session", default="")
    forget.add_argument("--track", type=int, action="append", default=[])
    export = actions.add_parser("export", help="write every object to a JSON-lines file")
    export.add_argument("file")
    load = actions.add_parser("import", help="add (or update) the objects of a JSON-lines file")
    load.add_argument("file")
    prune = actions.add_parser("prune", help="delete objects last seen more than SECONDS ago")
    prune.add_argument("--older-than", type=float, metavar="SECONDS",
                       help="default: the settings' memory_retention_s")
    add_shared(memory)
    memory.set_defaults(run=run_memory)


def object_json(obj: StoredObject) -> dict:
    """A stored object as JSON-safe values: the token as base64 of little-endian float16, tuples as lists."""
    values = asdict(obj)
    values["token"] = base64.b64encode(np.asarray(obj.token, dtype="<f2").tobytes()).decode()
    for name in ("box", "centre", "box_centre", "size", "orientation"):
        values[name] = [None if not np.isfinite(v) else v for v in values[name]]
    return values


def object_from_json(values: dict) -> StoredObject:
    """The inverse of object_json; keys that are not fields (from a newer export) are dropped."""
    known = {f.name for f in fields(StoredObject)}
    values = {k: v for k, v in values.items() if k in known}
    values["token"] = np.frombuffer(base64.b64decode(values["token"]), dtype="<f2").astype(np.float32)
    for name in ("box", "centre", "box_centre", "size", "orientation"):
        values[name] = tuple(float("nan") if v is None else float(v) for v in values[name])
    return StoredObject(**values)


def _line(obj: StoredObject, score: str = "") -> str:
    where = f"({obj.centre[0]:.2f}, {obj.centre[1]:.2f}, {obj.centre[2]:.2f}) in {obj.region_3d}" if obj.has_3d else "-"
    seen = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(obj.last_seen_ns / 1e9))
    return (f"{score}{obj.robot_id:12s} {obj.session_id:16s} {obj.track_id:6d} {obj.sightings:6d} {seen}Z "
            f"map={obj.map_id or '-'} {where} [{obj.model}]")


def run_memory(args: argparse.Namespace) -> int:
    """Runs one `memory` action against the store the arguments name; the exit status for the CLI."""
    settings = settings_from_args(args)
    if not getattr(args, "action", None):
        raise UsageError("say what to do: list, find, forget, export, import or prune")
    location = resolve_store(args.store if args.store is not None else str(settings.node["memory_store"]))
    if location.kind == "ram":
        raise UsageError("memory_store is '' (RAM only): there is no store to look at; pass --store FILE|URL")
    try:
        store = open_store(location)
    except StoreError as error:
        print(f"textregion memory: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _act(args, settings, store)
    except StoreError as error:
        print(f"textregion memory: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _act(args: argparse.Namespace, settings, store: ObjectStore) -> int:
    out = sys.stdout
    if args.action == "list":
        for obj in store.objects(robot_ids=args.robot):
            out.write((json.dumps(object_json(obj)) if args.json else _line(obj)) + "\n")
    elif args.action == "find":
        return _find(args, settings, store)
    elif args.action == "forget":
        count = store.forget(args.robot, args.session, args.track)
        out.write(f"forgot {count} objects of robot {args.robot!r}\n")
    elif args.action == "export":
        objects = store.objects()
        with open(args.file, "w") as handle:
            for obj in objects:
                handle.write(json.dumps(object_json(obj)) + "\n")
        out.write(f"exported {len(objects)} objects to {args.file}\n")
    elif args.action == "import":
        with open(args.file) as handle:
            objects = [object_from_json(json.loads(line)) for line in handle if line.strip()]
        store.upsert(objects)
        out.write(f"imported {len(objects)} objects from {args.file}\n")
    elif args.action == "prune":
        older = args.older_than if args.older_than is not None else float(settings.node["memory_retention_s"])
        if older <= 0:
            raise UsageError("prune needs --older-than SECONDS (or memory_retention_s > 0)")
        count = store.prune(time.time_ns() - int(older * 1e9))
        out.write(f"pruned {count} objects last seen more than {older:g} s ago\n")
    return 0


def _find(args: argparse.Namespace, settings, store: ObjectStore) -> int:
    from ..engine import TextRegionEngine, split_query_text
    from ..objects.stored_index import StoredIndex
    from .settings import query_set

    queries = query_set(split_query_text(args.phrase), required=True)
    engine = TextRegionEngine(settings.config)
    try:
        index = StoredIndex(settings.config.model_id)
        index.put(store.objects())
        if index.other_models:
            print(f"{index.other_models} objects of another model than {settings.config.model_id} are not scored",
                  file=sys.stderr)
        for hit in index.search(engine.token_scorer(queries), time.time_ns(), max_results=args.max):
            sys.stdout.write(_line(hit.obj, f"{queries.classes[hit.class_index]!r:16s} {hit.score:.3f} ") + "\n")
    finally:
        engine.close()
    return 0
