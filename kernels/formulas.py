"""The performance model, written once.

Every function here is *restricted Python* (this docstring is the one definition of the subset;
:mod:`kernels.cuda_source` refuses anything outside it):

* statements: ``name = expression``; ``a, b = f(...)`` where formula ``f`` returns a tuple;
  ``return expression`` or ``return a, b, ...``; a docstring. No ``if``, loops, attribute access,
  keyword arguments, ``**`` or ``//``.
* expressions: int and float literals, names, ``+ - * /``, unary ``-``, one comparison (inside
  ``where``), calls to the primitives ``fmax, fmin, exp, log1p, ceil, where`` and to the other
  functions of this file.
* module level: these functions and float constants (``NAME = 1.0``).

That one text is bound three ways:

* here, to NumPy ufuncs: every argument may be a float64 array (the reference backend);
* by :mod:`kernels.scalar`, to ``math`` functions, compiled with ``numba.njit`` (the Numba CPU
  backend) or ``numba.cuda.jit(device=True)`` (the Numba-CUDA backend, and the simulator in CI);
* by :mod:`kernels.cuda_source`, translated to CUDA C device functions for the CuPy backend.

The arguments of ``evaluate_config`` and ``config_valid`` are matched by name to an axis or a
table field of :mod:`kernels.layout`; a new argument needs a source there.

Units: seconds, bytes, FLOP, FLOP/s, bytes/s, watts, USD. Precision codes: 0 = bf16, 1 = fp8,
2 = fp4. Flags are floats 0.0/1.0 so that the same code runs on arrays and scalars.
See docs/model.md for the reasoning behind each formula.
"""

import numpy as _np

fmax = _np.maximum
fmin = _np.minimum
exp = _np.exp
log1p = _np.log1p
ceil = _np.ceil
where = _np.where

# names of the outputs of evaluate_config, in order
OUTPUTS = (
    "ttft_s", "tpot_s", "output_tok_s_per_user", "output_tok_s_per_gpu", "total_tok_s_per_gpu",
    "requests_per_s_per_replica", "power_w_per_gpu", "cost_usd_per_mtok_output",
    "cost_usd_per_mtok_blended", "tok_per_joule", "memory_bytes_per_gpu", "cost_usd_per_gpu_hour", "status",
)
# status: 0 = does not fit (memory or no link for a replica this wide), 1 = fits but misses the
# workload's SLA, 2 = fits and meets the SLA (kernels.layout.Status names them).

# numeric constants shared by every backend
MEM_USABLE_FRACTION = 0.90      # engines reserve ~10% of device memory (vLLM gpu_memory_utilization)
ACTIVATION_RESERVE_BYTES = 2.0e9  # activations, logits and CUDA graphs workspace per GPU
PREFILL_CHUNK_TOKENS = 8192.0   # chunked-prefill budget per step (trtllm/vllm default max_num_tokens)
# all-to-all latency per additional peer: NCCL alltoall alpha (aiconfigurator-core 0.12.0 nccl
# tables, kernels/data/measured_efficiency.json) rises 0.27-0.29 us per GPU from 2 to 8 GPUs on
# H100, H200, B200 and B300 (e.g. B200 11.9 -> 13.6 us); extrapolated linearly to 72 peers
A2A_PEER_LATENCY_S = 0.28e-6


def peak_flops(prec, peak_bf16, peak_fp8, peak_fp4, w4a8):
    """Tensor FLOP/s a GEMM reaches at this precision on this hardware (dense peak).

    fp8 without FP8 units runs weight-only (W8A16) at the BF16 rate; fp4 without FP4 units runs
    weight-only (W4A16) at the BF16 rate. MXFP4 "W4A8" models (gpt-oss) compute at the FP8 rate
    where FP4 units exist, at the BF16 rate elsewhere.
    """
    has8 = where(peak_fp8 > 0.0, 1.0, 0.0)
    has4 = where(peak_fp4 > 0.0, 1.0, 0.0)
    p8 = where(has8 > 0.5, peak_fp8, peak_bf16)
    p4_native = where(w4a8 > 0.5, p8, peak_fp4)
    p4 = where(has4 > 0.5, p4_native, peak_bf16)
    return where(prec > 1.5, p4, where(prec > 0.5, p8, peak_bf16))


