"""The side-by-side benchmark's row mapping and scoring (benchmarks/vs_aiconfigurator.py, vs_tables.py)."""

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import vs_aiconfigurator as vs  # noqa: E402
from silicon import SiliconRow  # noqa: E402
from silicon import predict_layout  # noqa: E402
from vs_tables import _reason, calibration_table, load_predictions  # noqa: E402


def _row(**kw):
    base = dict(id="x", source="s", hardware="h200-sxm", model="deepseek-r1", precision="fp8", moe_quant="fp8",
                engine="sglang", engine_version="", mode="aggregated", isl=1024, osl=1024, concurrency=64,
                ttft_s=0.5, tpot_s=0.02, tp=8, ep=1, dp=1, pp=1, batch=64)
    return SiliconRow(**{**base, **kw})


def _silicon_layout(r):
    return predict_layout(r.tp, r.dp, r.ep, r.pp)


def test_tokenfleet_layouts_of_silicon_rows():
    assert _silicon_layout(_row(tp=8, ep=1, dp=1)) == (8, 1)            # pure tensor parallel
    assert _silicon_layout(_row(tp=1, ep=8, dp=8)) == (8, 8)            # attention-DP + EP
    # attention tensor-parallel with the experts spread over the same GPUs (TEP): the tensor-parallel
    # layout (the same expert bytes per GPU, attention split and all-reduced), not attention DP
    assert _silicon_layout(_row(tp=8, ep=8, dp=1)) == (8, 1)
    assert _silicon_layout(_row(tp=8, ep=4, dp=1)) == (8, 1)            # experts TP x EP over the 8
    assert _silicon_layout(_row(tp=2, ep=1, dp=4)) == "attention TP x DP hybrid"
    assert _silicon_layout(_row(tp=1, ep=1, dp=4)) == "attention DP without matching EP"
    assert _silicon_layout(_row(tp=8, ep=1, dp=1, pp=2)) == "pipeline parallel"


def test_aiconfigurator_layout_of_a_dep_row_and_of_a_dense_row():
    assert vs._layout("deepseek-r1", 4, 4) == dict(tp_size=1, attention_dp_size=4, moe_tp_size=1, moe_ep_size=4)
    assert vs._layout("llama-3.3-70b", 2, None) == dict(tp_size=2, attention_dp_size=1, moe_tp_size=None,
                                                        moe_ep_size=None)
    assert vs._quant("fp8", "deepseek-r1") == ("fp8_block", "fp8_block")
    assert vs._quant("fp4", "llama-3.3-70b") == ("nvfp4", "nvfp4")
    assert vs._quant("fp4", "gpt-oss-120b") == (None, None)


def test_every_max_throughput_row_and_aggregated_silicon_row_becomes_a_job():
    jobs = vs.build_jobs()
    cal = [j for j in jobs if j["set"] == "calibration"]
    sil = [j for j in jobs if j["set"] == "silicon"]
    assert len(cal) == len(vs.calibration_rows()) > 50
    assert len(sil) == len(vs.silicon_rows()) > 2000
    assert all(j["system_name"] in vs.HARDWARE_SYSTEM.values() for j in jobs)
    # a MoE silicon job keeps tp x dp = moe_tp x moe_ep, as aiconfigurator requires
    for j in sil:
        if j["moe_ep_size"] is not None:
            assert j["tp_size"] * j["attention_dp_size"] == j["moe_tp_size"] * j["moe_ep_size"]


def test_error_reasons_are_countable():
    a = _reason("RuntimeError: OOM: the model 'x' does not fit at /tmp/a/b with tp=8, pp=1")
    b = _reason("RuntimeError: OOM: the model 'y' does not fit at /home/c with tp=4, pp=2")
    assert a == b and "/tmp" not in a
    m = _reason('PerfDataNotAvailableError: MoE data missing for MoeKey { quant: ""fp8"", topk: 8 }')
    assert "fp8" in m and "MoE" in m
    assert _reason("ValueError: bad size 12 at /x/y") == "ValueError: bad size N"


def test_calibration_table_scores_aiconfigurator_with_the_symmetric_error(tmp_path):
    rows = vs.calibration_rows()[:2]
    path = tmp_path / "p.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=vs.PRED_FIELDS)
        w.writeheader()
        # first row predicted at exactly twice its measurement (error 100%), second failed
        w.writerow(dict(set="calibration", row_id=f"line {rows[0].line}", aiconfigurator_version="0.12.0",
                        output_tok_s_per_gpu=2 * rows[0].measured * (rows[0].osl / (rows[0].isl + rows[0].osl)
                                                                    if rows[0].metric == "total" else 1), error=""))
        w.writerow(dict(set="calibration", row_id=f"line {rows[1].line}", aiconfigurator_version="0.12.0",
                        error="RuntimeError: OOM"))
    lines, missing = calibration_table(rows, load_predictions(path))
    all_row = lines[-1].split(" | ")
    assert all_row[4] == "1" and all_row[5] == "100%"
    assert missing == {_reason("RuntimeError: OOM"): 1}


def test_missing_prediction_cache_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="--predict"):
        load_predictions(tmp_path / "none.csv")
