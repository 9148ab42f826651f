"""From a plan to launch settings: vLLM, SGLang and TensorRT-LLM options for each chosen configuration.

The option names come from ``problems/data/engines.yaml`` (one named version per engine, with the
page documenting each option); nothing here spells an engine flag that file does not list. Where an
engine cannot run a configuration (a precision it lacks on that hardware), the deployment says so
instead of writing settings.

Replicas map onto buyable units (an 8-GPU node, a 72-GPU rack, one card): a replica of ``g`` GPUs
on units of ``U`` GPUs takes ``g`` GPUs of one unit when ``g <= U`` (``U // g`` replicas per unit),
else ``ceil(g / U)`` whole units over the scale-out network.
"""

from __future__ import annotations

import functools
import json
import math
import shlex
from importlib import resources
from pathlib import Path

import yaml

from problems import get_hardware, get_model

ENGINES = ("vllm", "sglang", "trtllm")
BASE_PORT = 8000


@functools.lru_cache(maxsize=1)
def engine_catalog() -> dict:
    """The engines file: per engine its version, documented options, values and support table."""
    text = resources.files("problems.data").joinpath("engines.yaml").read_text()
    return yaml.safe_load(text)["engines"]


def precision_key(model, precision: str) -> str:
    """bf16 | fp8 | nvfp4 | mxfp4: the engines' support tables tell FP4 formats apart."""
    if precision != "fp4":
        return precision
    return "mxfp4" if model.fp4_format.startswith("mxfp4") else "nvfp4"


def configuration_words(row: dict) -> str:
    """A configuration in words: precision, mode with its parallel sizes, batch and speculation.

    ``row`` has precision, tp, ep, mode (``tp`` or ``dep``), concurrency and speculative, and
    optionally pp (pipeline stages, default 1), as the candidate and allocation tables do.
    """
    if row.get("mode") == "dep" or row.get("ep", 1) > 1:
        par = f"attention-DP {row['tp']} + EP {row['ep']}"
    else:
        par = f"TP {row['tp']}"
    if row.get("pp", 1) > 1:
        par += f" x PP {row['pp']}"
    spec = ", MTP" if row.get("speculative") == "mtp" else ""
    return f"{row.get('precision_label') or row['precision']}, {par}, batch {row['concurrency']}{spec}"


def placement(gpus_per_replica: int, unit_gpus: int, host_gpus: int, replicas: int) -> dict:
    """How ``replicas`` replicas of ``gpus_per_replica`` GPUs sit on units of ``unit_gpus`` GPUs."""
    g, u = gpus_per_replica, unit_gpus
    if g <= u:
        per_unit = u // g
        units = math.ceil(replicas / per_unit)
        slots = [f"{i * g}-{i * g + g - 1}" if g > 1 else str(i * g) for i in range(per_unit)]
        text = (f"{_n(replicas, 'replica')} on {_n(units, 'unit')} of {u} GPUs: {per_unit} per unit, on GPUs "
                f"{', '.join(slots[:8])}{' ...' if len(slots) > 8 else ''}")
        out = dict(replicas_per_unit=per_unit, units=units, gpu_slots=slots)
    else:
        per = math.ceil(g / u)
        units = per * replicas
        text = (f"{_n(replicas, 'replica')} of {per} whole units each ({_n(units, 'unit')} of {u} GPUs), "
                "over the scale-out network")
        out = dict(units_per_replica=per, units=units, gpu_slots=[])
    hosts = math.ceil(g / host_gpus)
    out.update(text=text, hosts_per_replica=hosts, multi_host=hosts > 1)
    if hosts > 1 and g <= u:
        out["text"] += f"; each replica spans {hosts} hosts of {host_gpus} GPUs inside the unit's NVLink domain"
    return out


def _n(k: int, word: str) -> str:
    return f"{k:,} {word}{'' if k == 1 else 's'}"


