"""Plotly figures and tables the notebooks share (one look across the book)."""

from __future__ import annotations

from typing import Iterable

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

TEMPLATE = "plotly_white"


class BookRenderer(MimetypeRenderer):
    """A figure as a small HTML snippet that calls `Plotly.newPlot`, without plotly.js itself.

    The built book loads plotly.js once per page from its own _static folder (see `book.build`), so an
    executed notebook stays small (plotly's own `notebook` renderer inlines 4.8 MB of plotly.js into every
    notebook) and nothing is fetched from a CDN. JupyterLab draws the plotly JSON sent alongside.
    """

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(fig_dict, include_plotlyjs=False, full_html=False, default_width="100%",
                           default_height=525, validate=False)
        return {"text/html": html}


def use_offline_renderer() -> None:
    """Figures carry both the plotly JSON (JupyterLab) and the HTML snippet (the built book)."""
    pio.renderers["book"] = BookRenderer()
    pio.renderers.default = "plotly_mimetype+book"


def show_tables_whole() -> None:
    """Tables in the book show every column and the full text of every cell (no `...` elisions)."""
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", None)
    pd.set_option("display.max_rows", 500)


def bar_counts(values: Iterable[str], title: str, xlabel: str, top: int | None = None) -> go.Figure:
    counts = pd.Series(list(values)).value_counts()
    if top:
        counts = counts.head(top)
    fig = px.bar(x=counts.index, y=counts.values, labels={"x": xlabel, "y": "count"}, title=title, template=TEMPLATE)
    fig.update_layout(xaxis_tickangle=-45, height=420)
    return fig


def histogram(frame: pd.DataFrame, x: str, title: str, color: str | None = None, nbins: int = 50, **kwargs) -> go.Figure:
    fig = px.histogram(frame, x=x, color=color, nbins=nbins, title=title, template=TEMPLATE,
                       barmode="overlay", opacity=0.7, **kwargs)
    fig.update_layout(height=400)
    return fig


def side_by_side(ours: dict[str, float], paper: dict[str, float], label_ours: str, label_paper: str,
                 index_name: str = "") -> pd.DataFrame:
    """A table with the seed paper's numbers beside ours (missing entries shown as NaN)."""
    keys = list(dict.fromkeys(list(paper) + list(ours)))
    frame = pd.DataFrame({label_paper: [paper.get(k) for k in keys], label_ours: [ours.get(k) for k in keys]}, index=keys)
    frame.index.name = index_name
    return frame
