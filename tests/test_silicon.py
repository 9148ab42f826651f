"""The silicon sample copy and its mapping onto catalog ids (benchmarks/silicon.py)."""

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from silicon import DATA, SiliconRow, load_silicon_rows, map_model  # noqa: E402

from problems import get_model, hardware_catalog, model_catalog  # noqa: E402

HEADER = ("id,silicon_data_source,backend,backend_version,model_path,system,precision,mode,isl,osl,"
          "gemm_quant_mode,moe_quant_mode,batch_size,tp_size,pp_size,attention_dp_size,moe_tp_size,"
          "moe_ep_size,prefill_batch_size,prefill_num_workers,prefill_tp_size,prefill_pp_size,"
          "prefill_attention_dp_size,prefill_moe_tp_size,prefill_moe_ep_size,decode_batch_size,"
          "decode_num_workers,decode_tp_size,decode_pp_size,decode_attention_dp_size,decode_moe_tp_size,"
          "decode_moe_ep_size,silicon_ttft_ms,silicon_tpot_ms")


@pytest.fixture(scope="module")
def loaded():
    return load_silicon_rows()


def _agg(system="h200_sxm", model="meta-llama/Llama-3.1-70B", quant="fp8", tp=4, dp=1, moe_tp="",
         moe_ep="", batch=32, src="x; silicon_concurrency=32", rid="r1"):
    cells = [rid, src, "vllm", "0.12.0", model, system, quant, "agg", "1024", "1024", quant, quant,
             str(batch), str(tp), "1", str(dp), str(moe_tp), str(moe_ep)] + [""] * 14 + ["250.0", "12.5"]
    return ",".join(f'"{c}"' if "," in c else c for c in cells)


def _write(tmp_path, *lines):
    p = tmp_path / "s.csv"
    p.write_text("\n".join((HEADER,) + lines) + "\n", encoding="utf-8")
    return p


