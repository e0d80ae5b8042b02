"""The study's figures, drawn from its stored results only (`iotsu-sim reproduce`, and
`iotsu-sim figures RESULTS_DIR` on the study's folder).

One function per figure, each taking the study's folder and returning a matplotlib Figure,
so that a notebook shows exactly the figure of the report. Every point of a sweep is the
mean over its replications with its 95 % interval as an error bar: the bootstrap
percentile interval (`<field>_lo`, `<field>_hi`, within the field's range), or the
Student-t half-width (`<field>_ci95`) for summaries stored before the first existed. Curves
of single devices tables (completion, CDF) come from replication 0 of a point (the run
the study keeps), with the replications' median and p95 and their intervals marked. A
figure of the quick tier says that its intervals, over a few replications, are
indicative. Style: `style.py` (a paper's column width, Okabe-Ito colours, one colour and
marker per strategy).
"""
from __future__ import annotations

import functools
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from simulation import analysis
from simulation.figures import style
from simulation.outputs import staged
from simulation.sweeps.pareto import fronts, on_front
from simulation.sweeps.ranking import comparable, leads

log = logging.getLogger(__name__)

STRATEGY = "strategy.name"
#: axis labels of grid keys and fields (SI units)
LABELS = {
    "fleet.size": "fleet size (devices)",
    "nat.udp_timeout_s": "NAT UDP binding timeout (s)",
    "device.wake_interval_s": "wake-up interval (s)",
    "link.preset": "coverage",
    "gateway.devices_per_gateway": "devices per gateway",
    "update.delta_ratio": "update size (fraction of the image)",
    "security.mode": "security",
    "mqtt.session": "MQTT session",
    "devices_per_cell": "devices per cell",
    "updated_fraction": "fraction updated",
    "ttu_p50_s": "median time to update (s)",
    "ttu_p95_s": "p95 time to update (s)",
    "energy_per_device_j": "energy per device (J)",
    "manager_msgs": "manager messages",
    "manager_peak_rps": "manager peak (messages/s)",
    "cell_peak_stretch": "peak cell stretch",
    "backhaul_bytes_per_device": "backhaul bytes per device",
    "bytes_down_per_device": "downlink bytes per device",
    "radio_bytes_per_device": "radio bytes per device",
}
#: the parts of the bytes on a device's radio link (summary fields, per device)
BYTE_PARTS = {"payload_bytes_per_device": "payload", "header_bytes_per_device": "headers",
              "security_bytes_per_device": "security", "wasted_bytes_per_device": "wasted"}
PART_COLOURS = ("#0072B2", "#56B4E9", "#D55E00", "#999999")

#: file stem -> (question key, function); filled by @figure in the report's order
FIGURES: dict[str, tuple[str, object]] = {}


def figure(stem: str, key: str):
    def register(fn):
        @functools.wraps(fn)
        def drawn(folder):
            fig = fn(folder)
            note = tier_note(folder, key)
            if fig is not None and note:
                fig.text(1.0, 0.0, note, ha="right", va="top", fontsize=6, color="0.35")
            return fig
        FIGURES[stem] = (key, drawn)
        return drawn
    return register


def tier_note(folder, key: str) -> str | None:
    """The note of a figure of question `key` of the quick tier (`study.json`), e.g.
    "quick tier: 2 replications, intervals indicative"; None for the other tiers."""
    study = analysis.load_study(folder)
    if study.get("tier") != "quick":
        return None
    counts = sorted({q["replications"] for q in study.get("questions", [])
                     if q.get("key") == key and "replications" in q})
    reps = f"{'-'.join(map(str, counts))} replications, " if counts else ""
    return f"quick tier: {reps}intervals indicative"


def interval(rows: pd.DataFrame, field: str, scale: float = 1.0) -> np.ndarray:
    """Error bars of `field` around its means (times `scale`), for matplotlib's yerr/xerr:
    [mean - lo, hi - mean] of the bootstrap interval (`_lo`, `_hi`), else the Student-t
    half-width `_ci95` of summaries stored without them."""
    mean = rows[f"{field}_mean"].to_numpy(dtype=float)
    if f"{field}_lo" not in rows or f"{field}_hi" not in rows:
        return rows[f"{field}_ci95"].to_numpy(dtype=float) * scale
    lo = rows[f"{field}_lo"].to_numpy(dtype=float)
    hi = rows[f"{field}_hi"].to_numpy(dtype=float)
    return np.clip(np.vstack([mean - lo, hi - mean]), 0.0, None) * scale   # 0: rounding


