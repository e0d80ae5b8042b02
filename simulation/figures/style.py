"""One figure style: a paper's column width, readable fonts, colour-blind-safe colours.

Colours are the Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2008), which
stays distinguishable under the common colour-vision deficiencies; each strategy keeps its
colour and marker in every figure.
"""
from __future__ import annotations

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
             "#000000")
STRATEGY_ORDER = ("device-polling", "manager-polling", "device-initiated",
                  "manager-initiated", "delegated", "mqtt-http", "mqtt-coap", "discovery")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")
COLUMN_WIDTH_IN = 3.5      # one column of a two-column paper (IEEE: 3.5 in)


def strategy_style(name: str) -> dict:
    """Colour and marker of a strategy, the same in every figure."""
    k = STRATEGY_ORDER.index(name) if name in STRATEGY_ORDER else len(STRATEGY_ORDER) - 1
    return {"color": OKABE_ITO[k], "marker": MARKERS[k], "label": name}


def apply() -> None:
    """Set matplotlib's defaults to the study's style."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (COLUMN_WIDTH_IN, COLUMN_WIDTH_IN * 0.7),
        "figure.dpi": 150, "savefig.dpi": 300, "savefig.bbox": "tight",
        "font.size": 8, "axes.labelsize": 8, "legend.fontsize": 7,
        "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2,
        "lines.markersize": 4, "axes.grid": True, "grid.alpha": 0.3,
        "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
    })
