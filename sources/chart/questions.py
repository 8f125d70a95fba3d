"""Questions about a synthetic chart, answered from its own table.

Each kind of question (the largest value, the smallest, a value read off, a comparison, the trend,
the leading series, totals, shares, the correlation, the whole table) has a few phrasings per
language and one answer form. Numbers in answers are formatted exactly as the CSV formats them, so
an answer can be checked against the table. Answers lead with the fact asked for (the label, the
trend word) and then give the number, which keeps them short and checkable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sources.chart.synth import ChartSpec

QUESTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "max": {"en": ("Which {x} has the highest {m}?",
                   "According to the chart, which {x} has the largest {m}, and what is it?",
                   "What is the highest {m} in the chart, and which {x} does it belong to?"),
            "zh": ("哪个{x}的{m}最高？", "图中{m}最高的是哪个{x}？是多少？", "{m}最大的{x}是哪一个？数值是多少？")},
    "min": {"en": ("Which {x} has the lowest {m}?",
                   "According to the chart, which {x} has the smallest {m}, and what is it?",
                   "What is the lowest {m} in the chart, and which {x} does it belong to?"),
            "zh": ("哪个{x}的{m}最低？", "图中{m}最低的是哪个{x}？是多少？", "{m}最小的{x}是哪一个？数值是多少？")},
    "max.scatter": {"en": ("At which x value ({X}) is the {m} highest?",
                           "Which point has the highest {m}? Give its x value ({X})."),
                    "zh": ("{X}为多少时，{m}最高？", "哪个点的{m}最高？它的{X}是多少？")},
    "min.scatter": {"en": ("At which x value ({X}) is the {m} lowest?",
                           "Which point has the lowest {m}? Give its x value ({X})."),
                    "zh": ("{X}为多少时，{m}最低？", "哪个点的{m}最低？它的{X}是多少？")},
    "value": {"en": ("What is the {m} for {c}?", "How much is the {m} for {c}?", "Read the {m} for {c} off the chart."),
              "zh": ("{c}的{m}是多少？", "图中{c}对应的{m}是多少？", "请读出{c}的{m}。")},
    "value.scatter": {"en": ("What is the {m} at {X} = {c}?", "Read the {m} of the point at {X} = {c}."),
                      "zh": ("{X}为{c}时，{m}是多少？", "请读出{X}为{c}的点的{m}。")},
    "compare": {"en": ("Which is higher, {c1} or {c2}, and by how much?",
                       "Compare the {m} of {c1} and {c2}: which is larger, and by how much?"),
                "zh": ("{c1}和{c2}哪个的{m}更高？高多少？", "比较{c1}与{c2}的{m}：哪个更大，大多少？")},
    "trend": {"en": ("How does the {m} change from {first} to {last}?",
                     "What is the overall trend of the {m} across the chart?",
                     "Is the {m} increasing, decreasing or fluctuating over the period shown?"),
              "zh": ("从{first}到{last}，{m}呈现什么变化趋势？", "图中{m}的整体趋势是怎样的？",
                     "{m}是在上升、下降还是波动？")},
    "series_max": {"en": ("Which {sn} has the highest {m} in {c}?", "In {c}, which {sn} leads, and with what {m}?"),
                   "zh": ("{c}哪个{sn}的{m}最高？", "在{c}，{m}最高的{sn}是哪个？是多少？")},
    "max_total": {"en": ("Which {x} has the highest total {m}?", "Adding up all series, which {x} is largest?"),
                  "zh": ("哪个{x}的{m}合计最高？", "各系列相加后，哪个{x}最大？")},
    "total": {"en": ("What is the total {m} for {c}?", "Summing all series, what is the {m} for {c}?"),
              "zh": ("{c}的{m}合计是多少？", "{c}各项{m}加起来是多少？")},
    "total.pie": {"en": ("What is the total {m} across all slices?", "What do all the slices add up to?"),
                  "zh": ("各{x}的{m}合计是多少？", "图中所有部分加起来是多少？")},
    "share": {"en": ("What share of the total does {c} account for?", "What percentage of the whole is {c}?"),
              "zh": ("{c}占总体的比例是多少？", "{c}所占的百分比是多少？")},
    "correlation": {"en": ("Is the relationship between {x} and {m} positive or negative?",
                           "How does the {m} change as {x} increases?"),
                    "zh": ("{X}与{m}之间是正相关还是负相关？", "随着{X}增加，{m}如何变化？")},
    "to_table": {"en": ("Convert this chart to a table.", "Extract the data from this chart as CSV.",
                        "Give the underlying data of this chart in CSV format."),
                 "zh": ("把这张图表转换成表格。", "请以CSV格式提取图中的数据。", "将图表中的数据整理成CSV表格。")},
}
ANSWERS: dict[str, dict[str, str]] = {
    "extreme": {"en": "{label}, with {value}.", "zh": "{label}，为{value}。"},
    "value": {"en": "It is {value}.", "zh": "为{value}。"},
    "compare": {"en": "{label}, by {diff}.", "zh": "{label}，高出{diff}。"},
    "increasing": {"en": "Increasing, from {v1} in {first} to {v2} in {last}.",
                   "zh": "持续上升，从{first}的{v1}升至{last}的{v2}。"},
    "decreasing": {"en": "Decreasing, from {v1} in {first} to {v2} in {last}.",
                   "zh": "持续下降，从{first}的{v1}降至{last}的{v2}。"},
    "fluctuating": {"en": "Fluctuating, between {lo} and {hi}.", "zh": "有升有降，在{lo}到{hi}之间波动。"},
    "max_total": {"en": "{label}, with a total of {value}.", "zh": "{label}，合计为{value}。"},
    "total": {"en": "The total is {value}.", "zh": "合计为{value}。"},
    "share": {"en": "{p}% of the total.", "zh": "占{p}%。"},
    "positive": {"en": "Positive: the {m} tends to rise as {x} increases.", "zh": "正相关：{X}越高，{m}总体越高。"},
    "negative": {"en": "Negative: the {m} tends to fall as {x} increases.", "zh": "负相关：{X}越高，{m}总体越低。"},
    "weak": {"en": "Weak: there is no clear relationship between {x} and {m}.",
             "zh": "相关性弱：{X}与{m}之间没有明显关系。"},
}
STRONG_R, WEAK_R = 0.5, 0.2  # |Pearson r| at least STRONG_R: positive/negative; below WEAK_R: weak; between: not asked


@dataclass(frozen=True)
class Question:
    """One question and its answer; `kind` and `about` (the series and labels it names) let tests recheck it."""

    kind: str
    about: tuple[str, ...]
    question: str
    answer: str


def trend(values: list[float]) -> str:
    """'increasing' or 'decreasing' when every step goes that way, else 'fluctuating'."""
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    return "increasing" if all(s > 0 for s in steps) else "decreasing" if all(s < 0 for s in steps) else "fluctuating"


def pearson(xs: list[float], ys: list[float]) -> float:
    """Pearson correlation; 0 when either side is constant."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return 0.0 if sxx == 0 or syy == 0 else sxy / (sxx * syy) ** 0.5