def _plt():
    import matplotlib.pyplot as plt   # the caller's backend (a notebook's inline one)

    style.apply()
    return plt


def _panels(n: int, sharex: bool = True, height: float | None = None):
    """A column-wide figure of `n` panels stacked; `height` in inches (default: by n)."""
    plt = _plt()
    width = style.COLUMN_WIDTH_IN
    height = height or width * (0.75 if n == 1 else 0.5 * n + 0.2)
    fig, axes = plt.subplots(n, 1, sharex=sharex, layout="constrained",
                             figsize=(width, height), squeeze=False)
    return fig, list(axes[:, 0])


def series_style(hue: str | None, value, i: int) -> dict:
    """A strategy keeps its own colour and marker; other series take the palette in
    order (skipping nothing: they never share a figure with strategies' colours)."""
    if hue == STRATEGY:
        return style.strategy_style(value)
    k = i % len(style.OKABE_ITO)
    return {"color": style.OKABE_ITO[k], "marker": style.MARKERS[k], "label": str(value)}


def _hue_values(summary: pd.DataFrame, hue: str | None) -> list:
    if hue is None:
        return [None]
    values = list(dict.fromkeys(summary[hue]))
    if hue == STRATEGY:
        order = {s: i for i, s in enumerate(style.STRATEGY_ORDER)}
        values.sort(key=lambda s: order.get(s, len(order)))
    return values


def lines(ax, summary: pd.DataFrame, x: str, field: str, hue: str | None = STRATEGY,
          logx: bool = True, logy: bool = False) -> None:
    """Mean and 95 % interval of `field` against `x`, one line per value of `hue`."""
    for i, value in enumerate(_hue_values(summary, hue)):
        rows = summary if hue is None else summary[summary[hue] == value]
        rows = rows.sort_values(x)
        y = rows[f"{field}_mean"].to_numpy(dtype=float)
        if np.isnan(y).all():
            continue
        ax.errorbar(rows[x].to_numpy(dtype=float), y, yerr=interval(rows, field), capsize=2,
                    **series_style(hue, value, i))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    grid_ticks(ax, summary[x])
    if field == "updated_fraction":
        ax.set_ylim(-0.03, 1.05)
    ax.set_ylabel(LABELS.get(field, field))


