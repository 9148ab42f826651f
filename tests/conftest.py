"""Test configuration.

The Numba CUDA simulator must be enabled before numba is first imported, so it is set here, at
collection time. ``backend="auto"`` ignores the simulator (it is for tests, not for speed).
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (ROOT / "problems" / "examples").glob("*.yaml"))


@pytest.fixture
def tiny_problem_dict():
    """A small valid problem as a dict (tests mutate copies of it)."""
    return {
        "schema_version": "tokenfleet/1",
        "name": "tiny",
        "hardware": [{"id": "h100-sxm", "available": 16}, {"id": "b200", "available": 8}],
        "workloads": [{
            "name": "chat", "model": "llama-3.1-8b", "input_tokens": 1024, "output_tokens": 256,
            "demand": {"requests_per_s": 20}, "sla": {"ttft_ms": 1000, "min_output_tok_s_per_user": 30},
        }],
        "search": {"precisions": ["fp8"], "tensor_parallel": [1, 2]},
    }


@pytest.fixture
def base_file(tmp_path, tiny_problem_dict):
    """``tiny_problem_dict`` written as a problem file (the base of sweeps and output tests)."""
    import yaml  # noqa: PLC0415

    p = tmp_path / "base.yaml"
    p.write_text(yaml.safe_dump(tiny_problem_dict))
    return p