def is_weight_only(prec, peak_fp8, peak_fp4, w4a8):
    """1.0 where GEMMs dequantize weights to a wider compute type in their main loop (W8A16 on
    hardware without FP8, W4A16 without FP4 units): their compute efficiency is lower, by the
    fitted factor ``eff_wo``. MXFP4 x MXFP8 (gpt-oss, ``w4a8``) on hardware with FP4 units is
    native -- Blackwell's block-scaled MMA takes FP4 and FP8 operands directly -- so it is not
    weight-only there; without FP4 units (Hopper) it is W4A16 like any other fp4 model."""
    no8 = where(peak_fp8 > 0.0, 0.0, 1.0)
    no4 = where(peak_fp4 > 0.0, 0.0, 1.0)
    return where(prec > 1.5, no4, where(prec > 0.5, no8, 0.0))


def expected_distinct_experts(tokens, n_experts, top_k):
    """Expected number of distinct experts touched when ``tokens`` each pick ``top_k`` of
    ``n_experts`` uniformly: E * (1 - (1 - k/E)^T). Dense models pass E = k = 1 (result 1)."""
    frac = fmin(top_k / n_experts, 0.999999)
    return n_experts * (1.0 - exp(tokens * log1p(-frac)))


def kv_bytes_per_seq(ctx, kv_elems_per_layer, n_full_layers, n_window_layers, window, kv_bytes):
    """KV cache bytes of one sequence at context ``ctx``; windowed layers keep ``window`` tokens."""
    return kv_elems_per_layer * kv_bytes * (n_full_layers * ctx + n_window_layers * fmin(ctx, window))


def attn_ctx_tokens(ctx, n_full_layers, n_window_layers, window):
    """Context tokens attended per query, summed over layers."""
    return n_full_layers * ctx + n_window_layers * fmin(ctx, window)


def kv_divisor(tp, dep, is_mla, kv_heads):
    """How many GPUs one replica's KV cache is spread over, per sequence.

    Attention data-parallel (dep): each GPU holds whole sequences, batch/tp of them.
    TP with GQA: KV heads split over min(tp, kv_heads) ranks (replicated beyond that).
    TP with MLA: the latent cache is replicated on every rank.
    """
    gqa = fmin(tp, kv_heads)
    return where(dep > 0.5, tp, where(is_mla > 0.5, 1.0, gqa))


def seqs_per_scheduler(batch, tp, dep):
    """Sequences each engine scheduler runs: one scheduler per replica under TP, one per
    attention-DP rank under dep (each rank schedules its own batch/tp sequences)."""
    return batch / where(dep > 0.5, tp, 1.0)


def memory_per_gpu(batch, tp, pp, dep, p_nonexpert, p_expert, wb_ne, wb_e, kv_seq, kv_div):
    """Bytes per GPU: weights (non-expert replicated under dep, experts split) + KV + reserve.

    A pipeline stage holds ``1/pp`` of the layers, so of the weights and of every sequence's KV
    (split evenly: the embedding on the first stage and the LM head on the last weigh about one
    layer each in the catalog's models); the activation reserve is per GPU."""
    w_tp = (p_nonexpert * wb_ne + p_expert * wb_e) / tp
    w_dep = p_nonexpert * wb_ne + p_expert * wb_e / tp
    weights = where(dep > 0.5, w_dep, w_tp) / pp
    return weights + batch * kv_seq / kv_div / pp + ACTIVATION_RESERVE_BYTES


def pp_transfer_time(tokens, hidden, pp, link_bw, lat):
    """Seconds of the point-to-point sends between ``pp`` pipeline stages of ``tokens`` tokens'
    BF16 hidden states: ``pp - 1`` hops of ``lat + tokens * hidden * 2 / link_bw`` (each rank of a
    stage's TP group sends to its counterpart in the next stage, over parallel links)."""
    return (pp - 1.0) * (tokens * hidden * 2.0 / link_bw + lat)