def grid_ticks(ax, values) -> None:
    """Ticks at the simulated values (every other one labelled when there are many)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    values = sorted({float(v) for v in values})
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_minor_locator(NullLocator())
    step = 1 if len(values) <= 7 else 2
    labels = {v: f"{v:,g}" for v in values[::step]}
    ax.xaxis.set_major_formatter(lambda v, _pos: labels.get(v, ""))


def against(summary: pd.DataFrame, x: str, fields: list[tuple[str, bool]],
            hue: str | None = STRATEGY, logx: bool = True):
    """A figure of one panel per (field, log y axis) against grid key `x`, a line per
    value of `hue`; linear y axes start at 0 when x is linear too."""
    fig, axes = _panels(len(fields))
    for ax, (field, logy) in zip(axes, fields, strict=True):
        lines(ax, summary, x, field, hue=hue, logx=logx, logy=logy)
        if not (logx or logy):
            ax.set_ylim(bottom=0)
    axes[-1].set_xlabel(LABELS.get(x, x))
    if hue is not None:
        _legend(fig, axes[0], ncol=3 if hue == STRATEGY else 2)
    return fig


def bars(ax, summary: pd.DataFrame, category: str, field: str, hue: str = STRATEGY,
         scale: float = 1.0, label: str | None = None, logy: bool = False) -> None:
    """Grouped bars: one group per value of `category`, one bar per value of `hue`, each
    the mean with its 95 % interval (times `scale`)."""
    cats = list(dict.fromkeys(summary[category]))
    hues = _hue_values(summary, hue)
    width = 0.8 / len(hues)
    for i, value in enumerate(hues):
        rows = summary[summary[hue] == value].set_index(category).reindex(cats)
        kw = series_style(hue, value, i)
        ax.bar(np.arange(len(cats)) + (i - (len(hues) - 1) / 2) * width,
               rows[f"{field}_mean"] * scale, width, yerr=interval(rows, field, scale),
               color=kw["color"], label=kw["label"], capsize=1.5,
               error_kw={"elinewidth": 0.6})
    ax.set_xticks(np.arange(len(cats)), [str(c) for c in cats])
    ax.set_ylabel(label or LABELS.get(field, field))
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)             # a mean is >= 0, whatever its interval says
    ax.grid(axis="x", visible=False)


def _legend(fig, ax, ncol: int = 3) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncol=ncol, frameon=False)


def _curves(ax, folder, name: str, where: dict, hue: str, x_log: bool,
            summary: pd.DataFrame | None = None) -> None:
    """Completion curves (fraction updated against time since the release) of the kept
    runs matching `where`, one per value of `hue`; with `summary`, the replications'
    median and p95 and their 95 % intervals are marked on each curve."""
    kept = analysis.select(analysis.kept_runs(folder, name), where)
    if hue == "devices_per_cell":
        kept = kept.assign(devices_per_cell=[
            analysis.load_run(f)["summary"]["fleet_size"] / c
            for f, c in zip(kept["folder"], kept["fleet.cells"], strict=True)])
    kept = kept.sort_values(hue)
    last, end = 0.0, 0.0
    for i, value in enumerate(_hue_values(kept, hue)):
        row = kept[kept[hue] == value].iloc[0]
        run = analysis.load_run(row["folder"])
        release = run["scenario"]["update"]["release_s"]
        t, frac = analysis.completion_curve(run["devices"], release)
        last = max(last, t[-1])
        end = max(end, run["scenario"]["sim"]["horizon_s"] - release)
        kw = series_style(hue, value, i)
        label = kw["label"] if hue == STRATEGY else f"{value:g}"
        if x_log:
            t, frac = t[1:], frac[1:]
        else:                            # flat to the horizon: what was never updated
            t = np.append(t, run["scenario"]["sim"]["horizon_s"] - release)
            frac = np.append(frac, frac[-1])
        ax.step(t, frac, where="post", color=kw["color"], label=label)
        if summary is not None:
            point = analysis.select(summary, {**where, hue: value})
            for q, level in (("ttu_p50_s", 0.5), ("ttu_p95_s", 0.95)):
                mean = point[f"{q}_mean"].iloc[0]
                if np.isfinite(mean):
                    ax.errorbar([mean], [level], xerr=interval(point.iloc[:1], q),
                                color=kw["color"], marker=kw["marker"], capsize=2,
                                linestyle="none")
    if x_log:
        ax.set_xscale("log")
    else:                                # up to the last update, with room to see it
        ax.set_xlim(0, min(end, 1.15 * last) if last > 0 else end)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time since the release (s)")


# --- (a) fleet size

def _representative_size(folder) -> float:
    return analysis.nearest(analysis.kept_runs(folder, "fleet-size")["fleet.size"], 1000)


@figure("a_completion", "a")
def fleet_completion(folder):
    """Fraction of the fleet updated against time, per strategy, near 1000 devices."""
    fig, (ax,) = _panels(1)
    size = _representative_size(folder)
    _curves(ax, folder, "fleet-size", {"fleet.size": size}, STRATEGY, x_log=False)
    ax.set_ylabel(f"fraction of {size:,.0f} devices updated")
    _legend(fig, ax)
    return fig


@figure("a_ttu_cdf", "a")
def fleet_ttu_cdf(folder):
    """CDF of time to update per strategy (log time), with the replications' median and
    p95 (markers, 95 % interval)."""
    fig, (ax,) = _panels(1)
    size = _representative_size(folder)
    summary = analysis.study_summary(folder, "fleet-size")
    _curves(ax, folder, "fleet-size", {"fleet.size": size}, STRATEGY, x_log=True,
            summary=summary)
    ax.set_xlabel("time to update (s)")
    ax.set_ylabel(f"CDF over {size:,.0f} devices")
    _legend(fig, ax)
    return fig


@figure("a_manager_load", "a")
def fleet_manager_load(folder):
    """Manager messages per campaign and peak messages per second against fleet size."""
    return against(analysis.study_summary(folder, "fleet-size"), "fleet.size",
                   [("manager_msgs", True), ("manager_peak_rps", True)])


@figure("a_time_to_update", "a")
def fleet_time_to_update(folder):
    """Median and p95 time to update against fleet size."""
    return against(analysis.study_summary(folder, "fleet-size"), "fleet.size",
                   [("ttu_p50_s", False), ("ttu_p95_s", False)])


# --- (b) NAT timeout

@figure("b_nat_timeout", "b")
def nat_timeout(folder):
    """Fraction updated and p95 time to update against the NAT's UDP timeout."""
    return against(analysis.study_summary(folder, "nat-timeout"), "nat.udp_timeout_s",
                   [("updated_fraction", False), ("ttu_p95_s", False)])