def _lower_first(s: str) -> str:
    """'Sales' -> 'sales' for use mid-sentence; acronyms ('GDP growth') stay as they are."""
    return s[:1].lower() + s[1:] if len(s) > 1 and s[1].islower() else s


class _Asker:
    """Fills templates for one chart: number formatting, units and the per-language pieces."""

    def __init__(self, spec: ChartSpec, rng: random.Random):
        self.spec, self.rng, self.lang = spec, rng, spec.lang
        en = spec.lang == "en"
        self.words = {"x": _lower_first(spec.x_label) if en else spec.x_label, "X": spec.x_label,
                      "m": _lower_first(spec.measure) if en else spec.measure, "sn": spec.series_noun}

    def num(self, v: float) -> str:
        return f"{v:.{self.spec.decimals}f}"

    def with_unit(self, v: float) -> str:
        unit = self.spec.unit
        return f"{self.num(v)}{unit}" if self.lang == "zh" or unit in ("%", "°C") else f"{self.num(v)} {unit}"

    def difference(self, v: float) -> str:
        if self.spec.unit == "%":  # a gap between two percentages is in points, not per cent
            return f"{self.num(v)}个百分点" if self.lang == "zh" else f"{self.num(v)} percentage points"
        return self.with_unit(v)

    def q(self, key: str, series: str | None = None, **fields: str) -> str:
        text = self.rng.choice(QUESTIONS[key][self.lang]).format(**self.words, **fields)
        if series is None or len(self.spec.series) == 1:
            return text
        return f"对于{series}，{text}" if self.lang == "zh" else f"For {series}, {_lower_first(text)}"

    def a(self, key: str, **fields: str) -> str:
        return ANSWERS[key][self.lang].format(**self.words, **fields)