def spec_tokens_per_step(draft, accept):
    """Expected tokens emitted per sequence per step with ``draft`` speculative tokens accepted
    with probability ``accept`` each (geometric): (1 - a^(k+1)) / (1 - a); 1 when k = 0."""
    a = fmin(fmax(accept, 1e-6), 0.999)
    return (1.0 - exp((draft + 1.0) * log1p(a - 1.0))) / (1.0 - a)


def saturating(x, x_half):
    """Fraction of its asymptote an efficiency reaches at work size ``x``: x / (x + x_half).

    A kernel with a fixed cost (launch, tail wave, pipeline fill) plus a part linear in its work
    has exactly this efficiency; ``x_half`` is the work at which the fixed cost equals the rest."""
    return x / (x + x_half + 1e-30)


def roofline(flops, bytes_, flop_rate, byte_rate):
    """Seconds of one operator class: the slower of its compute and its memory traffic."""
    return fmax(flops / flop_rate, bytes_ / byte_rate)


def sqrt_(x):
    """Square root of x >= 0 in the restricted subset. x below 1e-6 counts as 1e-6 (root 1e-3),
    so that x - 1 stays above -1 in float32 too (a float32 1 - 1e-12 is 1); no caller's x is
    that small where its root is used."""
    return exp(0.5 * log1p(fmax(x, 1e-6) - 1.0))


def ep_imbalance(tokens, tp, dep, top_k):
    """Load of the busiest expert-parallel rank over the mean (>= 1).

    Under dep the experts are split over ``tp`` ranks and each of ``tokens`` tokens sends ``top_k``
    copies to the ranks of its experts: a rank's load is binomial with mean mu = tokens*top_k/tp
    and variance mu(1 - 1/tp). The step waits for the busiest of the tp ranks, whose expected load
    is ~ mu + sigma * sqrt(2 ln tp) (the maximum of tp near-normal loads), so the factor is
    1 + sqrt(2 ln(tp) (1 - 1/tp) / mu): 1.26 for 1,152 decode tokens over EP72 with top-8, ~1 for
    a prefill chunk. Uniform routing; real routers are skewed further."""
    mu = fmax(tokens * top_k / tp, 1.0)
    f = 1.0 + sqrt_(2.0 * log1p(tp - 1.0) * (1.0 - 1.0 / tp) / mu)
    return where(dep > 0.5, where(tp > 1.5, f, 1.0), 1.0)


def moe_comm_all_to_all(tp, top_k, su_domain):
    """1.0 where a dep replica exchanges MoE tokens by one-sided all-to-all, else 0.0 (all-gather
    + reduce-scatter).

    Engines send tokens to their experts' ranks with an all-to-all only over a multi-node NVLink
    fabric (GB200 / GB300 NVL72: TensorRT-LLM's MNNVL all-to-all) and only when a token's top-k
    experts do not already reach most ranks (EP > top-k); otherwise the tokens are all-gathered and
    the partial outputs reduce-scattered (TensorRT-LLM ``select_alltoall_method_type``: no
    all-to-all when ``moe_ep_size <= top_k`` or without MNNVL; vLLM's default
    ``allgather_reducescatter`` all2all backend). 8-GPU HGX/DGX boards and PCIe cards have no such
    fabric."""
    return where(su_domain > 8.5, where(tp > top_k + 0.5, 1.0, 0.0), 0.0)