# --- (c) wake interval

@figure("c_wake_interval", "c")
def wake_interval(folder):
    """p95 time to update and energy per device against the wake-up interval."""
    return against(analysis.study_summary(folder, "wake-interval"), "device.wake_interval_s",
                   [("ttu_p95_s", True), ("energy_per_device_j", True)])


# --- (d) coverage

@figure("d_coverage", "d")
def coverage(folder):
    """Energy per device and median time to update by coverage class and strategy."""
    fig, axes = _panels(2)
    summary = analysis.study_summary(folder, "coverage")
    bars(axes[0], summary, "link.preset", "energy_per_device_j", logy=True)
    bars(axes[1], summary, "link.preset", "ttu_p50_s", logy=True)
    axes[1].set_xlabel(LABELS["link.preset"])
    _legend(fig, axes[0])
    return fig


# --- (e) gateway fan-out

@figure("e_gateway_backhaul", "e")
def gateway_backhaul(folder):
    """Backhaul bytes per device and p95 time to update against devices per gateway."""
    return against(analysis.study_summary(folder, "gateway-fanout"),
                   "gateway.devices_per_gateway",
                   [("backhaul_bytes_per_device", True), ("ttu_p95_s", False)],
                   hue="gateway.fetch")


# --- (f) delta ratio

@figure("f_delta_ratio", "f")
def delta_ratio(folder):
    """Downlink bytes, energy per device and p95 time to update against the update's
    size (discovery)."""
    return against(analysis.study_summary(folder, "delta-ratio"), "update.delta_ratio",
                   [("bytes_down_per_device", False), ("energy_per_device_j", False),
                    ("ttu_p95_s", False)], hue=None, logx=False)


# --- (g) security

@figure("g_security", "g")
def security(folder):
    """Radio bytes and energy per device by security mode and strategy."""
    fig, axes = _panels(2)
    summary = analysis.study_summary(folder, "security")
    bars(axes[0], summary, "security.mode", "radio_bytes_per_device", scale=1e-3,
         label="radio kB per device")
    bars(axes[1], summary, "security.mode", "energy_per_device_j")
    axes[1].set_xlabel(LABELS["security.mode"])
    _legend(fig, axes[0])
    return fig


