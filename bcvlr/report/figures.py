"""Figures from raw curves (metrics.csv) and rliable outputs. A figure without data is not drawn:
it comes back as skipped with the reason, which the report index lists."""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: reports are built on clusters and in CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bcvlr.atomic import atomic_write  # noqa: E402
from bcvlr.methods import METHODS  # noqa: E402
from bcvlr.report.specs import VARIANT_LABELS, FigureSpec, method_label  # noqa: E402
from bcvlr.results.schema import Run  # noqa: E402
from bcvlr.tasks import get_task  # noqa: E402

log = logging.getLogger(__name__)

SUITE_TITLES = {"procgen": "Procgen", "dmc": "DMControl", "metaworld": "Metaworld"}
_FIXED_ORDER = [*METHODS, *VARIANT_LABELS]
_PALETTE = sns.color_palette("tab10", 10) + sns.color_palette("Dark2", 8)


def method_color(method: str) -> tuple[float, float, float]:
    if method in _FIXED_ORDER:
        return _PALETTE[_FIXED_ORDER.index(method) % len(_PALETTE)]
    return _PALETTE[zlib.crc32(method.encode()) % len(_PALETTE)]


@dataclass
class FigureResult:
    number: int | None  # None: a supplementary (rliable) figure
    name: str
    title: str
    files: list[Path] = field(default_factory=list)
    skipped: str = ""


def _style() -> None:
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "axes.titleweight": "bold"})


def _kfmt(x: float, _pos: object = None) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _save(fig: plt.Figure, out: Path, name: str, pdf: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = [out / f"{name}.{ext}" for ext in (("png", "pdf") if pdf else ("png",))]
    for path in files:
        atomic_write(path, lambda f, fmt=path.suffix[1:]: fig.savefig(f, format=fmt,
                                                                     bbox_inches="tight"))  # fmt: skip
    plt.close(fig)
    return files


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


# -- learning curves ---------------------------------------------------------------------------
def curve_stats(runs: Sequence[Run]) -> pd.DataFrame:
    """Mean and std over seeds on the union of the seeds' evaluation points.

    Seeds evaluated at different frames are linearly interpolated inside their own range only,
    so a curve never extends past where its runs have data; ``n`` says how many seeds back each
    point.
    """
    series = []
    for r in runs:
        s = r.scores()
        if len(s):
            series.append((s["frames"].to_numpy(float), s["value"].to_numpy(float)))
    if not series:
        return pd.DataFrame(columns=["frames", "mean", "std", "n"])
    grid = np.unique(np.concatenate([x for x, _ in series]))
    vals = np.full((len(series), len(grid)), np.nan)
    for i, (x, y) in enumerate(series):
        inside = (grid >= x.min()) & (grid <= x.max())
        vals[i, inside] = np.interp(grid[inside], x, y)
    # every grid point is some seed's own evaluation, so n >= 1 everywhere
    n = np.sum(~np.isnan(vals), axis=0)
    mean = np.nansum(vals, axis=0) / n
    dev = np.where(np.isnan(vals), 0.0, vals - mean)
    std = np.where(n > 1, np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1)), 0.0)
    return pd.DataFrame({"frames": grid, "mean": mean, "std": std, "n": n})


def _sweep_value(method: str, prefix: str) -> float:
    tail = method[len(prefix) :]
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)([kKmM]?)", tail.replace("p", "."))
    if not m:
        return math.inf
    mult = {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}[m.group(2)]
    return float(m.group(1)) * mult


def _figure_methods(spec: FigureSpec, available: set[str]) -> list[str]:
    fixed = [m for m in spec.methods if m in available]
    swept: list[tuple[float, str]] = []
    for p in spec.prefixes:
        swept += sorted((_sweep_value(m, p), m) for m in available if m.startswith(p))
    return fixed + [m for _, m in swept]