def comm_time(tokens, tp, dep, hidden, n_layers, n_moe_layers, top_k, link_bw, lat, a2a_eff, imb,
              b_disp, su_domain):
    """Collective time per forward step over ``tokens`` tokens (seconds).

    Each collective costs ``lat + bytes / bandwidth`` (alpha-beta), so small messages are latency
    bound. TP: two ring all-reduces of the BF16 activations per layer, 2(tp-1)/tp of the bytes
    each. dep, per MoE layer, one of two exchanges (:func:`moe_comm_all_to_all`):

    * all-gather + reduce-scatter (ring collectives at the all-reduce's bus bandwidth): each rank
      receives the other ranks' tokens in the experts' input format (``b_disp`` bytes per value:
      FP8, NVFP4, BF16 for weight-only) and reduce-scatters the BF16 partial outputs of every
      token, (tp-1) * T/tp * hidden * (b_disp + 2) bytes per rank -- whatever top-k is;
    * one-sided all-to-all: a token goes once to each distinct remote rank holding one of its
      experts, (tp-1)(1 - (1 - 1/tp)^k) copies in expectation under uniform routing, dispatched in
      FP8 and combined in BF16; it reaches a smaller fraction of the link (``a2a_eff``: many small
      messages) and ends when the busiest rank has received its share (``imb``: ``ep_imbalance``).

    Either exchange is two collectives per MoE layer, each with a latency that grows with its peers
    (a message is posted to each: ``A2A_PEER_LATENCY_S`` per peer beyond the first).
    """
    multi = where(tp > 1.5, 1.0, 0.0)
    frac = (tp - 1.0) / tp
    ar = n_layers * 2.0 * (2.0 * frac * tokens * hidden * 2.0 / link_bw + lat)
    a2a_lat = lat + (tp - 2.0) * A2A_PEER_LATENCY_S
    copies = (tp - 1.0) * (1.0 - exp(top_k * log1p(-1.0 / fmax(tp, 2.0))))
    a2a = n_moe_layers * 2.0 * (imb * (tokens / tp) * copies * hidden * 1.5
                                / (a2a_eff * link_bw) + a2a_lat)
    agrs = n_moe_layers * ((tp - 1.0) * (tokens / tp) * hidden * (b_disp + 2.0) / link_bw + 2.0 * a2a_lat)
    return multi * where(dep > 0.5, where(moe_comm_all_to_all(tp, top_k, su_domain) > 0.5, a2a, agrs), ar)


