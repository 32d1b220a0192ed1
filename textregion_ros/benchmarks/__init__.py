"""The benchmark scripts: each prints its tables (per stage, ratios measured in one run) and can write a
JSON record; the records live in docs/benchmarks/ with the machine named.

Run one as a module, with textregion_ros/ (the folder holding this package and the python package) on
the path, from the repository root:

    PYTHONPATH=textregion_ros python -m benchmarks.engine_stages --help

What the scripts share lives in common.py (machine name, timers, tables, configs) and scenes.py
(synthetic scenes); the other modules without a main (frame_runs, node_probe, region_sweep,
compiled_stages, injected_regions, side_rate) are parts of the scripts that import them. No script
imports another script, and nothing here edits sys.path. Not installed with the package (setup.py
packages only textregion_ros): a robot gets no benchmarks.
"""