def ask(spec: ChartSpec, table: str, rng: random.Random) -> list[Question]:
    """One question of every kind that applies to the chart (ties and near-zero correlations are skipped)."""
    k = _Asker(spec, rng)
    kind, labels, names = spec.chart_type, spec.categories, spec.series
    scatter, multi = kind == "scatter", len(names) > 1
    si = rng.randrange(len(names))
    s, col = names[si], list(spec.values[si])
    out: list[Question] = []

    for which, pick in (("max", max), ("min", min)):
        best = pick(col)
        if col.count(best) == 1:
            label = labels[col.index(best)]
            out.append(Question(which, (s,), k.q(f"{which}.scatter" if scatter else which, s),
                                k.a("extreme", label=label, value=k.with_unit(best))))

    i = rng.randrange(len(labels))
    out.append(Question("value", (labels[i], s), k.q("value.scatter" if scatter else "value", s, c=labels[i]),
                        k.a("value", value=k.with_unit(col[i]))))

    if not scatter:
        pairs = [(a, b) for a in range(len(labels)) for b in range(a + 1, len(labels)) if col[a] != col[b]]
        if pairs:
            a, b = rng.choice(pairs)
            a, b = (a, b) if rng.random() < 0.5 else (b, a)
            hi_i = a if col[a] > col[b] else b
            out.append(Question("compare", (s, labels[a], labels[b]), k.q("compare", s, c1=labels[a], c2=labels[b]),
                                k.a("compare", label=labels[hi_i], diff=k.difference(abs(col[a] - col[b])))))

    if kind in ("line", "area") and len(labels) >= 3:
        t = trend(col)
        if t == "fluctuating":
            answer = k.a(t, lo=k.with_unit(min(col)), hi=k.with_unit(max(col)))
        else:
            answer = k.a(t, v1=k.with_unit(col[0]), v2=k.with_unit(col[-1]), first=labels[0], last=labels[-1])
        out.append(Question("trend", (s,), k.q("trend", s, first=labels[0], last=labels[-1]), answer))

    if multi and not scatter:
        i = rng.randrange(len(labels))
        at = [c[i] for c in spec.values]
        if at.count(max(at)) == 1:
            out.append(Question("series_max", (labels[i],), k.q("series_max", c=labels[i]),
                                k.a("extreme", label=names[at.index(max(at))], value=k.with_unit(max(at)))))

    if multi and kind in ("stacked_bar", "area"):
        totals = [sum(c[i] for c in spec.values) for i in range(len(labels))]
        shown = [k.num(t) for t in totals]
        top = max(totals)
        if shown.count(k.num(top)) == 1:
            out.append(Question("max_total", (), k.q("max_total"),
                                k.a("max_total", label=labels[totals.index(top)], value=k.with_unit(top))))
        i = rng.randrange(len(labels))
        out.append(Question("total", (labels[i],), k.q("total", c=labels[i]),
                            k.a("total", value=k.with_unit(totals[i]))))

    if kind == "pie":
        whole = sum(col)
        i = rng.randrange(len(labels))
        out.append(Question("share", (labels[i],), k.q("share", c=labels[i]),
                            k.a("share", p=f"{col[i] / whole * 100:.1f}")))
        if spec.unit != "%":
            out.append(Question("total", (), k.q("total.pie"), k.a("total", value=k.with_unit(whole))))

    if scatter:
        r = pearson([float(c) for c in labels], col)
        word = "positive" if r >= STRONG_R else "negative" if r <= -STRONG_R else "weak" if abs(r) < WEAK_R else None
        if word:
            out.append(Question("correlation", (s,), k.q("correlation", s), k.a(word)))

    out.append(Question("to_table", (), rng.choice(QUESTIONS["to_table"][spec.lang]), table))
    return out