def step_time(tok_dec, tok_pf, ctx_dec, ctx_pf, batch, tp, dep,
              p_nonexpert, p_expert_one, n_moe_layers, n_experts, top_k, wb_ne, wb_e,
              attn_dec_flops, attn_pf_flops, n_full, n_win, window, kv_seq, kv_div,
              hidden, n_layers, link_bw, peak, peak_attn, hbm_bw, eff_c, eff_b, ovh_layer, ovh_seq, lat,
              a2a_eff, draft, eff_moe, eff_attn, eff_kv, kv_half, p_vocab, eff_c16, eff_dec_c, ovh_step,
              b_disp, su_domain):
    """Seconds of one forward step of a replica carrying ``tok_dec`` decode tokens and, on
    average, ``tok_pf`` prefill tokens (chunked prefill shares steps with decode).

    The operators run one after another as separate kernels, so the step is the SUM of each
    operator class's own roofline (a compute-bound prefill GEMM cannot hide a memory-bound KV
    read): dense GEMMs, MoE expert GEMMs, prefill attention, decode attention, collectives and
    host work. Each operator's efficiencies are those of its measured kernels: a GEMM's fixed
    cost per kernel (what makes its efficiency rise with M) is in the per-layer overhead, as in
    the measured rooflines t = t0 + max(...); decode attention's bandwidth fraction saturates in
    the KV bytes one kernel reads (one layer's KV on this GPU).

    Returns (step seconds, busy seconds): busy = the GPU's share (everything but host time).
    """
    tokens = tok_dec + tok_pf
    # dense (non-expert) GEMMs: weights split over tp, or whole per GPU with tokens split (dep)
    per_gpu = where(dep > 0.5, 1.0, 1.0 / tp)
    # the input embedding is a row gather (no GEMM, B rows read); the LM head is a BF16 GEMM
    # (quantized checkpoints keep it BF16) over the sampled positions only -- decode tokens, not
    # every prompt token -- so neither is priced like the layers' GEMMs
    p_layers = fmax(p_nonexpert - 2.0 * p_vocab, 0.5 * p_nonexpert)
    w_ne = p_layers * wb_ne * per_gpu
    t_dense = roofline(2.0 * p_layers * tokens / tp, w_ne, eff_c * peak, eff_b * hbm_bw)
    t_head = roofline(2.0 * p_vocab * tok_dec / tp, 2.0 * p_vocab * per_gpu,
                      eff_c16 * peak_attn, eff_b * hbm_bw)
    # MoE expert GEMMs (a grouped GEMM over the experts touched, at eff_moe of a dense GEMM's
    # efficiency): decode tokens touch the expected distinct experts; a step that carries a
    # prefill chunk touches more, and prefill is amortized over the fraction of steps with a chunk.
    chunk_frac = fmin(tok_pf / PREFILL_CHUNK_TOKENS, 1.0)
    d_dec = expected_distinct_experts(tok_dec, n_experts, top_k)
    d_chk = expected_distinct_experts(tok_dec + PREFILL_CHUNK_TOKENS, n_experts, top_k)
    distinct = (1.0 - chunk_frac) * d_dec + chunk_frac * d_chk
    # under dep the step waits for the busiest expert-parallel rank's tokens
    imb = ep_imbalance(tokens, tp, dep, top_k)
    t_moe = roofline(imb * 2.0 * n_moe_layers * top_k * p_expert_one * tokens / tp,
                     n_moe_layers * distinct * p_expert_one * wb_e / tp,
                     eff_c * eff_moe * peak, eff_b * hbm_bw)
    # attention math runs at the BF16 tensor rate whatever the weight precision
    t_attn_pf = attn_pf_flops * tok_pf * attn_ctx_tokens(ctx_pf, n_full, n_win, window) / tp / (eff_attn * peak_attn)
    kv_read = batch * kv_seq / kv_div
    kv_layer = kv_read / n_layers
    kv_bw = eff_kv * saturating(kv_layer, kv_half) * hbm_bw
    t_attn_dec = roofline(attn_dec_flops * tok_dec * attn_ctx_tokens(ctx_dec, n_full, n_win, window) / tp,
                          kv_read, eff_dec_c * peak_attn, kv_bw)
    # MTP draft head: per draft token one more transformer layer (its attention over its own KV,
    # its dense GEMMs and its MoE layer) over the batch's B tokens, then the shared LM head over
    # them, run after the verification pass (which already carries B(1 + k) tokens above)
    d_b = expected_distinct_experts(batch, n_experts, top_k)
    moe_layer = where(n_moe_layers > 0.5, 1.0, 0.0)
    t_draft = draft * (roofline(2.0 * p_layers / n_layers * batch / tp, w_ne / n_layers,
                                eff_c * peak, eff_b * hbm_bw)
                       + moe_layer * roofline(2.0 * top_k * p_expert_one * batch / tp,
                                              d_b * p_expert_one * wb_e / tp,
                                              eff_c * eff_moe * peak, eff_b * hbm_bw)
                       + roofline(2.0 * p_vocab * batch / tp, 2.0 * p_vocab * per_gpu,
                                  eff_c16 * peak_attn, eff_b * hbm_bw)
                       + kv_layer / kv_bw)
    busy = t_dense + t_head + t_moe + t_attn_pf + t_attn_dec + t_draft
    t_comm = comm_time(tokens, tp, dep, hidden, n_layers, n_moe_layers, top_k, link_bw, lat, a2a_eff, imb,
                       b_disp, su_domain)
    # fixed costs: kernel launches per layer, and host work: the engine's per step (scheduling,
    # input preparation, launching the step) and per sequence (sampling, detokenization) on each
    # scheduler -- one per GPU under dep, one per replica under tp
    seqs_per_sched = seqs_per_scheduler(batch, tp, dep)
    # the GPU runs kernels for all but the host's share of the step (a kernel's fixed cost and a
    # collective keep it powered); busy is what the power model counts
    t_gpu = busy + t_comm + ovh_layer * (n_layers + draft)
    step = t_gpu + ovh_seq * seqs_per_sched + ovh_step
    return step, t_gpu


