"""process_stats: /proc readings of a real process and the slope fit the soak and leak figures rest on."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from textregion_ros.tooling import process_stats

STATUS_TEXT = """Name:\tpython
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t 1234567 kB
VmRSS:\t  456789 kB
Threads:\t7
"""


def test_parse_status_reads_the_fields_the_samples_use():
    fields = process_stats.parse_status(STATUS_TEXT)
    assert fields["Threads"] == "7"
    assert process_stats.kilobytes(fields["VmRSS"]) == 456789
    assert fields["State"] == "S (sleeping)"


def test_kilobytes_refuses_another_unit():
    with pytest.raises(ValueError, match="unit"):
        process_stats.kilobytes("12 MB")


def test_sample_of_this_process_counts_an_extra_open_file_and_thread():
    before = process_stats.sample(os.getpid())
    assert before.rss_kb > 1000 and before.threads >= 1 and before.open_files >= 3
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    with open(__file__) as handle:
        thread.start()
        try:
            during = process_stats.sample(os.getpid())
        finally:
            release.set()
            thread.join()
        assert handle.readable()
    assert during.open_files == before.open_files + 1
    assert during.threads == before.threads + 1
    assert set(during.as_dict()) == {"rss_kb", "threads", "open_files", "rss_anon_kb", "rss_file_kb", "rss_shmem_kb"}
    assert during.rss_anon_kb + during.rss_file_kb + during.rss_shmem_kb == pytest.approx(during.rss_kb, abs=1024)


def test_sample_of_an_ended_process_raises_process_lookup_error():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: /proc/<pid> is gone
    with pytest.raises(ProcessLookupError):
        process_stats.sample(child.pid)


def test_cpu_model_reads_the_model_name_line():
    text = "processor\t: 0\nmodel name\t: Example CPU @ 2.00GHz\nflags\t: fpu\n"
    assert process_stats.cpu_model(text) == "Example CPU @ 2.00GHz"
    assert process_stats.cpu_model("processor\t: 0\n") == ""


def test_fit_line_recovers_an_exact_line():
    xs = [0, 100, 200, 300, 400]
    fit = process_stats.fit_line(xs, [5.0 + 0.25 * x for x in xs])
    assert fit.slope == pytest.approx(0.25)
    assert fit.intercept == pytest.approx(5.0)
    assert fit.per(1000) == pytest.approx(250.0)
    assert fit.n == 5


def test_fit_line_is_robust_to_one_outlier_compared_with_last_minus_first():
    xs = list(range(0, 1100, 100))
    ys = [1000.0] * len(xs)
    ys[-1] = 1500.0  # one sample caught mid-allocation
    slope = process_stats.fit_line(xs, ys).per(1000)
    assert 0 < slope < (ys[-1] - ys[0])


@pytest.mark.parametrize("xs, ys", [([1], [1.0]), ([3, 3], [1.0, 2.0]), ([1, 2], [1.0])])
def test_fit_line_refuses_points_without_a_slope(xs, ys):
    with pytest.raises(ValueError):
        process_stats.fit_line(xs, ys)


def test_slope_per_cuts_the_warm_up_and_skips_missing_values():
    xs = [0, 100, 200, 300, 400, 500]
    ys = [0.0, 900.0, 1000.0, None, 1020.0, 1030.0]  # steep warm-up, then 0.1 per frame
    assert process_stats.slope_per(xs, ys, start=200) == pytest.approx(100.0)
    assert process_stats.slope_per(xs, [None] * 6) is None
    assert process_stats.slope_per(xs, ys, start=500) is None


def test_spread_is_max_minus_min():
    assert process_stats.spread([3, 9, 4]) == 6
    assert process_stats.spread([]) == 0.0