def _legend_label(spec: FigureSpec, method: str) -> str:
    for p in spec.prefixes:
        if method.startswith(p):
            tail = method[len(p) :]
            return (
                f"{spec.sweep_symbol} = {tail}"
                if spec.sweep_symbol != "videos"
                else (f"{tail} video transitions")
            )
    if spec.default_label and method in spec.methods:
        return spec.default_label
    return method_label(method)


def select_runs(runs: Sequence[Run], budget: str) -> list[Run]:
    """Standard-budget (incl. reduced mini) runs, or only extended-budget ones."""
    out = []
    for r in runs:
        extended = r.budget > get_task(r.task).budget
        if (budget == "extended") == extended:
            out.append(r)
    return out


def curves_figure(spec: FigureSpec, runs: Sequence[Run], out: Path, pdf: bool) -> FigureResult:
    res = FigureResult(spec.number, spec.name, spec.title)
    pool = select_runs(runs, spec.budget)
    methods_all = {r.method for r in pool}
    methods = _figure_methods(spec, methods_all)
    required = set(spec.required) | {
        m for m in methods if any(m.startswith(p) for p in spec.prefixes)
    }
    if not spec.required and not spec.prefixes:
        required = set(methods)
    by_key: dict[tuple[str, str], list[Run]] = {}
    for r in pool:
        if r.method in methods:
            by_key.setdefault((r.method, r.task), []).append(r)
    candidates = (
        spec.tasks
        if spec.tasks is not None
        else sorted({t for (_, t) in by_key}, key=lambda t: (get_task(t).suite, t))
    )
    tasks = [t for t in candidates if any((m, t) in by_key for m in required)]
    if not tasks:
        if spec.prefixes:
            want = " or ".join(f"{p}*" for p in spec.prefixes)
        else:
            want = ", ".join(spec.required or spec.methods)
        where = f" on {', '.join(spec.tasks)}" if spec.tasks else ""
        budget = " with an extended budget" if spec.budget == "extended" else ""
        res.skipped = f"no complete runs of {want}{where}{budget}"
        log.info("figure %s skipped: %s", spec.name, res.skipped)
        return res
    _style()
    rows, cols = _grid(len(tasks), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.4 * rows), squeeze=False)
    handles: dict[str, object] = {}
    sweep_methods = [m for m in methods if any(m.startswith(p) for p in spec.prefixes)]
    sweep_colors = dict(
        zip(sweep_methods, sns.color_palette("viridis", max(len(sweep_methods), 1)), strict=False)
    )
    for ax, task in zip(axes.flat, tasks, strict=False):
        t = get_task(task)
        for m in methods:
            group = by_key.get((m, task))
            if not group:
                continue
            st = curve_stats(group)
            color = sweep_colors.get(m) or ((0.1, 0.1, 0.1) if spec.prefixes else method_color(m))
            label = _legend_label(spec, m)
            (line,) = ax.plot(st["frames"], st["mean"], color=color, lw=2, label=label)
            ax.fill_between(
                st["frames"], st["mean"] - st["std"], st["mean"] + st["std"], color=color,
                alpha=0.18, lw=0,
            )  # fmt: skip
            handles.setdefault(label, line)
        if t.expert_score is not None:
            line = ax.axhline(t.expert_score, color="0.35", ls="--", lw=1.2, label="expert videos")
            handles.setdefault("expert videos", line)
        counts = sorted({len(by_key[(m, task)]) for m in methods if (m, task) in by_key})
        seeds = str(counts[0]) if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"
        ax.set_title(f"{task} ({SUITE_TITLES[t.suite]}, {seeds} seeds)", fontsize=10)
        unit = "environment steps" if t.budget_unit == "env_steps" else "environment frames"
        ax.set_xlabel(unit)
        ax.set_ylabel("success rate" if t.eval.metric == "success" else "evaluation return")
        ax.xaxis.set_major_formatter(FuncFormatter(_kfmt))
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Figure {spec.number}: {spec.title} (mean ± std over seeds)",
        fontsize=13, fontweight="bold",
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    # below the axes, outside them: bbox_inches="tight" grows the canvas to fit it
    fig.legend(
        list(handles.values()), list(handles.keys()), loc="upper center",
        ncol=min(len(handles), max(3, 3 * cols)), frameon=False, bbox_to_anchor=(0.5, 0.0),
    )  # fmt: skip
    res.files = _save(fig, out, spec.name, pdf)
    return res


