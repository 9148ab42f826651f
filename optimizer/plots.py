"""Charts people pass around: frontiers, cost vs interactivity, comparisons, sweeps.

Matplotlib with the headless Agg backend; every function returns the Figure (tests inspect it)
and writes a PNG when given a path.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_MARKERS = {"bf16": "o", "fp8": "s", "fp4": "^"}
_MODE_STYLES = {"aggregated": "-", "disaggregated": "--"}


def _mathsafe(text: str) -> str:
    """Matplotlib reads text between two $ signs as math: escape them so prices print as written."""
    return text.replace("$", r"\$")


def fmt_number(v) -> str:
    """A number as a person writes it: 3.975, not 3.9749999999999996 (legends and labels)."""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def precision_label(s: dict) -> str:
    """A precision as it runs: FP4/FP8 without tensor cores for it is weight-only (W4A16/W8A16)."""
    return s.get("precision_label") or s["precision"]


def _save(fig, path):
    if path is not None:
        from .outputs import replacing  # noqa: PLC0415

        # written whole or not at all; the format follows the file name's extension
        with replacing(path, "--plot") as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
        # written: pyplot lets it go (a long-lived process drawing many charts would otherwise
        # keep every one); the Figure object stays usable for the caller
        plt.close(fig)
    return fig


def plot_frontier(fr, workload: str, path=None, chosen=None):
    """Two panels: output tok/s per GPU vs tok/s per user (log-log), and $/Mtok vs tok/s per user.

    One line per (hardware, precision); the SLA's minimum interactivity is a dashed line;
    ``chosen`` (allocation rows of this workload) are marked with stars.
    """
    series = fr.for_workload(workload)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
    hws = sorted({s["hardware"] for s in series})
    models = sorted({s["model"] for s in series})
    cmap = plt.get_cmap("tab10")
    color = {h: cmap(i % 10) for i, h in enumerate(hws)}
    styles = ("-", "--", ":", "-.")
    dash = {m: styles[i % len(styles)] for i, m in enumerate(models)}
    modes = sorted({s.get("serving", "aggregated") for s in series})
    for s in series:
        # several models may serve the workload (min_quality): the legend names each one; with
        # both serving modes, the line style is the mode (solid aggregated, dashed disaggregated)
        mode = s.get("serving", "aggregated")
        label = ((f"{s['model']}: " if len(models) > 1 else "") + f"{s['hardware']} {precision_label(s)}"
                 + (f" {mode}" if len(modes) > 1 else ""))
        ls = _MODE_STYLES.get(mode, "-") if len(modes) > 1 else dash[s["model"]]
        kw = dict(color=color[s["hardware"]], marker=_MARKERS.get(s["precision"], "o"), ms=4, lw=1.6,
                  ls=ls, label=label)
        ax1.plot(s["tok_s_per_user"], s["output_tok_s_per_gpu"], **kw)
        ax2.plot(s["tok_s_per_user"], s["cost_usd_per_mtok_output"], **kw)
    sla = fr.sla.get(workload, {})
    m = sla.get("min_output_tok_s_per_user")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel("interactivity: output tokens/s per user")
        if m:
            ax.axvline(m, color="k", ls="--", lw=1, label=f"SLA: >= {m:g} tok/s/user")
    for i, c in enumerate(chosen or []):
        lab = "chosen by the plan" if i == 0 else None
        ax1.plot([c["output_tok_s_per_user"]], [c["output_tok_s_per_gpu"]], marker="*", ms=16,
                 color=color.get(c["hardware"], "k"), mec="k", ls="none", label=lab, zorder=5)
        ax2.plot([c["output_tok_s_per_user"]], [c["cost_usd_per_mtok_output"]], marker="*", ms=16,
                 color=color.get(c["hardware"], "k"), mec="k", ls="none", zorder=5)
    ax1.set_ylabel("output tokens/s per GPU")
    ax2.set_ylabel("cost, USD per million output tokens")
    ax1.legend(fontsize=8, loc="best")
    ttft = sla.get("ttft_ms")
    fig.suptitle(_mathsafe(f"{fr.problem} / {workload} ({', '.join(models)}): throughput and cost vs interactivity"
                           + (f"; TTFT SLA {ttft:g} ms" if ttft else "") + ("; stars: chosen" if chosen else "")),
                 fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_compare(cmp, path=None):
    """Throughput per GPU, cost per Mtok and tokens per joule of each hardware across levels."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    modes = list(dict.fromkeys(r.get("serving", "aggregated") for r in cmp.rows))
    cmap = plt.get_cmap("tab10")
    for i, h in enumerate(cmp.hardware):
        for mode in modes:
            rows = [r for r in cmp.rows if r["hardware"] == h and r.get("serving", "aggregated") == mode
                    and r["output_tok_s_per_gpu"]]
            if not rows:
                continue
            x = [r["tok_s_per_user"] for r in rows]
            # one color per hardware; with both serving modes, solid aggregated, dashed disaggregated
            kw = dict(marker="o", color=cmap(i % 10), ls=_MODE_STYLES.get(mode, "-") if len(modes) > 1 else "-",
                      label=f"{h} {mode}" if len(modes) > 1 else h)
            axes[0].plot(x, [r["output_tok_s_per_gpu"] for r in rows], **kw)
            axes[1].plot(x, [r["cost_usd_per_mtok_output"] for r in rows], **kw)
            axes[2].plot(x, [r["tok_per_joule"] for r in rows], **kw)
    for ax, lab in zip(axes, ("output tokens/s per GPU", "USD per million output tokens",
                              "tokens per joule (all-in)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel("minimum output tokens/s per user")
        ax.set_ylabel(lab)
        ax.legend(fontsize=8)
    a = cmp.assumptions
    prices = ", ".join(f"{h} ${p}/h" for h, p in a.get("prices_usd_per_gpu_hour", {}).items())
    fig.suptitle(_mathsafe(f"{cmp.problem} / {cmp.workload}: {' vs '.join(cmp.hardware)} ({prices}; "
                           f"precisions {', '.join(a.get('precisions', []))})"), fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_sweep(rows, axes_names, path=None, title=""):
    """Cost per Mtok across the first one or two swept axes (lines per value of the second)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    x_name = axes_names[0]
    groups = {}
    for r in rows:
        key = r.get(axes_names[1]) if len(axes_names) > 1 else None
        groups.setdefault(key, []).append(r)
    for key, rs in groups.items():
        rs = sorted(rs, key=lambda r: r[x_name])
        xs = [r[x_name] for r in rs if r.get("cost_usd_per_mtok_output") is not None]
        ys = [r["cost_usd_per_mtok_output"] for r in rs if r.get("cost_usd_per_mtok_output") is not None]
        lab = f"{axes_names[1]}={fmt_number(key)}" if key is not None else "cost per Mtok"
        line, = ax.plot(xs, ys, marker="o", label=lab)
        for r in rs:
            if r.get("cost_usd_per_mtok_output") is not None and r.get("hardware"):
                ax.annotate(r["hardware"], (r[x_name], r["cost_usd_per_mtok_output"]), fontsize=6,
                            xytext=(2, 2), textcoords="offset points", color=line.get_color())
    # scenarios with no feasible plan have no cost: marked on the x axis so they do not vanish
    bad = [r[x_name] for r in rows if r.get("cost_usd_per_mtok_output") is None]
    if bad:
        ax.plot(bad, [0.0] * len(bad), linestyle="none", marker="x", color="red", markersize=8,
                clip_on=False, transform=ax.get_xaxis_transform(), label="no feasible plan")
    ax.set_xlabel(x_name)
    ax.set_ylabel("USD per million output tokens")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(_mathsafe(title or "sweep: cost per million output tokens (labels: hardware chosen)"))
    fig.tight_layout()
    return _save(fig, path)
