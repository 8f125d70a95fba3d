"""Synthetic charts: a generated data table, the matplotlib script that draws it, the image, and questions.

This is DeepSeek-VL's table-and-chart data made from scratch. `make_spec(seed)` draws a topic
(monthly sales, city populations, market shares ...), a table of plausible numbers and a style, all
from `random.Random(seed)`, so a seed is a chart. `plot_code(spec)` writes a standalone script with
the data inline; `render(spec)` *executes that script* and keeps what it saves, so the `code`
column provably reproduces the image. Every answer is computed from the same rounded numbers the
CSV holds, so the questions, the table and the picture always agree.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import struct
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import matplotlib

# Workers have no display; but a notebook that imported pyplot (or set MPLBACKEND) keeps its own backend.
if not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colormaps, font_manager  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from pipelines.schema import image_value, meta_json, sample_id  # noqa: E402
from pipelines.stage import InputError  # noqa: E402
from sources.chart.questions import Question, ask  # noqa: E402
from sources.chart.topics import TOPICS  # noqa: E402
from taxonomy.instructions import IMAGE_TOKEN  # noqa: E402

CHART_TYPES: tuple[str, ...] = ("bar", "grouped_bar", "stacked_bar", "line", "scatter", "pie", "area")
STAGE = "chart_synth/1"
URI = "synthetic://chart"
# Written into every Chinese chart's script; matplotlib uses the first one installed. Noto Sans CJK
# ships with Debian's fonts-noto-cjk, Source Han Sans is the same design, the rest cover Windows/macOS.
CJK_FONTS: tuple[str, ...] = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei",
                              "Microsoft YaHei", "PingFang SC")
OUTPUT = "chart.png"
# Share of conversations that end with "convert this chart to a table". The instruction builder may add its
# own chart-to-CSV turn to tagged charts, so a conversation can then hold the CSV twice; 0 leaves that to it.
TO_TABLE_SHARE = 0.35

_SERIES = {"bar": (1, 1), "pie": (1, 1), "grouped_bar": (2, 4), "stacked_bar": (2, 4), "line": (1, 4),
           "area": (1, 3), "scatter": (1, 2)}
_MAX_CATEGORIES = {"pie": 7, "grouped_bar": 8, "stacked_bar": 10}
_SHEETS = ("default", "default", "default", "ggplot", "bmh", "seaborn-v0_8-whitegrid", "seaborn-v0_8-darkgrid",
           "fivethirtyeight", "Solarize_Light2", "dark_background")
_QUALITATIVE = ("tab10", "tab10", "Set2", "Set1", "Dark2", "Paired", "Pastel1", "Accent", "tab20b")
_CONTINUOUS = ("viridis", "plasma", "cividis", "coolwarm")  # sampled evenly, any number of colours
_SIZES = ((6.0, 4.0), (6.4, 4.8), (7.0, 4.5), (8.0, 5.0), (8.0, 6.0), (9.0, 5.0), (10.0, 6.0))
_PIE_SIZES = ((5.0, 5.0), (6.0, 6.0), (7.0, 5.0), (6.4, 4.8))
_DPIS = (72, 96, 100, 120, 150)
_LEGENDS = ("best", "upper left", "upper right", "lower right", "outside")


@dataclass(frozen=True)
class ChartStyle:
    """How a chart looks: everything `plot_code` needs besides the data, recorded in `meta.style`."""

    figsize: tuple[float, float]
    dpi: int
    sheet: str  # matplotlib style sheet applied on top of the defaults
    palette: str  # colormap the colours were taken from
    colors: tuple[str, ...]
    font_size: int
    title_weight: str
    legend: str  # location, "outside" (right of the axes), or "" for none / pie labels on the wedges
    grid: bool
    orientation: str  # bars: "vertical" or "horizontal"
    marker: str  # lines and scatters; "" for none
    line_width: float
    marker_size: int
    show_values: bool  # numbers on single bars, percentages on pie wedges
    donut: bool
    color_by_category: bool  # single-series bars in one colour each
    x_rotation: int  # degrees for crowded category labels


@dataclass(frozen=True)
class ChartSpec:
    """A chart as data: the table (categories x series), its labels and language, and its style.

    `values[s][i]` is series `s` at category `i`, already rounded to `decimals`, so the plot, the CSV
    and the answers all use the same numbers. Single-series charts (bar, pie, some lines) have one
    series named after the value axis, `y_label`. Scatter categories are the x values as text.
    """

    chart_type: str
    lang: str
    topic: str
    title: str
    x_label: str
    y_label: str
    measure: str  # the value axis' noun without its unit, for questions ("sales")
    unit: str
    series_noun: str  # what one series is ("store"), for questions
    decimals: int
    x_decimals: int
    categories: tuple[str, ...]
    series: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]
    style: ChartStyle


# -- specs ------------------------------------------------------------------------------------------------------
def make_spec(seed: int, *, types: Sequence[str] = CHART_TYPES, zh_share: float = 0.3) -> ChartSpec:
    """The chart for `seed`: the same spec for the same seed everywhere (only `random.Random(seed)` is used).

    `types` and `zh_share` narrow what is drawn (the chart source's settings); they change which chart a
    seed gives, so a seed names a chart only together with them.
    """
    rng = random.Random(seed)
    chart_type = rng.choice(list(types))
    lang = "zh" if rng.random() < zh_share else "en"
    topic = rng.choice([t for t in TOPICS if chart_type in t.types])
    lo, hi, decimals = topic.values[lang]

    if topic.x is not None:  # scatter: numeric x, one value per series at each x
        x_lo, x_hi, x_dec = topic.x
        n = rng.randint(*topic.count)
        xs: set[float] = set()
        while len(xs) < n:
            xs.add(round(rng.uniform(x_lo, x_hi), x_dec))
        positions = sorted(xs)
        categories = tuple(f"{x:.{x_dec}f}" for x in positions)
    else:
        x_dec = 0
        pool = topic.categories[lang]
        low, high = topic.count
        high = min(high, len(pool), _MAX_CATEGORIES.get(chart_type, high))
        n = rng.randint(min(low, high), high)
        if topic.ordered:
            start = rng.randint(0, len(pool) - n)
            index = list(range(start, start + n))
        else:
            index = rng.sample(range(len(pool)), n)
        categories = tuple(pool[i] for i in index)
        positions = [float(i) for i in index]

    lo_s, hi_s = _SERIES[chart_type]
    names_pool, nouns = topic.series if topic.series else ({lang: ()}, {lang: ""})
    hi_s = min(hi_s, max(1, len(names_pool[lang])))
    n_series = 1 if chart_type == "line" and rng.random() < 0.4 else rng.randint(lo_s, hi_s)
    measure, unit = topic.measure[lang], topic.unit[lang]
    y_label = f"{measure}（{unit}）" if lang == "zh" else f"{measure} ({unit})"
    names = names_pool[lang]
    series = (y_label,) if n_series == 1 else tuple(sorted(rng.sample(names, n_series), key=names.index))

    values = tuple(_draw(rng, topic.shape, positions, lo, hi, decimals, topic.x) for _ in series)
    if topic.shape == "share" and rng.random() < 0.5:  # half the pies list their biggest slice first
        order = sorted(range(len(categories)), key=lambda i: -values[0][i])
        categories, values = tuple(categories[i] for i in order), (tuple(values[0][i] for i in order),)

    year = rng.randint(2018, 2024)
    title = rng.choice(topic.titles[lang]).format(year=year, first=categories[0], last=categories[-1])
    style = _draw_style(rng, chart_type, lang, categories, n_series)
    return ChartSpec(chart_type, lang, topic.key, title, topic.x_label[lang], y_label, measure, unit,
                     nouns[lang], decimals, x_dec, categories, series, values, style)


def _draw(rng: random.Random, shape: str, positions: list[float], lo: float, hi: float, decimals: int,
          x_range: tuple[float, float, int] | None) -> tuple[float, ...]:
    """One series of `len(positions)` numbers in [lo, hi] with the topic's shape, rounded."""
    n, span = len(positions), hi - lo
    if shape == "share":  # tenths of a percent, largest remainder, so the slices sum to exactly 100
        weights = [rng.uniform(0.5, 10.0) ** 1.3 for _ in range(n)]
        total, units = sum(weights), 10 ** (decimals + 2)
        raw = [w / total * units for w in weights]
        parts = [math.floor(r) for r in raw]
        for i in sorted(range(n), key=lambda i: parts[i] - raw[i])[: units - sum(parts)]:
            parts[i] += 1
        return tuple(round(p / 10**decimals, decimals) for p in parts)
    if shape in ("pos", "neg"):
        x_lo, x_hi, _ = x_range or (0.0, 1.0, 0)
        base, slope, noise = rng.uniform(0.05, 0.3), rng.uniform(0.4, 0.65), rng.uniform(0.03, 0.15)
        out = []
        for x in positions:
            t = (x - x_lo) / (x_hi - x_lo)
            t = t if shape == "pos" else 1 - t
            out.append(lo + span * (base + slope * t + rng.gauss(0, noise)))
    elif shape == "seasonal":
        mean, amp = rng.uniform(lo + 0.3 * span, lo + 0.6 * span), rng.uniform(0.1, 0.3) * span
        out = [mean - amp * math.cos(2 * math.pi * m / 12) + rng.gauss(0, 0.03 * span) for m in positions]
    elif shape in ("walk", "growth"):
        up, down = (0.6, 0.1) if shape == "growth" else (0.25, 0.2)
        mode = rng.random()
        if mode < up + down:  # steadily up (or down): steps small enough to stay in range
            v = rng.uniform(lo, lo + 0.4 * span)
            room = (hi - v) / n
            steps = [room * rng.uniform(0.3, 1.0) for _ in range(n - 1)]
            out = [v]
            for s in steps:
                out.append(out[-1] + s)
            if mode >= up:
                out = [hi + lo - x for x in out]
        else:
            v = rng.uniform(lo + 0.2 * span, hi - 0.2 * span)
            out = []
            for _ in range(n):
                out.append(v)
                v += rng.gauss(0, 0.15 * span)
                v = lo + abs(v - lo) if v < lo else hi - abs(v - hi) if v > hi else v
    else:
        out = [rng.uniform(lo, hi) for _ in range(n)]
    return tuple(round(min(hi, max(lo, v)), decimals) for v in out)


def _draw_style(rng: random.Random, chart_type: str, lang: str, categories: tuple[str, ...],
                n_series: int) -> ChartStyle:
    pie, bars = chart_type == "pie", chart_type in ("bar", "grouped_bar", "stacked_bar")
    figsize = rng.choice(_PIE_SIZES if pie else _SIZES)
    font_size = rng.choice((9, 10, 11, 12, 13))
    color_by_category = chart_type == "bar" and rng.random() < 0.25
    n_colors = len(categories) if pie or color_by_category else n_series
    palette = rng.choice([p for p in _QUALITATIVE if n_colors <= colormaps[p].N] + list(_CONTINUOUS))
    cmap = colormaps[palette]
    if palette in _QUALITATIVE:
        colors = tuple(to_hex(cmap(i)) for i in range(n_colors))
    else:  # evenly spaced, away from the ends (too pale or too dark on some backgrounds)
        colors = tuple(to_hex(cmap(0.1 + 0.8 * i / max(1, n_colors - 1))) for i in range(n_colors))
    legend = ""  # single series: nothing to tell apart; pies: labels on the wedges unless a legend is drawn
    if pie and rng.random() < 0.4:
        legend = "outside"
    elif not pie and n_series > 1:
        legend = rng.choice(_LEGENDS)
    orientation = "horizontal" if bars and rng.random() < 0.3 else "vertical"
    marker = rng.choice(("o", "s", "^", "D", "")) if chart_type in ("line", "area") else \
        rng.choice(("o", "s", "^", "D", "x")) if chart_type == "scatter" else ""
    show_values = (chart_type == "bar" and len(categories) <= 12 and rng.random() < 0.5) or \
        (pie and rng.random() < 0.7)
    # Rotate category labels that would collide: CJK glyphs are about one em wide, Latin about 0.6.
    x_rotation = 0
    if not pie and chart_type != "scatter" and orientation == "vertical":
        need = sum(len(c) * (1.0 if lang == "zh" else 0.6) + 1.5 for c in categories) * font_size
        room = figsize[0] * 72 * 0.8
        x_rotation = 45 if need > room else 30 if need > 0.75 * room else 0
    return ChartStyle(
        figsize=figsize, dpi=rng.choice(_DPIS), sheet=rng.choice(_SHEETS), palette=palette, colors=colors,
        font_size=font_size, title_weight=rng.choice(("bold", "normal")), legend=legend,
        grid=rng.random() < 0.6, orientation=orientation, marker=marker, line_width=rng.choice((1.5, 2.0, 2.5)),
        marker_size=rng.choice((25, 40, 60)), show_values=show_values, donut=pie and rng.random() < 0.3,
        color_by_category=color_by_category, x_rotation=x_rotation)


# -- table, code, image -----------------------------------------------------------------------------------------
def table_csv(spec: ChartSpec) -> str:
    """The chart's data as CSV: the category (x) column, then one column per series (a pie: label, value)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([spec.x_label, *spec.series])
    for i, c in enumerate(spec.categories):
        w.writerow([c, *(f"{col[i]:.{spec.decimals}f}" for col in spec.values)])
    return buf.getvalue()


def _lit(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a valid Python literal, CJK kept readable


def _nums(values: Sequence[float], decimals: int) -> str:
    return "[" + ", ".join(f"{v:.{decimals}f}" for v in values) + "]"


def plot_code(spec: ChartSpec) -> str:
    """A standalone matplotlib script that draws `spec` and saves it as chart.png: the `code` column."""
    st, kind, d = spec.style, spec.chart_type, spec.decimals
    horizontal = st.orientation == "horizontal"
    multi = len(spec.series) > 1
    lines = ["import matplotlib.pyplot as plt"]
    if kind == "grouped_bar":
        lines.append("import numpy as np")
    sheets = '"default"' if st.sheet == "default" else f'["default", {_lit(st.sheet)}]'
    lines += ["", f"plt.style.use({sheets})", f'plt.rcParams["font.size"] = {st.font_size}']
    if spec.lang == "zh":
        fonts = ", ".join(_lit(f) for f in (*CJK_FONTS, "DejaVu Sans"))
        lines += ['plt.rcParams["font.family"] = "sans-serif"', f'plt.rcParams["font.sans-serif"] = [{fonts}]',
                  'plt.rcParams["axes.unicode_minus"] = False']
    lines.append("")
    if kind == "scatter":
        lines.append(f"x = {_nums([float(c) for c in spec.categories], spec.x_decimals)}")
    else:
        lines.append(f"labels = [{', '.join(_lit(c) for c in spec.categories)}]")
    if multi:
        lines.append("data = {")
        lines += [f"    {_lit(name)}: {_nums(col, d)}," for name, col in zip(spec.series, spec.values, strict=True)]
        lines.append("}")
    else:
        lines.append(f"values = {_nums(spec.values[0], d)}")
    lines.append(f"colors = [{', '.join(_lit(c) for c in st.colors)}]")
    lines += ["", f'fig, ax = plt.subplots(figsize=({st.figsize[0]}, {st.figsize[1]}), layout="constrained")']
    lines += _body(spec)
    lines.append(f"ax.set_title({_lit(spec.title)}, fontweight={_lit(st.title_weight)})")
    if kind != "pie":
        x_label, y_label = (spec.y_label, spec.x_label) if horizontal else (spec.x_label, spec.y_label)
        lines += [f"ax.set_xlabel({_lit(x_label)})", f"ax.set_ylabel({_lit(y_label)})"]
        if st.x_rotation:
            lines.append(f'plt.setp(ax.get_xticklabels(), rotation={st.x_rotation}, ha="right")')
        if st.grid:
            axis = "" if kind in ("line", "scatter", "area") else ', axis="x"' if horizontal else ', axis="y"'
            lines.append(f'ax.grid(True{axis}, linestyle="--", alpha=0.6)')
        else:
            lines.append("ax.grid(False)")
        if min(min(col) for col in spec.values) < 0:
            lines.append(f'ax.ax{"v" if horizontal else "h"}line(0, color="grey", linewidth=0.8)')
    if kind == "pie":
        pass  # its legend (if any) names the wedges, in _body
    elif st.legend == "outside":
        lines.append('fig.legend(loc="outside right upper")')
    elif st.legend:
        lines.append(f"ax.legend(loc={_lit(st.legend)})")
    # fig.savefig, not plt.savefig: pyplot's version redraws the whole figure after saving (a third of the time).
    lines.append(f'fig.savefig("{OUTPUT}", dpi={st.dpi})')
    return "\n".join(lines) + "\n"


def _body(spec: ChartSpec) -> list[str]:
    """The plotting calls for the chart type, using the `labels`/`x`, `values`/`data`, `colors` variables."""
    st, kind, d = spec.style, spec.chart_type, spec.decimals
    horizontal, multi = st.orientation == "horizontal", len(spec.series) > 1
    marker = f", marker={_lit(st.marker)}" if st.marker else ""
    if kind == "bar":
        color = "colors" if st.color_by_category else "colors[0]"
        out = [f"bars = ax.{'barh' if horizontal else 'bar'}(labels, values, color={color})"]
        if horizontal:
            out.append("ax.invert_yaxis()")
        if st.show_values:
            out.append(f'ax.bar_label(bars, fmt="%.{d}f", padding=2, fontsize={max(7, st.font_size - 2)})')
        return out
    if kind == "grouped_bar":
        bar, ticks = ("barh", "set_yticks") if horizontal else ("bar", "set_xticks")
        size = "height" if horizontal else "width"
        out = ["pos = np.arange(len(labels))", "width = 0.8 / len(data)",
               "for i, (name, series) in enumerate(data.items()):",
               "    offset = (i - (len(data) - 1) / 2) * width",
               f"    ax.{bar}(pos + offset, series, {size}=width, label=name, color=colors[i])",
               f"ax.{ticks}(pos, labels)"]
        return out + (["ax.invert_yaxis()"] if horizontal else [])
    if kind == "stacked_bar":
        bar, base = ("barh", "left") if horizontal else ("bar", "bottom")
        out = ["base = [0.0] * len(labels)", "for i, (name, series) in enumerate(data.items()):",
               f"    ax.{bar}(labels, series, {base}=base, label=name, color=colors[i])",
               "    base = [b + v for b, v in zip(base, series)]"]
        return out + (["ax.invert_yaxis()"] if horizontal else [])
    if kind == "line":
        if not multi:
            return [f"ax.plot(labels, values, color=colors[0], linewidth={st.line_width}{marker})"]
        return ["for i, (name, series) in enumerate(data.items()):",
                f"    ax.plot(labels, series, label=name, color=colors[i], linewidth={st.line_width}{marker})"]
    if kind == "area":
        out = ["pos = range(len(labels))"]
        if multi:
            out.append("ax.stackplot(pos, *data.values(), labels=list(data), colors=colors, alpha=0.85)")
        else:
            out += ["ax.fill_between(pos, values, color=colors[0], alpha=0.35)",
                    f"ax.plot(pos, values, color=colors[0], linewidth={st.line_width}{marker})"]
        return out + ["ax.set_xticks(pos, labels)", "ax.set_xlim(0, len(labels) - 1)"]
    if kind == "scatter":
        if not multi:
            return [f"ax.scatter(x, values, s={st.marker_size}, marker={_lit(st.marker)}, color=colors[0], alpha=0.8)"]
        return ["for i, (name, series) in enumerate(data.items()):",
                f"    ax.scatter(x, series, s={st.marker_size}, marker={_lit(st.marker)}, label=name, "
                "color=colors[i], alpha=0.8)"]
    if kind == "pie":
        args = ["values", "colors=colors", "startangle=90", "counterclock=False"]
        if st.legend != "outside":
            args.insert(1, "labels=labels")
        if st.show_values:
            args.append('autopct="%1.1f%%"')
            args.append(f"pctdistance={0.78 if st.donut else 0.65}")
        if st.donut:
            args.append('wedgeprops={"width": 0.45}')
        out = [f"ax.pie({', '.join(args)})"]
        if st.legend == "outside":
            out.append('fig.legend(labels, loc="outside right upper")')
        return out + ['ax.axis("equal")']
    raise ValueError(f"unknown chart type {kind!r}")


def cjk_font() -> str | None:
    """The first of CJK_FONTS matplotlib can find here, or None (Chinese charts cannot be drawn then)."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FONTS if f in names), None)


def render(spec: ChartSpec) -> bytes:
    """PNG bytes made by executing `plot_code(spec)` itself, with its savefig sent to memory."""
    if spec.lang == "zh" and cjk_font() is None:
        raise InputError("MissingFont", f"no CJK font for a Chinese chart (tried {', '.join(CJK_FONTS)}); install "
                                        "fonts-noto-cjk (Debian/Ubuntu) or set the chart source's zh_share to 0")
    code = plot_code(spec)
    target = f'fig.savefig("{OUTPUT}",'
    if code.count(target) != 1:
        raise RuntimeError("plot_code must save the chart exactly once")
    buf = io.BytesIO()
    namespace: dict[str, Any] = {"__name__": "__chart__", "__chart_png__": buf}
    before = set(plt.get_fignums())
    try:
        with matplotlib.rc_context():  # the script's style.use must not leak into the caller
            exec(compile(code.replace(target, 'fig.savefig(__chart_png__, format="png",'), "<chart>", "exec"),
                 namespace)
    finally:
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
    return buf.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header, without decoding it."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


# -- questions and samples --------------------------------------------------------------------------------------
def questions(spec: ChartSpec, rng: random.Random) -> list[tuple[str, str]]:
    """(question, answer) pairs about the chart, one per kind that applies, computed from its table."""
    return [(q.question, q.answer) for q in ask(spec, table_csv(spec), rng)]


def chart_sample(seed: int, *, types: Sequence[str] = CHART_TYPES, zh_share: float = 0.3) -> dict[str, Any]:
    """One schema row: the chart image with its title, CSV table, plotting code and a Q&A conversation."""
    spec = make_spec(seed, types=types, zh_share=zh_share)
    png = render(spec)
    width, height = png_size(png)
    table = table_csv(spec)
    rng = random.Random(f"questions/{seed}")
    pool = ask(spec, table, rng)
    asked: list[Question] = [q for q in pool if q.kind != "to_table"]
    asked = rng.sample(asked, min(len(asked), rng.randint(3, 5)))
    if rng.random() < TO_TABLE_SHARE:
        asked += [q for q in pool if q.kind == "to_table"]
    messages: list[dict[str, str]] = []
    for q in asked:
        request = q.question if messages else f"{IMAGE_TOKEN}\n{q.question}"
        messages += [{"role": "user", "content": request}, {"role": "assistant", "content": q.answer}]
    locator = f"seed={seed}"
    meta = {"chart_type": spec.chart_type, "seed": seed, "topic": spec.topic, "style": asdict(spec.style),
            "questions": [q.kind for q in asked], "stage": STAGE}
    return {
        "id": sample_id("chart", URI, locator, png), "source": "chart", "kind": "chart", "uri": URI,
        "locator": locator, "image": image_value(png), "width": width, "height": height, "text": spec.title,
        "table": table, "code": plot_code(spec), "lang": spec.lang, "messages": messages, "meta": meta_json(meta),
    }