# -- rliable figures ---------------------------------------------------------------------------
def _label_with_rewards(method: str) -> str:
    from bcvlr.report.specs import REWARD_METHODS

    return method_label(method) + (" (rewards)" if method in REWARD_METHODS else "")


def _interval_panel(
    ax: plt.Axes, df: pd.DataFrame, xlabel: str, ref: float | None, order: list[str] | None = None
) -> None:
    """One row per method (bottom to top in ``order``, default: by estimate)."""
    if order is None:
        df = df.sort_values("estimate")
    else:
        df = df.set_index("method").loc[order].reset_index()
    y = np.arange(len(df))
    for i, r in enumerate(df.itertuples(index=False)):
        c = method_color(r.method)
        ax.barh(i, r.ci_high - r.ci_low, left=r.ci_low, height=0.6, color=c, alpha=0.55)
        ax.plot([r.estimate, r.estimate], [i - 0.3, i + 0.3], color="k", lw=2)
    ax.set_yticks(y, [_label_with_rewards(m) for m in df["method"]])
    ax.set_xlabel(xlabel)
    if ref is not None:
        ax.axvline(ref, color="0.4", ls="--", lw=1)
        lo = min(0.0, float(df["ci_low"].min()) - 0.05)
        ax.set_xlim(lo, max(ref, float(df["ci_high"].max())) + 0.05)


def figure1(agg: pd.DataFrame, out: Path, pdf: bool, notes: dict[str, str]) -> FigureResult:
    res = FigureResult(1, "fig1_headline", "Video-normalised IQM per method and suite")
    iqm = agg[agg["metric"] == "iqm"]
    suites = [s for s in SUITE_TITLES if s in set(iqm["suite"])]
    if not suites:
        res.skipped = "no suite has a complete score matrix for rliable (see statistics notes)"
        log.info("figure %s skipped: %s", res.name, res.skipped)
        return res
    _style()
    fig, axes = plt.subplots(1, len(suites), figsize=(5.2 * len(suites), 3.8), squeeze=False)
    for ax, s in zip(axes.flat, suites, strict=True):
        d = iqm[iqm["suite"] == s]
        _interval_panel(ax, d, "IQM of score / expert score", 1.0)
        tasks = int(d["tasks"].max())
        ax.set_title(f"{SUITE_TITLES[s]} ({tasks} tasks{notes.get(s, '')})", fontsize=11)
    fig.suptitle(
        "Figure 1: interquartile mean of video-normalised scores at the table budget\n"
        "(bar: 95% stratified-bootstrap CI, tick: estimate, dashed: expert videos; "
        "(rewards): given environment rewards)",
        fontsize=12,
    )
    fig.tight_layout()
    res.files = _save(fig, out, res.name, pdf)
    return res


