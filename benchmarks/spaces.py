"""Large configuration spaces for benchmarks (shared by the NumPy and GPU benchmarks)."""

from __future__ import annotations

import numpy as np

import problems
from kernels import build_space

PRICED = ["a100-sxm-80gb", "h100-sxm", "h200-sxm", "b200", "b300", "gb200-nvl72", "gb300-nvl72", "l40s",
          "rtx-pro-6000", "mi300x", "mi325x", "mi355x"]
# hardware the catalog's TCO price basis does not cover, priced at on-demand list prices (Modal
# A100 80GB and L40S, packet.ai RTX PRO 6000; research notes prices.csv) so the space keeps its size
LIST_PRICES = {"a100-sxm-80gb": 2.4984, "l40s": 1.9512, "rtx-pro-6000": 0.66}
SHAPES = [(1024, 1024), (8192, 1024), (1024, 8192)]


def big_problem(n_models: int = 17, shapes=SHAPES, hardware=PRICED) -> problems.Problem:
    """Every catalog model x sequence shapes x priced hardware, all precisions, tp 1..64."""
    models = list(problems.model_catalog())[:n_models]
    wls = []
    for m in models:
        for isl, osl in shapes:
            wls.append(dict(name=f"{m}-{isl}-{osl}", model=m, input_tokens=isl, output_tokens=osl,
                            demand={"output_tok_s": 1e5}, sla={"ttft_ms": 2000, "min_output_tok_s_per_user": 20}))
    return problems.problem_from_dict(dict(
        schema_version="tokenfleet/1", name="bench", hardware=[{"id": h, **({"price_usd_per_hour": LIST_PRICES[h]} if h in LIST_PRICES else {})}
                                                         for h in hardware], workloads=wls,
        search=dict(tensor_parallel=[1, 2, 4, 8, 16, 32, 64], max_concurrency=4096)))


def space_of_size(target: float, problem=None):
    """A space of about ``target`` configurations: the big problem with a dense batch grid."""
    p = problem or big_problem()
    s0 = build_space(p)
    groups = s0.size // len(s0.batches)
    nb = max(1, int(round(target / groups)))
    return build_space(p, batches=np.linspace(1, 4096, nb).round())