@figure("g_bytes_split", "g")
def bytes_split(folder):
    """Bytes per device on the radio link split into payload, protocol headers, security
    and wasted transmissions, by strategy, without security and with the grid's last
    mode (`tls`: every hop secured); the error bar is the 95 % interval of the total.
    None when the runs do not carry the split (results of a version without it)."""
    summary = analysis.study_summary(folder, "security")
    missing = [f for f in (*BYTE_PARTS, "bytes_per_device") if f"{f}_mean" not in summary]
    if missing:
        log.info("bytes split figure skipped: the security runs have no %s (results from "
                 "a version without the byte split)", missing[0])
        return None
    modes = list(dict.fromkeys(summary["security.mode"]))
    modes = list(dict.fromkeys([modes[0], modes[-1]]))
    fig, axes = _panels(len(modes), height=style.COLUMN_WIDTH_IN * (0.45 * len(modes) + 0.2))
    for ax, mode in zip(axes, modes, strict=True):
        rows = summary[summary["security.mode"] == mode]
        strategies = _hue_values(rows, STRATEGY)
        rows = rows.set_index(STRATEGY).reindex(strategies)
        y = np.arange(len(strategies))
        left = np.zeros(len(strategies))
        for (part, label), colour in zip(BYTE_PARTS.items(), PART_COLOURS, strict=True):
            width = rows[f"{part}_mean"].to_numpy(dtype=float) / 1000
            ax.barh(y, width, left=left, color=colour, label=label, height=0.7)
            left += width
        ax.errorbar(rows["bytes_per_device_mean"] / 1000, y,
                    xerr=interval(rows, "bytes_per_device", 1e-3), color="black",
                    linestyle="none", capsize=1.5, elinewidth=0.6)
        ax.set_yticks(y, strategies)
        ax.invert_yaxis()
        ax.set_title(f"security: {mode}", fontsize=7, pad=2)
        ax.grid(axis="y", visible=False)
    axes[-1].set_xlim(left=0)
    axes[-1].set_xlabel("kB per device on the radio link")
    _legend(fig, axes[0], ncol=4)
    return fig


# --- (h) cell contention

def _contention_summary(folder) -> pd.DataFrame:
    return analysis.study_summary(folder, "cell-contention").assign(
        devices_per_cell=lambda s: s["devices_per_cell_mean"])


@figure("h_cell_contention", "h")
def cell_contention(folder):
    """Fraction updated and p95 time to update against devices per cell, the whole fleet
    released at once."""
    return against(_contention_summary(folder), "devices_per_cell",
                   [("updated_fraction", False), ("ttu_p95_s", True)])


@figure("h_completion", "h")
def cell_completion(folder):
    """Completion curves of device-initiated (else the grid's first strategy), one per
    number of devices per cell."""
    fig, (ax,) = _panels(1)
    strategies = analysis.load_sweep(Path(folder) / "cell-contention")["manifest"]["grid"][
        STRATEGY]
    strategy = "device-initiated" if "device-initiated" in strategies else strategies[0]
    _curves(ax, folder, "cell-contention", {STRATEGY: strategy}, "devices_per_cell",
            x_log=False)
    ax.set_ylabel(f"fraction updated ({strategy})")
    ax.legend(title="devices per cell", ncol=2)
    return fig