def rliable_figures(
    suite: str,
    agg: pd.DataFrame,
    profiles: pd.DataFrame,
    poi: pd.DataFrame,
    eff: pd.DataFrame,
    out: Path,
    pdf: bool,
) -> list[FigureResult]:
    title = SUITE_TITLES[suite]
    results = []
    _style()

    r = FigureResult(None, f"rliable_{suite}_aggregates", f"{title}: aggregate metrics")
    d = agg[agg["suite"] == suite]
    if d.empty:
        r.skipped = f"no {suite} score matrix"
    else:
        names = {"median": "Median", "iqm": "IQM", "mean": "Mean",
                 "optimality_gap": "Optimality gap (lower is better)"}  # fmt: skip
        fig, axes = plt.subplots(1, 4, figsize=(17, 0.5 * d["method"].nunique() + 2.2))
        # one row order for all four panels (by IQM), since only the first panel has labels
        order = list(d[d["metric"] == "iqm"].sort_values("estimate")["method"])
        for ax, (key, name) in zip(axes, names.items(), strict=True):
            _interval_panel(ax, d[d["metric"] == key], "normalised score", None, order)
            ax.set_title(name)
            if key != "median":
                ax.set_yticklabels([])
        fig.suptitle(f"{title}: aggregate video-normalised scores with 95% stratified-bootstrap "
                     "CIs", fontsize=12)  # fmt: skip
        fig.tight_layout()
        r.files = _save(fig, out, r.name, pdf)
    results.append(r)

    r = FigureResult(None, f"rliable_{suite}_profiles", f"{title}: performance profiles")
    d = profiles[profiles["suite"] == suite]
    if d.empty:
        r.skipped = f"no {suite} score matrix"
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for m, g in d.groupby("method", sort=False):
            c = method_color(m)
            ax.plot(g["tau"], g["fraction"], color=c, lw=2, label=method_label(m))
            ax.fill_between(g["tau"], g["ci_low"], g["ci_high"], color=c, alpha=0.15, lw=0)
        ax.set_xlabel("video-normalised score τ")
        ax.set_ylabel("fraction of runs with score > τ")
        ax.set_title(f"{title}: performance profiles (95% CI)")
        ax.legend(frameon=False, fontsize=9)
        fig.tight_layout()
        r.files = _save(fig, out, r.name, pdf)
    results.append(r)

    r = FigureResult(None, f"rliable_{suite}_poi", f"{title}: probability of improvement")
    d = poi[poi["suite"] == suite]
    if d.empty:
        r.skipped = f"needs BCV-LR and at least one other method with a {suite} score matrix"
    else:
        fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(d) + 1.8))
        d = d.sort_values("probability")
        for i, row in enumerate(d.itertuples(index=False)):
            c = method_color(row.y)
            ax.barh(i, row.ci_high - row.ci_low, left=row.ci_low, height=0.6, color=c, alpha=0.55)
            ax.plot([row.probability] * 2, [i - 0.3, i + 0.3], color="k", lw=2)
        ax.set_yticks(np.arange(len(d)), [f"BCV-LR > {method_label(y)}" for y in d["y"]])
        ax.axvline(0.5, color="0.4", ls="--", lw=1)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("P(BCV-LR > method), averaged over tasks")
        ax.set_title(f"{title}: probability of improvement (95% CI)")
        fig.tight_layout()
        r.files = _save(fig, out, r.name, pdf)
    results.append(r)

    r = FigureResult(None, f"rliable_{suite}_sample_efficiency",
                     f"{title}: sample-efficiency curves")  # fmt: skip
    d = eff[eff["suite"] == suite]
    if d.empty or d["at"].nunique() < 2:
        r.skipped = f"needs {suite} score matrices at two or more points of the budget"
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for m, g in d.groupby("method", sort=False):
            c = method_color(m)
            ax.plot(g["at"], g["iqm"], color=c, lw=2, marker="o", ms=3, label=method_label(m))
            ax.fill_between(g["at"], g["ci_low"], g["ci_high"], color=c, alpha=0.15, lw=0)
        unit = "environment steps" if suite == "procgen" else "environment frames"
        ax.set_xlabel(unit)
        ax.xaxis.set_major_formatter(FuncFormatter(_kfmt))
        ax.set_ylabel("IQM of score / expert score")
        ax.set_title(f"{title}: sample efficiency (IQM, 95% CI)")
        ax.legend(frameon=False, fontsize=9)
        fig.tight_layout()
        r.files = _save(fig, out, r.name, pdf)
    results.append(r)
    for r in results:
        if r.skipped:
            log.info("figure %s skipped: %s", r.name, r.skipped)
    return results
