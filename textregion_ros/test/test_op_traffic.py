"""engine/op_traffic.py: the op-level byte estimate the decoder's traffic figure is built on."""
from __future__ import annotations

import torch

from textregion_ros.engine.op_traffic import OUTSIDE, OpTraffic, addressed_bytes


def test_a_broadcast_dimension_is_addressed_once():
    row = torch.zeros(1, 8)
    assert addressed_bytes(row.expand(100, 8)) == addressed_bytes(row) == 8 * 4


def test_an_empty_tensor_addresses_nothing():
    assert addressed_bytes(torch.zeros(0, 8)) == 0


def test_an_add_counts_both_inputs_and_its_output():
    a, b = torch.ones(16, 16), torch.ones(16, 16)
    with OpTraffic() as traffic:
        a + b
    assert traffic.result.bytes_by_op["add"] == 3 * 16 * 16 * 4
    assert traffic.result.kernels == 1


def test_views_move_no_bytes():
    a = torch.ones(16, 16)
    with OpTraffic() as traffic:
        a.view(256).transpose(0, 0).reshape(16, 16)
    assert traffic.result.total_bytes == 0


def test_ops_are_attributed_to_the_submodule_that_runs_them():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    x = torch.ones(2, 4)
    with torch.no_grad(), OpTraffic(model) as traffic:
        x * 2  # before any submodule ran
        model(x)
    by_module = traffic.result.bytes_by_module
    assert set(by_module) == {OUTSIDE, "0", "1"}
    assert by_module["1"] == 2 * (2 * 4 * 4)  # relu reads and writes [2,4] fp32
