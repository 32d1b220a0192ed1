"""`textregion memory` against real stores (a SQLite file, the test PostgreSQL server), without ROS."""
from __future__ import annotations

import time

import numpy as np
import pytest

from store_helpers import MODEL, fresh_location, stored
from textregion_ros.cli import main
from textregion_ros.objects.store import open_store
from textregion_ros.tooling.params_files import preset_file


@pytest.fixture(params=("sqlite", "postgresql"))
def store_text(request, tmp_path):
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    location = fresh_location(request.param, tmp_path, server)
    open_store(location).upsert([stored(1, seen_ns=time.time_ns()), stored(2, robot="robot_b"), stored(3, seen_ns=5)])
    return location.target


def test_list_prints_one_line_per_object(store_text, capsys):
    assert main(["memory", "--store", store_text, "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and any(line.startswith("robot_b") for line in lines)


def test_list_never_prints_the_password(store_text, capsys):
    main(["memory", "--store", store_text, "list", "--robot", "robot_b"])
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 1 and "s3cret" not in captured.out + captured.err


def test_export_then_import_into_another_store_keeps_every_object(store_text, tmp_path, capsys):
    exported = tmp_path / "objects.jsonl"
    assert main(["memory", "--store", store_text, "export", str(exported)]) == 0
    other = tmp_path / "other.sqlite"
    assert main(["memory", "--store", str(other), "import", str(exported)]) == 0
    a = {o.key: o for o in open_store(fresh_store(store_text)).objects()}
    b = {o.key: o for o in open_store(fresh_store(str(other))).objects()}
    assert a.keys() == b.keys() and all((a[k].token == b[k].token).all() and a[k].box == b[k].box for k in a)


def fresh_store(text):
    from textregion_ros.objects.store_records import resolve_store
    return resolve_store(text)


def test_forget_and_prune_delete_from_the_store(store_text, capsys):
    assert main(["memory", "--store", store_text, "forget", "--robot", "robot_b"]) == 0
    assert main(["memory", "--store", store_text, "prune", "--older-than", "1e8"]) == 0
    assert sorted(o.track_id for o in open_store(fresh_store(store_text)).objects()) == [1]


def test_a_refused_store_is_an_error_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "x.sqlite"
    bad.write_text("not sqlite")
    assert main(["memory", "--store", str(bad), "list"]) == 2
    assert "not a SQLite database" in capsys.readouterr().err


def test_find_scores_only_the_objects_of_the_configured_model(tmp_path, capsys):
    path = tmp_path / "m.sqlite"
    mine = stored(1)  # MODEL is the cpu_smoke preset's model id; PE-Core-T's tokens have 512 values
    mine.token = np.ones(512, dtype=np.float32) / np.sqrt(512.0)
    open_store(fresh_store(str(path))).upsert([mine, stored(2, model="clip:ViT-B-16:openai")])
    code = main(["memory", "--store", str(path), "--config", str(preset_file("cpu_smoke")), "find", "red mug"])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert code == 0 and "1 objects of another model" in captured.err and MODEL.startswith("pe:")
    assert len(lines) == 1 and lines[0].startswith("'red mug'") and " robot_a " in lines[0]