def test_copy_keeps_every_row_of_the_wheel_sample():
    with open(DATA, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5221
    assert len({r["id"] for r in rows}) == 5221
    assert all(r["silicon_data_source"] for r in rows)


def test_every_row_is_mapped_or_counted(loaded):
    rows, excluded = loaded
    assert len(rows) + sum(excluded.values()) == 5221
    assert excluded["model not in the catalog (Qwen/Qwen3.5-397B-A17B)"] == 351
    # Kimi-K2.5's INT4 weight-only rows have no catalog precision; its NVFP4 rows are mapped
    assert excluded["precision not in the catalog (int4_wo)"] == 90
    assert sum(r.model == "kimi-k2.5" for r in rows) == 241 - 90
    assert sum(r.model == "minimax-m2.5" for r in rows) == 523
    assert sum(r.mode == "aggregated" for r in rows) > 2000


def test_rows_carry_catalog_ids_and_their_origin(loaded):
    rows, _ = loaded
    hw, models = set(hardware_catalog()), set(model_catalog())
    for r in rows:
        assert r.hardware in hw and r.model in models
        assert r.precision in get_model(r.model).precisions
        assert r.engine in ("trtllm", "vllm", "sglang")
        assert r.id and r.source
    assert {r.hardware for r in rows} == {"h100-sxm", "h200-sxm", "b200", "b300", "gb200-nvl72", "gb300-nvl72"}


def test_latencies_are_seconds(loaded):
    rows, _ = loaded
    with open(DATA, newline="", encoding="utf-8") as f:
        raw = {r["id"]: r for r in csv.DictReader(f)}
    for r in rows[:50]:
        assert r.ttft_s == pytest.approx(float(raw[r.id]["silicon_ttft_ms"]) / 1e3)
        assert r.tpot_s == pytest.approx(float(raw[r.id]["silicon_tpot_ms"]) / 1e3)
    # a decode step between 1 ms and 1 s: milliseconds read as seconds would fail this
    assert all(1e-3 < r.tpot_s < 1.0 for r in rows)


@pytest.mark.parametrize("path, expected", [
    ("deepseek-ai/DeepSeek-R1", "deepseek-r1"), ("nvidia/DeepSeek-R1-NVFP4", "deepseek-r1"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"), ("nvidia/Llama-3.1-8B-Instruct-FP8", "llama-3.1-8b"),
    ("Qwen/Qwen3-235B-A22B-FP8", "qwen3-235b-a22b"), ("openai/gpt-oss-120b", "gpt-oss-120b"),
    ("moonshotai/Kimi-K2.5", "kimi-k2.5"), ("MiniMaxAI/MiniMax-M2.5", "minimax-m2.5"),
    ("nvidia/DeepSeek-V3.1-NVFP4", None), ("Qwen/Qwen3.5-397B-A17B", None),
])
def test_model_names_map_to_catalog_ids(path, expected):
    assert map_model(path) == expected


def test_precision_engine_and_concurrency_of_one_row(tmp_path):
    rows, excluded = load_silicon_rows(_write(tmp_path, _agg(quant="nvfp4", system="b200_sxm")))
    assert excluded == {}
    (r,) = rows
    assert isinstance(r, SiliconRow)
    assert (r.hardware, r.model, r.precision, r.engine, r.mode) == ("b200", "llama-3.1-70b", "fp4", "vllm", "aggregated")
    assert (r.tp, r.ep, r.dp, r.pp, r.batch, r.concurrency, r.gpus) == (4, 1, 1, 1, 32, 32, 4)
    assert r.ttft_s == pytest.approx(0.25) and r.tpot_s == pytest.approx(0.0125)


def test_unknown_hardware_model_and_precision_are_counted(tmp_path):
    rows, excluded = load_silicon_rows(_write(
        tmp_path, _agg(system="h100_pcie", rid="a"), _agg(model="zhipuai/GLM-5", rid="b"),
        _agg(quant="int4_wo", rid="c"), _agg(tp=28, rid="d")))
    assert rows == []
    assert excluded == {"hardware not in the catalog (h100_pcie)": 1, "model not in the catalog (zhipuai/GLM-5)": 1,
                        "precision not in the catalog (int4_wo)": 1, "tensor-parallel degree not a power of two": 1}


def test_moe_degrees_multiplied_into_tp_are_read_as_the_ids_layout(tmp_path):
    # the sample's gpt-oss row ..._tp4_ep4_926 records tp_size=16, moe_tp=4, moe_ep=4
    rows, excluded = load_silicon_rows(_write(
        tmp_path, _agg(model="openai/gpt-oss-120b", tp=16, moe_tp=4, moe_ep=4, rid="a"),
        _agg(model="openai/gpt-oss-120b", tp=1, moe_tp=8, moe_ep=8, rid="b"),
        _agg(model="openai/gpt-oss-120b", tp=1, moe_tp=2, moe_ep=1, rid="c")))
    assert [(r.tp, r.ep, r.gpus, r.precision) for r in rows] == [(4, 4, 4, "fp4")]
    assert excluded == {"MoE tensor x expert hybrid (attention layout not recorded)": 1,
                        "parallel sizes inconsistent (tp x attention-dp != moe-tp x moe-ep)": 1}


def test_attention_dp_concurrency_without_a_recorded_client_figure(tmp_path):
    rows, _ = load_silicon_rows(_write(tmp_path, _agg(model="openai/gpt-oss-120b", tp=1, dp=4, moe_tp=1,
                                                      moe_ep=4, batch=64, src="no figure")))
    assert (rows[0].concurrency, rows[0].gpus, rows[0].ep) == (256, 4, 4)


def test_disaggregated_rows_carry_both_pools(loaded):
    rows, _ = loaded
    r = next(x for x in rows if x.id.startswith("2026_03_25_deepseek_r1_gb200_trtllm_fp4_disagg_1024x8192_c2048"))
    assert r.mode == "disaggregated" and r.tp is None
    assert (r.prefill.tp, r.prefill.ep, r.decode.tp, r.decode.ep) == (4, 4, 32, 4)
    assert r.prefill.workers is None and r.gpus is None
    assert r.concurrency == 2048