def evaluate_config(
        # configuration
        batch, tp, pp, dep, prec, draft,
        # workload
        isl, osl, cached_frac, sla_ttft_s, sla_min_tok_s_user,
        # model
        p_nonexpert, p_expert_one, n_moe_layers, n_experts, top_k, n_layers, hidden,
        kv_elems_per_layer, n_full, n_win, window, is_mla, kv_heads,
        attn_dec_flops, attn_pf_flops, w4a8, ne_bytes_fp4, mtp_accept, p_vocab,
        # hardware
        peak_bf16, peak_fp8, peak_fp4, hbm_bytes, hbm_bw, su_domain, su_bw, so_bw,
        tdp_w, cost_usd_per_gpu_hour, elec_usd_per_kwh, power_factor, idle_frac,
        # calibration
        eff_c16, eff_c8, eff_c4, eff_b, ovh_layer, ovh_seq, ovh_step, lat, comm_eff, eff_wo, a2a_eff,
        eff_moe, eff_attn, eff_kv, eff_kv16, kv_half, mem_of_free, swa_full, max_batch,
        eff_mla, eff_mla16, eff_mla_c, mla_half):
    """All metrics of one configuration (or arrays of them). Returns a tuple in ``OUTPUTS`` order.

    A replica spans ``tp * pp`` GPUs: ``pp`` pipeline stages of ``n_layers / pp`` layers, each
    stage a ``tp``-wide tensor-parallel (or dep) group. In a step the batch runs as ``pp``
    micro-batches in flight, so every sequence advances once per turn of the pipeline: a micro-batch
    through every stage (the whole model at ``batch / pp`` sequences: ``pp`` stage-times, each
    paying its own layers' fixed costs) plus ``pp - 1`` activation sends between stages. With
    ``pp`` micro-batches cycling no stage waits for another (the GPipe bubble of training,
    ``(pp - 1)`` stage-times per flush, never occurs: serving never flushes), so a stage's GPU
    works on one micro-batch while the others are elsewhere in the pipeline. See docs/model.md,
    "Pipeline parallelism".

    ``power_factor`` turns GPU watts into all-in facility watts ((1 + host overhead) * PUE);
    ``cost_usd_per_gpu_hour`` excludes electricity, which is added at ``elec_usd_per_kwh``
    (0 when a rental price includes it).
    """
    # bytes per weight / KV element at this precision
    wb_e = where(prec > 1.5, 0.5625, where(prec > 0.5, 1.0, 2.0))     # NVFP4: 4 bit + FP8 scale/16
    wb_ne = where(prec > 1.5, ne_bytes_fp4, where(prec > 0.5, 1.0, 2.0))
    kv_b = where(prec > 0.5, 1.0, 2.0)                                   # FP8 KV with fp8/fp4 weights
    # decode attention reads FP8 KV at the FP8 kernel's measured bandwidth fraction, BF16 KV at
    # the BF16 kernel's (they differ: FP8 KV is converted in the kernel)
    # MLA models (one latent vector per cached token, shared by every head) run their own decode
    # kernel: its measured bandwidth fractions, compute efficiency and fixed cost
    mla = where(is_mla > 0.5, 1.0, 0.0)
    eff_kv_read = where(mla > 0.5, where(prec > 0.5, eff_mla, eff_mla16), where(prec > 0.5, eff_kv, eff_kv16))
    eff_dec_c = where(mla > 0.5, eff_mla_c, eff_attn)
    kv_half_dec = where(mla > 0.5, mla_half, kv_half)
    peak = peak_flops(prec, peak_bf16, peak_fp8, peak_fp4, w4a8)
    # GEMM efficiency of the tensor format actually run: measured kernels differ by format (NVFP4
    # reaches a smaller fraction of its peak than FP8, FP8 than BF16); MXFP4 x MXFP8 runs the FP8
    # MMA; weight-only GEMMs run the BF16 MMA, slowed by dequantization in the main loop (eff_wo)
    eff_4 = where(w4a8 > 0.5, eff_c8, eff_c4)
    eff_native = where(prec > 1.5, eff_4, where(prec > 0.5, eff_c8, eff_c16))
    wo = is_weight_only(prec, peak_fp8, peak_fp4, w4a8)
    eff_c = where(wo > 0.5, eff_c16 * eff_wo, eff_native)
    # bytes per value of the tokens an expert-parallel exchange moves: the experts' input format
    # (activations quantized as the expert GEMM runs them; BF16 for a weight-only GEMM)
    b_disp = where(wo > 0.5, 2.0, where(w4a8 > 0.5, 1.0, wb_e))

    isl_new = isl * (1.0 - cached_frac)
    ctx_avg = isl + 0.5 * osl
    kv_seq = kv_bytes_per_seq(ctx_avg, kv_elems_per_layer, n_full, n_win, window, kv_b)
    # admission reserves KV for the whole sequence (isl + osl): TensorRT-LLM's default
    # GUARANTEED_NO_EVICT scheduler does, and an engine that admits more must preempt later.
    # Windowed (sliding / chunked) layers: an engine that frees their out-of-window blocks reserves
    # the window only (vLLM's hybrid KV manager: swa_full = 0); TensorRT-LLM writes their blocks
    # linearly up to the sequence's full length and detaches the old ones as the window moves
    # (TensorRT-LLM PR #6768), so its reservation counts them at full length (swa_full = 1).
    # Decode still reads the window only (kv_seq above).
    n_win_res = (1.0 - swa_full) * n_win
    kv_seq_max = kv_bytes_per_seq(isl + osl, kv_elems_per_layer, n_full + swa_full * n_win, n_win_res,
                                  window, kv_b)
    kv_div = kv_divisor(tp, dep, is_mla, kv_heads)
    p_expert = n_moe_layers * n_experts * p_expert_one
    mem_fixed = memory_per_gpu(0.0, tp, pp, dep, p_nonexpert, p_expert, wb_ne, wb_e, kv_seq_max, kv_div)
    mem = mem_fixed + batch * kv_seq_max / kv_div / pp
    # engines size the KV pool as a fraction of all memory (vLLM gpu_memory_utilization, SGLang
    # mem_fraction_static: mem_of_free = 0) or of the memory left after weights and activations
    # (TensorRT-LLM kv_cache_free_gpu_mem_fraction: mem_of_free = 1)
    mem_limit = MEM_USABLE_FRACTION * hbm_bytes + mem_of_free * (1.0 - MEM_USABLE_FRACTION) * mem_fixed
    in_domain = where(tp <= su_domain, 1.0, 0.0)
    link = where(in_domain > 0.5, su_bw, so_bw) * comm_eff
    link_ok = where(tp > 1.5, where(link > 0.0, 1.0, 0.0), 1.0)
    link = fmax(link, 1.0)
    # pipeline stages talk over the scale-up link while the whole replica sits in one domain,
    # over the scale-out NIC when it spans several (the usual reason to pipeline: across nodes)
    gpus = tp * pp
    pp_link = where(gpus <= su_domain, su_bw, so_bw) * comm_eff
    pp_ok = where(pp > 1.5, where(pp_link > 0.0, 1.0, 0.0), 1.0)
    pp_link = fmax(pp_link, 1.0)
    # the engine's batch limit (vLLM's max_num_seqs; none: a huge value) bounds what each of its
    # schedulers runs
    fits = (where(mem <= mem_limit, 1.0, 0.0) * link_ok * pp_ok
            * where(seqs_per_scheduler(batch, tp, dep) <= max_batch, 1.0, 0.0))

    tau = spec_tokens_per_step(draft, mtp_accept)
    tok_dec = batch * (1.0 + draft)
    tok_pf = batch * tau * isl_new / osl
    # one micro-batch (batch / pp sequences) through every stage, then the sends between stages;
    # each GPU is busy for its stage of each of the pp micro-batches (the micro-batch's GPU time)
    # and, as for a collective, while it sends
    mb = batch / pp
    t_loop, t_gpu = step_time(tok_dec / pp, tok_pf / pp, ctx_avg, isl - 0.5 * isl_new, mb, tp, dep,
                           p_nonexpert, p_expert_one, n_moe_layers, n_experts, top_k, wb_ne, wb_e,
                           attn_dec_flops, attn_pf_flops, n_full, n_win, window, kv_seq, kv_div,
                           hidden, n_layers, link, peak, peak_bf16, hbm_bw, eff_c, eff_b, ovh_layer, ovh_seq, lat, a2a_eff, draft,
                           eff_moe, eff_attn, eff_kv_read, kv_half_dec, p_vocab, eff_c16, eff_dec_c, ovh_step,
                           b_disp, su_domain)
    t_send = pp_transfer_time((tok_dec + tok_pf) / pp, hidden, pp, pp_link, lat)
    step = t_loop + t_send
    busy = t_gpu + t_send
    tpot = step / tau
    tok_s_user = tau / step
    out_replica = batch * tok_s_user
    out_gpu = out_replica / gpus
    total_gpu = out_gpu * (1.0 + isl / osl)
    req_s = out_replica / osl

    # TTFT: the prompt's new tokens go through in chunks, one chunk per step, each chunk step
    # also carrying the decode batch; the chunk's own compute is at the prefill roofline.
    n_chunks = ceil(isl_new / PREFILL_CHUNK_TOKENS)
    # per prompt token: the dense GEMMs at the dense GEMM's efficiency, the routed experts' at the
    # MoE grouped GEMM's (as in the step)
    pf_gemm_tok = 2.0 * (p_nonexpert - fmin(2.0 * p_vocab, 0.5 * p_nonexpert)) / tp
    pf_moe_tok = 2.0 * n_moe_layers * top_k * p_expert_one / tp
    pf_attn_tok = attn_pf_flops * attn_ctx_tokens(isl - 0.5 * isl_new, n_full, n_win, window) / tp
    # under PP the prompt passes every stage in turn (the per-token compute summed over stages is
    # the whole model's at tp) and its hidden states cross the pp - 1 stage boundaries
    ttft = n_chunks * step + isl_new * (pf_gemm_tok / (eff_c * peak) + pf_moe_tok / (eff_c * eff_moe * peak)
                                        + pf_attn_tok / (eff_attn * peak_bf16)) + step \
        + pp_transfer_time(isl_new, hidden, pp, pp_link, lat)

    util = busy / step
    p_gpu = tdp_w * (idle_frac + (1.0 - idle_frac) * util)
    p_all_in = p_gpu * power_factor
    # electricity only where it is billed: a TDP that is not published (NaN) must not poison a
    # rental price that already includes power
    cost_h = cost_usd_per_gpu_hour + where(elec_usd_per_kwh > 0.0, elec_usd_per_kwh * p_all_in / 1000.0, 0.0)
    cost_out = cost_h * 1.0e6 / (3600.0 * out_gpu)
    cost_blend = cost_h * 1.0e6 / (3600.0 * total_gpu)
    tpj = total_gpu / p_all_in

    meets = where(ttft <= sla_ttft_s, 1.0, 0.0) * where(tok_s_user >= sla_min_tok_s_user, 1.0, 0.0)
    return (ttft, tpot, tok_s_user, out_gpu, total_gpu, req_s, p_all_in, cost_out, cost_blend, tpj,
            mem, cost_h, fits * meets + fits)


def config_valid(prec, tp, dep, spec, allow_bf16, allow_fp8, allow_fp4, is_moe, has_mtp):
    """1.0 where the configuration exists: the model offers the precision, dep (attention
    data-parallel + expert parallel) only for MoE models on more than one GPU, MTP only for models
    that ship MTP layers."""
    p_ok = where(prec > 1.5, allow_fp4, where(prec > 0.5, allow_fp8, allow_bf16))
    d_ok = where(dep > 0.5, is_moe * where(tp > 1.5, 1.0, 0.0), 1.0)
    s_ok = where(spec > 0.5, has_mtp, 1.0)
    return p_ok * d_ok * s_ok


def frontier_bin(tok_s_user, n_bins):
    """Bin of output tokens/s per user on a log scale from 1 to 10^4 (clipped)."""
    b = ceil(n_bins * log1p(fmax(tok_s_user, 1.0) - 1.0) / 9.210340371976184) - 1.0
    return fmin(fmax(b, 0.0), n_bins - 1.0)