def assign_units(deps: list[dict]) -> None:
    """Place every replica of the plan inside the units of its hardware, largest replicas first.

    Replicas of all deployments on one hardware share its units, as the plan bought them; each
    deployment gets ``replica_rows`` and ``placement['units_used']``. A row gives the replica's
    unit, the GPUs it takes inside the unit, the host(s) it runs on (hosts numbered over the
    hardware's units: a rack of 18 four-GPU trays holds hosts 18u..18u+17), the device ids on each
    host (``CUDA_VISIBLE_DEVICES``) and its port. With power-of-two replica sizes this first-fit
    fills exactly the units the plan counts, and no replica straddles a host it does not fill.
    """
    by_hw: dict = {}
    for i, d in enumerate(deps):
        by_hw.setdefault(d["hardware"], []).extend((d["gpus_per_replica"], i, r) for r in range(d["replicas"]))
    for reps in by_hw.values():
        u, hg = deps[reps[0][1]]["unit_gpus"], deps[reps[0][1]]["host_gpus"]
        free: list[int] = []          # free GPUs per unit, in opening order
        start = 0                     # units before this one are full for the current (and smaller) sizes
        rows: dict = {}
        for g, i, r in sorted(reps, key=lambda t: (-t[0], t[1], t[2])):
            if g > u:                 # whole units of its own over the scale-out network
                n = -(-g // u)
                first = len(free)
                free.extend([0] * n)
                unit, in_unit, base = (f"{first}-{first + n - 1}" if n > 1 else str(first)), f"0-{u - 1}", first * u
            else:
                while start < len(free) and free[start] < g:
                    start += 1
                k = next((k for k in range(start, len(free)) if free[k] >= g), None)
                if k is None:
                    free.append(u)
                    k = len(free) - 1
                off = u - free[k]
                free[k] -= g
                unit, in_unit, base = str(k), (f"{off}-{off + g - 1}" if g > 1 else str(off)), k * u + off
            idx = range(base, base + g)           # GPU numbers over all units of this hardware
            hosts = sorted({j // hg for j in idx})
            devices = sorted({j % hg for j in idx})
            port = BASE_PORT + (devices[0] // g if len(hosts) == 1 else 0)
            rows[(i, r)] = dict(replica=r, unit=unit, unit_gpus=in_unit, host=_ranges(hosts, limit=None),
                                devices=",".join(map(str, devices)), port=port)
        for i in {i for _, i, _ in reps}:
            d = deps[i]
            d["replica_rows"] = [rows[(i, r)] for r in range(d["replicas"])]
            used = sorted({x for row in d["replica_rows"] for x in _span(row["unit"])})
            d["placement"]["units_used"] = len(used)
            word = "rack" if u >= 32 else "node" if u > 1 else "GPU"
            d["placement"]["text"] += (f"; of the plan's {_n(len(free), word)} of {d['hardware']} (shared by its "
                                       f"deployments) it uses {_n(len(used), word)}: {_ranges(used)}")


def _span(text: str) -> range:
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def _ranges(xs: list[int], limit: int | None = 6) -> str:
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(f"{xs[i]}" if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    if limit is None:
        return ",".join(out)
    return ", ".join(out[:limit]) + (" ..." if len(out) > limit else "")


REPLICA_COLUMNS = ["replica", "unit", "unit_gpus", "host", "devices", "port"]


def replica_map(d: dict) -> list[dict]:
    """Each replica's unit, GPUs inside it, host(s), device ids and port (the rows of ``replicas.csv``)."""
    if "replica_rows" not in d:
        assign_units([d])
    return d["replica_rows"]


def _unsupported(engine: str, pkey: str, family: str) -> str | None:
    e = engine_catalog()[engine]
    fams = e["support"].get(pkey, [])
    if family in fams:
        return None
    return (f"{e['name']} {e['version']} does not run {pkey} on {family} hardware "
            f"(runs it on: {', '.join(fams) or 'none'}; {e['support_source'].split(';')[0].strip()})")


def _spec_method(model) -> str:
    return "deepseek_mtp" if model.family.lower().startswith("deepseek") else "mtp"


def _vllm(d: dict, model, pkey: str) -> dict:
    tp, ep = d["tp"], d["ep"]
    args = ["vllm", "serve", "${MODEL}"]
    if d["mode"] == "dep":       # attention data-parallel across the replica's GPUs, experts sharded
        args += ["--data-parallel-size", str(tp), "--enable-expert-parallel"]
        seqs = math.ceil(d["concurrency"] / tp)          # per data-parallel rank
    else:
        args += ["--tensor-parallel-size", str(tp)]
        seqs = d["concurrency"]
    if d["pp"] > 1:
        args += ["--pipeline-parallel-size", str(d["pp"])]
    args += ["--max-num-seqs", str(seqs), "--max-model-len", str(d["max_model_len"])]
    q = _quantization(d, model, pkey, {"fp8": "fp8", "nvfp4": "modelopt_fp4"})
    if q:
        args += ["--quantization", q]
    args += ["--kv-cache-dtype", "fp8" if d["kv_cache_dtype"] == "fp8" else "auto"]
    if d["speculative"] == "mtp":
        args += ["--speculative-config", json.dumps(dict(method=_spec_method(model),
                                                         num_speculative_tokens=model.mtp.layers))]
    if d["prefix_caching"]:
        args += ["--enable-prefix-caching"]
    if d.get("role"):            # a pool of a disaggregated deployment: KV cache over the connector
        args += ["--kv-transfer-config", json.dumps(_disagg("vllm")["kv_transfer_config"],
                                                    separators=(",", ":"))]
    if d["placement"]["multi_host"] and d["mode"] == "dep":
        # DP ranks spread over hosts; the other hosts run the same with --headless and their start rank
        args += ["--data-parallel-size-local", str(min(tp, d["host_gpus"])), "--data-parallel-address",
                 "${HEAD_ADDR}", "--data-parallel-rpc-port", "13345"]
    elif d["placement"]["multi_host"]:
        args += ["--distributed-executor-backend", "ray"]
    args += ["--port", "${PORT}"]
    return dict(args=args)


def _sglang(d: dict, model, pkey: str) -> dict:
    tp = d["tp"]
    args = ["python", "-m", "sglang.launch_server", "--model-path", "${MODEL}", "--tp-size", str(tp)]
    if d["mode"] == "dep":
        args += ["--dp-size", str(tp), "--enable-dp-attention", "--ep-size", str(d["ep"])]
    if d["pp"] > 1:
        args += ["--pp-size", str(d["pp"])]
    args += ["--max-running-requests", str(d["concurrency"]), "--context-length", str(d["max_model_len"])]
    q = _quantization(d, model, pkey, {"fp8": "fp8", "nvfp4": "modelopt_fp4"})
    if q:
        args += ["--quantization", q]
    if d["kv_cache_dtype"] == "fp8":
        args += ["--kv-cache-dtype", "fp8_e4m3"]
    if d["speculative"] == "mtp":    # MTP heads drive SGLang's EAGLE speculative path
        n = model.mtp.layers
        args += ["--speculative-algorithm", "EAGLE", "--speculative-num-steps", str(n),
                 "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", str(n + 1)]
    if not d["prefix_caching"]:
        args += ["--disable-radix-cache"]
    if d.get("role"):
        args += ["--disaggregation-mode", d["role"],
                 "--disaggregation-transfer-backend", _disagg("sglang")["transfer_backend"]]
    if d["placement"]["multi_host"]:
        args += ["--nnodes", str(d["placement"]["hosts_per_replica"]), "--node-rank", "${NODE_RANK}",
                 "--dist-init-addr", "${HEAD_ADDR}:5000"]
    args += ["--port", "${PORT}"]
    return dict(args=args)


def _trtllm(d: dict, model, pkey: str) -> dict:
    tp = d["tp"]
    args = ["trtllm-serve", "${MODEL}", "--backend", "pytorch", "--tp_size", str(tp)]
    if d["pp"] > 1:
        args += ["--pp_size", str(d["pp"])]
    extra: dict = {}
    if d["mode"] == "dep":
        args += ["--ep_size", str(d["ep"])]
        extra["enable_attention_dp"] = True
        batch = math.ceil(d["concurrency"] / tp)          # per attention-DP rank
    else:
        batch = d["concurrency"]
    args += ["--max_batch_size", str(batch), "--max_seq_len", str(d["max_model_len"])]
    extra["kv_cache_config"] = dict(dtype="fp8" if d["kv_cache_dtype"] == "fp8" else "auto",
                                    enable_block_reuse=bool(d["prefix_caching"]))
    if d["speculative"] == "mtp":
        extra["speculative_config"] = dict(decoding_type="MTP", num_nextn_predict_layers=model.mtp.layers)
    if d.get("role"):
        if d["role"] == "prefill":    # the overlap scheduler does not run on context servers
            extra["disable_overlap_scheduler"] = True
        # the transfer buffer holds a whole prompt's KV cache (the guide: at least the longest input)
        extra["cache_transceiver_config"] = dict(backend=_disagg("trtllm")["backend"],
                                                 max_tokens_in_buffer=int(d["max_input_tokens"]))
    args += ["--extra_llm_api_options", "${HERE}/trtllm-extra.yaml", "--port", "${PORT}"]
    return dict(args=args, extra_yaml=extra)


def _disagg(engine: str) -> dict:
    """The engine's documented disaggregated-serving settings (problems/data/engines.yaml)."""
    return engine_catalog()[engine]["disaggregated"]


def _quantization(d: dict, model, pkey: str, flags: dict) -> str | None:
    """The engine's quantization value, or None when the checkpoint already carries it."""
    if d["precision"] == model.native_precision:
        return None
    return flags.get(pkey)


def _checkpoint_note(d: dict, model, pkey: str) -> str:
    """Which checkpoint ``MODEL`` should name for the configuration's precision."""
    native = model.native_precision
    if d["precision"] == native:
        return f"{model.hf_repo} ships {native} weights: use it as is"
    if pkey == "bf16":
        return (f"{model.hf_repo} ships {native} weights: set MODEL to a BF16 conversion of it "
                "(the engines load BF16 weights as they are)")
    if pkey == "fp8" and native == "bf16":
        return (f"{model.hf_repo} ships bf16 weights: vLLM and SGLang quantize to FP8 at load time; "
                "TensorRT-LLM needs an FP8 checkpoint (NVIDIA ModelOpt export) as MODEL")
    return (f"{model.hf_repo} ships {native} weights: set MODEL to an {pkey.upper()} "
            "checkpoint of it (NVIDIA ModelOpt export)")


BUILDERS = dict(vllm=_vllm, sglang=_sglang, trtllm=_trtllm)


def deployment(alloc: dict, workload: dict, *, unit_gpus: int | None = None) -> dict:
    """Launch settings of one chosen configuration (an allocation row) for every engine."""
    model, hw = get_model(alloc["model"]), get_hardware(alloc.get("hardware_id") or alloc["hardware"])
    pkey = precision_key(model, alloc["precision"])
    unit = unit_gpus or alloc.get("unit_gpus") or hw.unit_gpus
    g = alloc["gpus"] // max(alloc["replicas"], 1)
    d = dict(workload=alloc["workload"], model=alloc["model"], hf_repo=model.hf_repo,
             hardware=alloc["hardware"], hardware_family=hw.family, precision=alloc["precision"],
             precision_format=pkey, mode=alloc.get("mode", "dep" if alloc["ep"] > 1 else "tp"),
             tp=alloc["tp"], pp=alloc.get("pp", 1), ep=alloc["ep"], speculative=alloc["speculative"],
             concurrency=alloc["concurrency"], replicas=alloc["replicas"], gpus_per_replica=g,
             configuration=configuration_words(alloc),
             max_model_len=int(workload["input_tokens"] + workload["output_tokens"]),
             max_input_tokens=int(workload["input_tokens"]), role=alloc.get("role"),
             kv_cache_dtype="fp8" if alloc["precision"] in ("fp8", "fp4") else "auto",
             prefix_caching=workload.get("cached_input_fraction", 0.0) > 0.0,
             unit_gpus=unit, host_gpus=hw.host_gpus)
    d["placement"] = placement(g, unit, hw.host_gpus, alloc["replicas"])
    d["checkpoint"] = _checkpoint_note(d, model, pkey)
    d["engines"] = {}
    for e in ENGINES:
        why = _unsupported(e, pkey, hw.family)
        if why is None and alloc["speculative"] == "mtp" and model.mtp is None:
            why = f"{model.id} has no MTP layers"
        if why is not None:
            d["engines"][e] = dict(runnable=False, reason=why)
            continue
        spec = BUILDERS[e](d, model, pkey)
        ec = engine_catalog()[e]
        # the checkpoint can be named when it is usable as published (or quantized at load time)
        as_is = d["precision"] == model.native_precision or (pkey == "fp8" and e != "trtllm")
        words = [model.hf_repo if (a == "${MODEL}" and as_is) else a for a in spec["args"]]
        command = " ".join(_join([w.replace("${PORT}", str(BASE_PORT)).replace("${HERE}/", "") for w in words]))
        d["engines"][e] = dict(runnable=True, version=ec["version"], source=ec["source"], command=command, **spec)
    return d


def plan_deployments(plan) -> list[dict]:
    """One deployment per allocation row of a feasible plan (see :func:`deployment`); a
    disaggregated row gives two, its prefill pool and its decode pool (:func:`pool_deployments`)."""
    wl = {w["workload"]: w for w in plan.workloads}
    deps = []
    for a in plan.allocations:
        if a.get("serving") == "disaggregated":
            deps.extend(pool_deployments(a, wl[a["workload"]]))
        else:
            deps.append(deployment(a, wl[a["workload"]]))
    assign_units(deps)
    return deps


def pool_deployments(alloc: dict, workload: dict) -> list[dict]:
    """The prefill and the decode pool of a disaggregated allocation row, each a deployment with
    its hardware, layout, replica count (deployments x pool replicas), placement and launch
    settings in its role (each engine's KV-transfer options from ``problems/data/engines.yaml``);
    ``router`` says what fronts the two pools.
    """
    from kernels.serving import prefill_batch  # noqa: PLC0415

    out = []
    counts = {p["role"]: alloc["replicas"] * p["replicas"] for p in alloc["pools"]}
    for p in alloc["pools"]:
        role = p["role"]
        tp, ep = alloc[f"{role}_tp"], alloc[f"{role}_ep"]
        n = counts[role]
        row = dict(alloc, hardware=p["hardware"], hardware_id=p.get("hardware_id", p["hardware"]),
                   unit_gpus=p["unit_gpus"], tp=max(tp, ep), ep=ep, mode="dep" if ep > 1 else "tp",
                   replicas=n, gpus=n * p["gpus_per_replica"], role=role,
                   concurrency=alloc["concurrency"] if role == "decode" else int(prefill_batch(
                       workload["input_tokens"] * (1.0 - workload.get("cached_input_fraction", 0.0)))))
        d = deployment(row, workload)
        d.update(serving="disaggregated", role=role,
                 configuration=f"{role} pool: {configuration_words(row)}"
                               + ("" if role == "decode" else " (prompts only)"))
        for e, spec in d["engines"].items():
            if spec["runnable"]:
                spec["router"] = (f"{_n(counts['prefill'], 'prefill server')} and "
                                  f"{_n(counts['decode'], 'decode server')} behind one router: "
                                  f"{' '.join(_disagg(e)['router'].split())}")
                spec["source"] = f"{spec['source']}; {' '.join(_disagg(e)['source'].split())}"
        out.append(d)
    return out


def _script(d: dict, e: str, spec: dict) -> str:
    ec = engine_catalog()[e]
    cmd = " \\\n    ".join(_join(spec["args"]))
    pl = d["placement"]
    lines = [
        "#!/usr/bin/env bash",
        f"# {ec['name']} {ec['version']}: {d['workload']} on {d['hardware']}: {d['model']}, {d['configuration']}",
        f"# {_n(d['replicas'], 'replica')} of {d['gpus_per_replica']} GPUs; {pl['text']}",
        f"# checkpoint: {d['checkpoint']}",
        f"# options as documented in: {ec['source'].split(';')[0].strip()}",
        "# run once per replica on its host with its GPUS (device ids) and PORT: replicas.csv lists them",
    ]
    if d.get("role"):
        lines.append(f"# the {d['role']} pool of a disaggregated deployment: {spec['router']}")
    if pl["multi_host"]:
        lines.append(f"# each replica spans {pl['hosts_per_replica']} hosts: run this on each with NODE_RANK "
                     "and HEAD_ADDR set (vLLM: attention-DP ranks on hosts after the first add --headless "
                     "--data-parallel-start-rank; TP over hosts runs on a Ray cluster started over them)")
    gpus = replica_map(d)[0]["devices"]
    visible = "HIP_VISIBLE_DEVICES" if d["hardware_family"].startswith("cdna") else "CUDA_VISIBLE_DEVICES"
    lines += ["set -euo pipefail", 'HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)',
              f"MODEL=${{MODEL:-{d['hf_repo']}}}", f"PORT=${{PORT:-{BASE_PORT}}}",
              f"export {visible}=${{GPUS:-{gpus}}}", cmd, ""]
    return "\n".join(lines)


def _join(args: list[str]) -> list[str]:
    """Shell words, an option and its value on one line; ${VAR} left for the shell to expand."""
    def q(a: str) -> str:
        return f'"{a}"' if a.startswith("${") else shlex.quote(a)

    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            out.append(f"{a} {q(args[i + 1])}")
            i += 2
            continue
        if not out or a.startswith("--"):
            out.append(q(a))
        else:
            out[-1] += f" {q(a)}"
        i += 1
    return out


def write_deployments(plan, directory) -> list[Path]:
    """Write each deployment's launch files under ``directory``; returns the paths written.

    Every file is written whole or not at all (:mod:`optimizer.outputs`); scripts are executable.
    """
    from .outputs import write_csv, write_text  # noqa: PLC0415

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    deps = plan_deployments(plan)
    written = []
    summary = [f"# Deployment of plan {plan.problem} ({plan.objective})", ""]
    for i, d in enumerate(deps, 1):
        role = f"-{d['role']}" if d.get("role") else ""      # a disaggregated deployment's two pools
        sub = root / f"{i:02d}-{_slug(d['workload'])}-{_slug(d['hardware'])}{role}"
        sub.mkdir(exist_ok=True)
        summary.append(f"## {sub.name}: {d['model']} on {d['hardware']}, {d['configuration']}")
        summary.append(f"- {_n(d['replicas'], 'replica')} of {d['gpus_per_replica']} GPUs; {d['placement']['text']}")
        summary.append(f"- checkpoint: {d['checkpoint']}")
        for e, spec in d["engines"].items():
            name = engine_catalog()[e]["name"]
            if not spec["runnable"]:
                summary.append(f"- {name}: not written: {spec['reason']}")
                continue
            p = sub / f"{e}.sh"
            write_text(p, _script(d, e, spec), "--deploy")
            p.chmod(0o755)
            written.append(p)
            if "extra_yaml" in spec:
                y = sub / "trtllm-extra.yaml"
                write_text(y, yaml.safe_dump(spec["extra_yaml"], sort_keys=False), "--deploy")
                written.append(y)
            summary.append(f"- {name} {spec['version']}: {p.name}")
            if spec.get("router"):
                summary.append(f"  - {spec['router']}")
        rp = sub / "replicas.csv"
        write_csv(rp, replica_map(d), REPLICA_COLUMNS, "--deploy")
        written.append(rp)
        summary.append("")
    write_text(root / "deployments.json", json.dumps(deps, indent=1) + "\n", "--deploy")
    write_text(root / "README.md", "\n".join(summary), "--deploy")
    return [root / "README.md", root / "deployments.json", *written]


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in s)[:60]
