"""Launch settings from a plan: every option written is one the engine documents for the named
version, configurations an engine cannot run are said so, and replicas map onto whole units."""

import csv
import json
import shlex
import subprocess

import pytest
import yaml

import optimizer
import problems
from optimizer.cli import main
from optimizer.deploy import (ENGINES, configuration_words, deployment, engine_catalog, placement,
                              write_deployments)


def flags(args: list[str]) -> set[str]:
    return {a for a in args if a.startswith("--")}


def yaml_keys(d: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in d.items():
        keys.add(prefix + k)
        if isinstance(v, dict):
            keys |= yaml_keys(v, prefix + k + ".")
    return keys


def check_documented(dep: dict) -> int:
    """Assert every option of every runnable engine is in the engine's documented list; count them."""
    n = 0
    for e, spec in dep["engines"].items():
        if not spec["runnable"]:
            continue
        doc = engine_catalog()[e]
        for f in flags(spec["args"]):
            assert f in doc["documented"], f"{e} {doc['version']}: {f} is not a documented option"
            n += 1
        for i, a in enumerate(spec["args"][:-1]):    # values with a documented value list
            if a in doc.get("values", {}):
                assert spec["args"][i + 1] in doc["values"][a], (e, a, spec["args"][i + 1])
        for k in yaml_keys(spec.get("extra_yaml", {})):
            assert k in doc["documented_yaml_keys"], f"{e}: YAML key {k} is not documented"
            n += 1
    return n


def alloc(**kw) -> dict:
    a = dict(workload="chat", model="llama-3.3-70b", hardware="h200-sxm", precision="fp8", mode="tp", tp=2,
             ep=1, speculative="off", concurrency=48, replicas=20, gpus=40)
    a.update(kw)
    return a


CHAT = dict(input_tokens=2048, output_tokens=512, cached_input_fraction=0.0)


def test_engines_file_names_a_version_and_source_for_every_engine():
    cat = engine_catalog()
    assert set(cat) == set(ENGINES)
    for e in cat.values():
        assert e["version"] and e["source"] and e["support_source"] and e["documented"]


def test_llama_70b_fp8_tp2_reads_like_a_vllm_command():
    d = deployment(alloc(), CHAT)
    assert d["engines"]["vllm"]["command"] == (
        "vllm serve meta-llama/Llama-3.3-70B-Instruct --tensor-parallel-size 2 --max-num-seqs 48 "
        "--max-model-len 2560 --quantization fp8 --kv-cache-dtype fp8 --port 8000")
    assert check_documented(d) > 10


def test_attention_dp_mtp_settings_for_deepseek_r1():
    d = deployment(alloc(workload="r1", model="deepseek-r1", hardware="b200", precision="fp8", mode="dep",
                         tp=8, ep=8, speculative="mtp", concurrency=768, replicas=2, gpus=16),
                   dict(input_tokens=1024, output_tokens=4096, cached_input_fraction=0.5))
    v, s, t = (d["engines"][e] for e in ENGINES)
    assert all(x["runnable"] for x in (v, s, t))
    va = v["args"]
    assert va[va.index("--data-parallel-size") + 1] == "8" and "--enable-expert-parallel" in va
    assert va[va.index("--max-num-seqs") + 1] == "96"          # per attention-DP rank
    spec = json.loads(va[va.index("--speculative-config") + 1])
    assert spec == {"method": "deepseek_mtp", "num_speculative_tokens": 1}
    assert "--quantization" not in va                          # DeepSeek-R1 ships FP8 weights
    assert "--enable-prefix-caching" in va
    sa = s["args"]
    assert {"--enable-dp-attention", "--dp-size", "--ep-size", "--speculative-algorithm"} <= flags(sa)
    assert "--disable-radix-cache" not in sa
    assert t["extra_yaml"]["enable_attention_dp"] is True
    assert t["extra_yaml"]["speculative_config"] == {"decoding_type": "MTP", "num_nextn_predict_layers": 1}
    assert t["extra_yaml"]["kv_cache_config"]["enable_block_reuse"] is True
    check_documented(d)


def test_nvfp4_on_hopper_is_refused_by_every_engine_with_the_reason():
    d = deployment(alloc(precision="fp4"), CHAT)
    for e in ENGINES:
        spec = d["engines"][e]
        assert not spec["runnable"]
        assert "nvfp4" in spec["reason"] and "hopper" in spec["reason"]


def test_amd_hardware_gets_vllm_and_sglang_but_not_tensorrt_llm():
    d = deployment(alloc(hardware="mi300x", tp=1, gpus=20), CHAT)
    assert d["engines"]["vllm"]["runnable"] and d["engines"]["sglang"]["runnable"]
    assert not d["engines"]["trtllm"]["runnable"] and "cdna3" in d["engines"]["trtllm"]["reason"]


def test_placement_keeps_replicas_inside_units_or_spans_whole_units():
    p = placement(gpus_per_replica=8, unit_gpus=8, host_gpus=8, replicas=3)
    assert p["replicas_per_unit"] == 1 and p["units"] == 3
    p = placement(gpus_per_replica=16, unit_gpus=8, host_gpus=8, replicas=3)
    assert p["units_per_replica"] == 2 and p["units"] == 6 and p["multi_host"]
    p = placement(gpus_per_replica=16, unit_gpus=72, host_gpus=4, replicas=5)   # NVL72 rack
    assert p["replicas_per_unit"] == 4 and p["units"] == 2 and p["hosts_per_replica"] == 4


def test_configuration_in_words():
    assert configuration_words(alloc()) == "fp8, TP 2, batch 48"
    assert configuration_words(alloc(mode="dep", tp=8, ep=8, speculative="mtp", precision="fp4")) == \
        "fp4, attention-DP 8 + EP 8, batch 48, MTP"


@pytest.fixture(scope="module")
def chat_plan():
    return optimizer.solve(problems.load("chat-mixed-fleet"), backend="numpy", marginal_values=False)


def test_plan_deploy_writes_all_three_engines_for_every_chosen_configuration(tmp_path, capsys):
    assert main(["plan", "chat-mixed-fleet", "-q", "--deploy", str(tmp_path / "out")]) == 0
    deps = json.loads((tmp_path / "out" / "deployments.json").read_text())
    assert deps
    for i, d in enumerate(deps, 1):
        sub = next((tmp_path / "out").glob(f"{i:02d}-*"))
        for e in ENGINES:
            if d["engines"][e]["runnable"]:
                body = [ln for ln in (sub / f"{e}.sh").read_text().splitlines() if not ln.startswith("#")]
                words = shlex.split(" ".join(body).replace("\\", " "))
                assert flags(words) <= set(engine_catalog()[e]["documented"])
            else:
                assert not (sub / f"{e}.sh").exists()
        if d["engines"]["trtllm"]["runnable"]:
            extra = yaml.safe_load((sub / "trtllm-extra.yaml").read_text())
            assert yaml_keys(extra) <= set(engine_catalog()["trtllm"]["documented_yaml_keys"])
        for script in sub.glob("*.sh"):       # the shell reads every script without a syntax error
            assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script
        with open(sub / "replicas.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == d["replicas"] and list(rows[0]) == ["replica", "unit", "unit_gpus", "host", "devices",
                                                                 "port"]
        check_documented(d)
    # the b200 deployment (FP4) is runnable on every engine; the MI300X one would not be on TensorRT-LLM
    assert any(d["hardware"] == "b200" and all(s["runnable"] for s in d["engines"].values()) for d in deps)


def test_plan_deployments_matches_the_allocations(chat_plan, tmp_path):
    deps = chat_plan.deployments()
    assert [(d["hardware"], d["replicas"]) for d in deps] == \
        [(a["hardware"], a["replicas"]) for a in chat_plan.allocations]
    paths = write_deployments(chat_plan, tmp_path)
    assert all(p.exists() for p in paths)


def test_allocation_tables_and_csv_carry_the_configuration_in_words(chat_plan, tmp_path, capsys):
    assert all(a["configuration"].startswith(a["precision"] + ", ") for a in chat_plan.allocations)
    assert main(["plan", "chat-mixed-fleet", "-q", "--csv", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert all(a["configuration"] in printed for a in chat_plan.allocations)
    for name in ("allocations", "candidates"):
        with open(tmp_path / f"{name}.csv") as f:
            rows = list(csv.DictReader(f))
        assert rows and all(", TP " in r["configuration"] or "attention-DP" in r["configuration"] for r in rows)


@pytest.mark.parametrize("name", ["ai-factory", "reasoning-tiers", "chat-mixed-fleet"])
def test_replicas_of_all_deployments_fill_exactly_the_units_the_plan_buys(name):
    plan = optimizer.solve(problems.load(name), backend="numpy", marginal_values=False)
    deps = plan.deployments()
    for hw, u in plan.totals["units_by_type"].items():
        taken: dict = {}
        for d in (d for d in deps if d["hardware"] == hw):
            assert len(d["replica_rows"]) == d["replicas"]
            for row in d["replica_rows"]:
                lo, _, hi = row["unit_gpus"].partition("-")
                gpus = set(range(int(lo), int(hi or lo) + 1))
                units = row["unit"].split("-")
                for k in range(int(units[0]), int(units[-1]) + 1):
                    assert not taken.setdefault(k, set()) & gpus, (hw, k, row)   # no GPU given twice
                    assert max(gpus) < u["gpus_per_unit"]
                    taken[k] |= gpus
        assert sorted(taken) == list(range(u["units"]))            # the units bought, no more


def test_named_owned_and_rented_entries_deploy_on_their_catalog_hardware_and_unit(tiny_problem_dict):
    d = dict(tiny_problem_dict)
    d["hardware"] = [dict(id="h100-sxm", name="h100-owned", pricing="own", capex_usd=0.0, available=8),
                     dict(id="h100-sxm", name="h100-rented", unit_gpus=4)]
    d["workloads"] = [dict(d["workloads"][0], demand={"requests_per_s": 2000})]
    plan = optimizer.solve(problems.problem_from_dict(d), backend="numpy", marginal_values=False)
    deps = {x["hardware"]: x for x in plan.deployments()}
    assert set(deps) == {"h100-owned", "h100-rented"}
    assert deps["h100-owned"]["unit_gpus"] == 8 and deps["h100-rented"]["unit_gpus"] == 4
    for x in deps.values():
        assert x["hardware_family"] == "hopper" and x["engines"]["vllm"]["runnable"]


def test_a_precision_above_the_published_one_asks_for_a_converted_checkpoint():
    d = deployment(alloc(model="deepseek-r1", precision="bf16", tp=8, gpus=16, replicas=2), CHAT)
    assert "BF16 conversion" in d["checkpoint"]
    v = d["engines"]["vllm"]
    assert '"${MODEL}"' in v["command"] and "--quantization" not in v["args"]
    assert v["args"][v["args"].index("--kv-cache-dtype") + 1] == "auto"


def test_deploy_into_a_file_is_refused_before_solving(tmp_path, capsys):
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    assert main(["plan", "chat-mixed-fleet", "-q", "--deploy", str(f)]) == 2
    assert "--deploy" in capsys.readouterr().err


def test_replicas_on_a_rack_run_on_its_four_gpu_trays():
    deps = [deployment(alloc(workload="w", model="gpt-oss-120b", hardware="gb200-nvl72", precision="fp4",
                             mode="dep", tp=g, ep=g, replicas=n, gpus=g * n), CHAT) for g, n in ((8, 1), (4, 17))]
    from optimizer.deploy import assign_units

    assign_units(deps)
    big, small = deps[0]["replica_rows"][0], deps[1]["replica_rows"]
    assert (big["unit"], big["unit_gpus"], big["host"], big["devices"]) == ("0", "0-7", "0-1", "0,1,2,3")
    assert [r["host"] for r in small] == [str(h) for h in range(2, 18)] + ["18"]    # the 18th goes to rack 1
    assert {r["devices"] for r in small} == {"0,1,2,3"} and small[-1]["unit"] == "1"