def save(fig, folder: Path, stem: str) -> list[Path]:
    """PNG and PDF of `fig`, byte for byte the same from the same results (no dates)."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    fig.savefig(paths[0], metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Creator": None, "Producer": None,
                                    "CreationDate": None})
    plt.close(fig)
    return paths


def draw_study(folder: str | Path, workers: int = 1) -> list[Path]:
    """Every figure of the study in `folder` into `folder/figures/` (PNG and PDF), all at
    once: a figure that fails leaves the previous figures in place. `workers` > 1 draws
    them in that many processes; the files are the same byte for byte."""
    folder = Path(folder)
    analysis.load_study(folder)                      # refuses a folder without a study
    owned = tuple(f"{stem}.{ext}" for stem in FIGURES for ext in ("png", "pdf"))
    stems = list(FIGURES)
    with staged(folder / "figures", owned=owned) as tmp:
        if workers > 1 and len(stems) > 1:
            with ProcessPoolExecutor(min(workers, len(stems))) as pool:
                names = list(pool.map(_draw, [folder] * len(stems), stems,
                                      [tmp] * len(stems)))
        else:
            names = [_draw(folder, stem, tmp) for stem in stems]
    return [folder / "figures" / name for drawn in names for name in drawn]


def _draw(folder: Path, stem: str, into: Path) -> list[str]:
    """Draw figure `stem` of the study in `folder` into `into`; the names of its files."""
    import matplotlib

    matplotlib.use("Agg")
    fig = FIGURES[stem][1](folder)
    return [] if fig is None else [p.name for p in save(fig, Path(into), stem)]


# --- (i) MQTT session

@figure("i_mqtt_session", "i")
def mqtt_session(folder):
    """Energy per device and p95 time to update against the wake-up interval, keeping the
    MQTT session open or reconnecting at each wake-up."""
    return against(analysis.study_summary(folder, "mqtt-session"), "device.wake_interval_s",
                   [("energy_per_device_j", True), ("ttu_p95_s", True)], hue="mqtt.session")


# --- the operator's choice: Pareto fronts per fleet profile

#: fleet profiles: the questions whose grid sets one, with their sweep and that grid key
PROFILES = {"a": ("fleet-size", "fleet.size"), "b": ("nat-timeout", "nat.udp_timeout_s"),
            "c": ("wake-interval", "device.wake_interval_s"), "d": ("coverage", "link.preset")}


def pareto(folder, key: str):
    """Energy per device (log) against p95 time to update, one panel per value of the
    profile's grid key, one marker per strategy (its colour and marker) with its 95 %
    intervals; the Pareto front (both minimised, `simulation.sweeps.pareto`) joined by a
    line, and each point labelled with the manager's load, messages per device. A strategy
    without a p95 (fewer than 95 % updated) is left out of its panel."""
    name, by = PROFILES[key]
    summary = analysis.study_summary(folder, name)
    table = fronts(summary, by)
    values = list(dict.fromkeys(summary[by]))
    plt = _plt()
    cols = 2 if len(values) > 1 else 1
    rows = -(-len(values) // cols)
    width = style.COLUMN_WIDTH_IN * (2 if cols == 2 else 1)
    fig, axes = plt.subplots(rows, cols, layout="constrained", squeeze=False,
                             figsize=(width, 0.75 * style.COLUMN_WIDTH_IN * rows))
    for ax in axes.flat[len(values):]:
        ax.set_axis_off()
    for ax, value in zip(axes.flat, values, strict=False):
        here = summary[summary[by] == value]
        front = table[(table[by] == value) & table["on_front"]]
        for s in _hue_values(here, STRATEGY):
            row = here[here[STRATEGY] == s]
            if not np.isfinite(row["ttu_p95_s_mean"].to_numpy(dtype=float)).all():
                continue
            st = series_style(STRATEGY, s, 0)
            ax.errorbar(row["energy_per_device_j_mean"], row["ttu_p95_s_mean"],
                        xerr=interval(row, "energy_per_device_j"),
                        yerr=interval(row, "ttu_p95_s"), linestyle="none",
                        markersize=4, capsize=1.5, **st)
            load = float(row["manager_msgs_per_device_mean"].iloc[0])
            ax.annotate(f"{load:.0f}", (float(row["energy_per_device_j_mean"].iloc[0]),
                                        float(row["ttu_p95_s_mean"].iloc[0])),
                        xytext=(3, 3), textcoords="offset points", fontsize=5,
                        color="0.3")
        front = front.sort_values("energy_per_device_j_mean")
        ax.plot(front["energy_per_device_j_mean"], front["ttu_p95_s_mean"], color="0.4",
                linewidth=0.8, linestyle="--", zorder=0)
        ax.set_xscale("log")
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        ax.set_title(f"{LABELS.get(by, by)}: {shown}", fontsize=7)
        ax.set_xlabel(LABELS["energy_per_device_j"])
        ax.set_ylabel(LABELS["ttu_p95_s"])
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=6,
               title="dashed: Pareto front; numbers: manager messages per device; "
                     "delegated: its devices' local radio, the gateway not counted",
               title_fontsize=6)
    return fig


for _key in PROFILES:
    figure(f"{_key}_pareto", _key)(functools.partial(pareto, key=_key))


@figure("j_robustness", "j")
def robustness(folder):
    """Tornado chart of the rankings' margins: for the fastest strategy (p95 time to
    update) and the most frugal one (energy per device, among the strategies whose devices
    are on the cellular radio: `sweeps.ranking.comparable`) as configured, its lead over the
    best other strategy under each assumption changed (bars, sorted by how far they move
    from the as-configured lead, the dashed line); a bar left of zero: it is beaten. None
    for a study stored before it had this question."""
    if not (Path(folder) / "robustness" / "runs.parquet").is_file():
        return None
    summary = analysis.study_summary(folder, "robustness")
    fig, axes = _panels(2, sharex=False, height=style.COLUMN_WIDTH_IN * 1.3)
    for ax, (field, what) in zip(axes, (("ttu_p95_s", "p95 time to update"),
                                        ("energy_per_device_j", "energy per device")),
                                 strict=True):
        winner, table = leads(comparable(summary, field), field)
        if not winner:
            ax.set_axis_off()
            continue
        base = float(table.loc[table["variant"] == "as-configured", "lead"].iloc[0])
        rest = table[table["variant"] != "as-configured"].copy()
        rest["moved"] = (rest["lead"] - base).abs()
        rest = rest.sort_values("moved", kind="stable")
        pct = 100 * rest["lead"].fillna(-1.0).to_numpy()
        y = np.arange(len(rest))
        colours = ["#0072B2" if v >= 0 else "#D55E00" for v in pct]
        ax.barh(y, pct, color=colours, height=0.6)
        ax.axvline(100 * base, color="black", linestyle="--", linewidth=0.8)
        ax.axvline(0.0, color="0.5", linewidth=0.6)
        ax.set_yticks(y, rest["variant"].tolist())
        ax.set_xlabel(f"lead of {winner} in {what} over the next strategy (%)")
    return fig


# --- (k) rollout policies

#: the rollout question's grid keys: the policy (a variant of manager settings) and the
#: share of installs that fail (0: a good release)
POLICY, FAILURE = "variant", "update.failure_rate"


def rollout_measures(summary: pd.DataFrame) -> pd.DataFrame:
    """Per rollout policy (in the grid's order): the good release's p95 time to update,
    peak cell stretch and manager peak, and the devices the bad release exposed (means
    over replications, with the bad release's `_lo`/`_hi` or `_ci95` columns of
    `exposed_devices`); the bad release is the largest failure rate."""
    policies = list(dict.fromkeys(summary[POLICY]))
    out = pd.DataFrame(index=pd.Index(policies, name=POLICY))
    for rate, fields in ((summary[FAILURE].min(), ("ttu_p95_s", "cell_peak_stretch",
                                                   "manager_peak_rps")),
                         (summary[FAILURE].max(), ("exposed_devices",))):
        rows = summary[summary[FAILURE] == rate].set_index(POLICY).reindex(policies)
        for column in (f + suffix for f in fields for suffix in ("_mean", "_lo", "_hi",
                                                                    "_ci95")):
            if column in rows:
                out[column] = rows[column]
    return out.reset_index()


@figure("k_rollout", "k")
def rollout(folder):
    """Speed against blast radius: per rollout policy, the bad release's exposed devices
    against the good release's p95 time to update (the policies no other beats on both
    joined: the Pareto front; a policy without a p95 is left out, and named), then the
    good release's peak cell stretch and manager peak per policy. None for a study stored
    before it had this question."""
    if not (Path(folder) / "rollout" / "runs.parquet").is_file():
        return None
    m = rollout_measures(analysis.study_summary(folder, "rollout"))
    fig, axes = _panels(3, sharex=False, height=style.COLUMN_WIDTH_IN * 1.6)
    ax = axes[0]
    x = m["ttu_p95_s_mean"].to_numpy(float) / 3600.0
    y = m["exposed_devices_mean"].to_numpy(float)
    front = on_front(np.column_stack([x, y]))
    for i, policy in enumerate(m[POLICY]):
        kw = series_style(None, policy, i)
        if not np.isfinite(x[i]):
            ax.plot([], [], linestyle="none", color=kw["color"], marker=kw["marker"],
                    label=f"{policy} (no p95)")
            continue
        ax.errorbar(x[i], y[i], yerr=interval(m.iloc[[i]], "exposed_devices"),
                    linestyle="none", color=kw["color"], marker=kw["marker"],
                    label=policy, capsize=1.5)
    order = np.argsort(np.where(front, x, np.inf))[:int(front.sum())]
    ax.plot(x[order], y[order], color="0.5", linewidth=0.8, zorder=0)
    ax.set_xlabel("p95 time to update, good release (h)")
    ax.set_ylabel("devices exposed, bad release")
    ax.set_ylim(bottom=0)
    for ax, field in zip(axes[1:], ("cell_peak_stretch", "manager_peak_rps"), strict=True):
        bars(ax, m.assign(one="good release"), POLICY, field, hue="one")
    _legend(fig, axes[0], ncol=2)
    return fig
