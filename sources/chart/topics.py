"""What synthetic charts are about: topics with sensible labels, units and value ranges, in English and Chinese.

A topic is data, not code: its category labels (months, cities, brands ...), the measure and unit on
the value axis, the range and precision of its values, the shape of the numbers (a level, a trend, a
season, shares of a whole, a correlation) and the chart types it suits. `synth.make_spec` draws a
topic, then draws a table from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MONTHS = {"en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
          "zh": ("一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月")}
YEARS = {lang: tuple(str(y) for y in range(2015, 2025)) for lang in ("en", "zh")}
QUARTERS = {"en": ("Q1", "Q2", "Q3", "Q4"), "zh": ("第一季度", "第二季度", "第三季度", "第四季度")}
WEEKDAYS = {"en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
            "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日")}
CITIES = {"en": ("Tokyo", "Delhi", "Shanghai", "São Paulo", "Mexico City", "Cairo", "Mumbai", "Beijing", "Dhaka",
                 "Osaka", "New York", "Karachi", "Istanbul", "Lagos", "Paris", "London"),
          "zh": ("上海", "北京", "深圳", "广州", "成都", "重庆", "天津", "武汉", "杭州", "西安", "南京", "苏州", "郑州",
                 "长沙")}
REGIONS = {"en": ("North", "South", "East", "West", "Central", "Northeast", "Southwest"),
           "zh": ("华北", "华东", "华南", "华中", "西南", "西北", "东北")}
SUBJECTS = {"en": ("Math", "Physics", "Chemistry", "Biology", "English", "History", "Geography", "Literature"),
            "zh": ("语文", "数学", "英语", "物理", "化学", "生物", "历史", "地理")}
PRODUCTS = {"en": ("Laptops", "Phones", "Tablets", "Monitors", "Headphones", "Cameras", "Printers", "Keyboards"),
            "zh": ("笔记本电脑", "手机", "平板电脑", "显示器", "耳机", "相机", "打印机", "键盘")}
BRANDS = {"en": ("Nova", "Orbit", "Zenith", "Apex", "Lumen", "Vertex", "Kestrel"),
          "zh": ("星辰", "云图", "极光", "天启", "领航", "远山", "青禾")}
DEPARTMENTS = {"en": ("R&D", "Marketing", "Sales", "Operations", "HR", "IT", "Finance"),
               "zh": ("研发", "市场", "销售", "运营", "人事", "信息技术", "财务")}
ENERGY = {"en": ("Coal", "Natural gas", "Hydro", "Wind", "Solar", "Nuclear"),
          "zh": ("煤电", "气电", "水电", "风电", "光伏", "核电")}
COMMUTE = {"en": ("Car", "Bus", "Subway", "Bicycle", "Walking", "Scooter"),
           "zh": ("私家车", "公交", "地铁", "自行车", "步行", "电动车")}
CHANNELS = {"en": ("Search", "Social", "Direct", "Email", "Referral", "Ads"),
            "zh": ("搜索引擎", "社交媒体", "直接访问", "邮件", "外部链接", "广告")}
AGES = {"en": ("18-24", "25-34", "35-44", "45-54", "55-64", "65+"),
        "zh": ("18-24岁", "25-34岁", "35-44岁", "45-54岁", "55-64岁", "65岁以上")}

# Series (legend entries) and what one of them is called, for "which store ..." questions.
STORES = ({"en": ("Store A", "Store B", "Store C", "Store D"), "zh": ("一号店", "二号店", "三号店", "四号店")},
          {"en": "store", "zh": "门店"})
CLASSES = ({"en": ("Class A", "Class B", "Class C", "Class D"), "zh": ("一班", "二班", "三班", "四班")},
           {"en": "class", "zh": "班级"})
TEMP_CITIES = ({"en": ("Beijing", "London", "Toronto", "Madrid", "Tokyo"),
                "zh": ("北京", "上海", "广州", "哈尔滨", "昆明")},
               {"en": "city", "zh": "城市"})
SEGMENTS = ({"en": ("Hardware", "Software", "Services", "Cloud"), "zh": ("硬件", "软件", "服务", "云业务")},
            {"en": "segment", "zh": "业务"})
DEVICES = ({"en": ("Desktop", "Mobile", "Tablet"), "zh": ("电脑端", "移动端", "平板端")},
           {"en": "device", "zh": "终端"})
SERIES_YEARS = ({"en": ("2021", "2022", "2023", "2024"), "zh": ("2021年", "2022年", "2023年", "2024年")},
                {"en": "year", "zh": "年份"})
SERIES_QUARTERS = (QUARTERS, {"en": "quarter", "zh": "季度"})
SERIES_PRODUCTS = (PRODUCTS, {"en": "product", "zh": "产品"})
SERIES_REGIONS = (REGIONS, {"en": "region", "zh": "地区"})
GROUPS = ({"en": ("Group A", "Group B"), "zh": ("甲组", "乙组")}, {"en": "group", "zh": "组"})


@dataclass(frozen=True)
class Topic:
    """One kind of data table a chart can show, in both languages.

    `titles` may use {year}, {first} and {last} (the first and last category). `values` is (low,
    high, decimals) per language. `shape` says how the numbers behave: "level" (independent values),
    "walk" (a random walk, sometimes steadily up or down), "growth" (mostly rising), "seasonal" (a
    yearly cycle over months), "share" (percentages summing to 100), "pos"/"neg" (a scatter with a
    positive/negative correlation). Scatter topics have no categories: `x` is their axis range.
    """

    key: str
    types: tuple[str, ...]
    titles: dict[str, tuple[str, ...]]
    x_label: dict[str, str]
    measure: dict[str, str]
    unit: dict[str, str]
    values: dict[str, tuple[float, float, int]]
    shape: str = "level"
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ordered: bool = False  # a contiguous run in pool order (months, years), else a random subset
    count: tuple[int, int] = (3, 8)
    series: tuple[dict[str, tuple[str, ...]], dict[str, str]] | None = None
    x: tuple[float, float, int] | None = None


def _lang(en: tuple, zh: tuple) -> dict[str, dict]:
    """Split per-language tuples (titles, x label, measure, unit, values) into per-field dicts."""
    keys = ("titles", "x_label", "measure", "unit", "values")
    return {k: {"en": a, "zh": b} for k, a, b in zip(keys, en, zh, strict=True)}


def _topic(key: str, types: tuple[str, ...], en: tuple, zh: tuple, **kw) -> Topic:
    return Topic(key, types, **_lang(en, zh), **kw)


TOPICS: tuple[Topic, ...] = (
    _topic("monthly_sales", ("bar", "grouped_bar", "stacked_bar", "line", "area"),
           (("Monthly sales", "Monthly sales, {year}", "Sales by month in {year}"), "Month", "Sales", "k USD",
            (40, 400, 1)),
           (("月度销售额", "{year}年月度销售额", "{year}年各月销售额"), "月份", "销售额", "万元", (20, 300, 1)),
           shape="walk", categories=MONTHS, ordered=True, count=(6, 12), series=STORES),
    _topic("city_population", ("bar",),
           (("Population of major cities", "Largest cities by population"), "City", "Population", "million",
            (1.0, 38.0, 1)),
           (("主要城市常住人口", "部分城市人口规模"), "城市", "常住人口", "万人", (600, 3300, 0)),
           categories=CITIES, count=(4, 10)),
    _topic("exam_scores", ("bar", "grouped_bar"),
           (("Average exam scores by subject", "Final exam results"), "Subject", "Average score", "points",
            (55, 98, 1)),
           (("各科平均成绩", "期末考试各科平均分"), "科目", "平均分", "分", (55, 98, 1)),
           categories=SUBJECTS, count=(3, 8), series=CLASSES),
    _topic("monthly_temperature", ("line", "bar", "grouped_bar"),
           (("Average monthly temperature", "Monthly mean temperature, {year}"), "Month", "Temperature", "°C",
            (-10, 36, 1)),
           (("月平均气温", "{year}年各月平均气温"), "月份", "气温", "°C", (-10, 36, 1)),
           shape="seasonal", categories=MONTHS, ordered=True, count=(6, 12), series=TEMP_CITIES),
    _topic("monthly_rainfall", ("bar", "line", "area"),
           (("Monthly rainfall", "Average monthly precipitation"), "Month", "Rainfall", "mm", (5, 320, 1)),
           (("月降水量", "各月平均降水量"), "月份", "降水量", "毫米", (5, 320, 1)),
           shape="seasonal", categories=MONTHS, ordered=True, count=(6, 12), series=TEMP_CITIES),
    _topic("smartphone_share", ("pie", "bar"),
           (("Smartphone market share", "Market share by brand, {year}"), "Brand", "Market share", "%", (0, 100, 1)),
           (("智能手机市场份额", "{year}年各品牌市场份额"), "品牌", "市场份额", "%", (0, 100, 1)),
           shape="share", categories=BRANDS, count=(3, 7)),
    _topic("energy_mix", ("pie", "bar"),
           (("Electricity generation mix", "Power generation by source, {year}"), "Source", "Share", "%",
            (0, 100, 1)),
           (("发电结构", "{year}年发电量构成"), "能源类型", "占比", "%", (0, 100, 1)),
           shape="share", categories=ENERGY, count=(3, 6)),
    _topic("commute_modes", ("pie",),
           (("How employees commute", "Commuting mode share"), "Mode", "Share", "%", (0, 100, 1)),
           (("员工通勤方式", "通勤方式占比"), "通勤方式", "占比", "%", (0, 100, 1)),
           shape="share", categories=COMMUTE, count=(3, 6)),
    _topic("traffic_sources", ("pie", "bar"),
           (("Website traffic sources", "Where visitors come from"), "Channel", "Share of visits", "%", (0, 100, 1)),
           (("网站流量来源", "访客来源构成"), "渠道", "访问占比", "%", (0, 100, 1)),
           shape="share", categories=CHANNELS, count=(3, 6)),
    _topic("budget_allocation", ("pie", "bar", "grouped_bar", "stacked_bar"),
           (("Budget allocation by department", "Departmental budgets, {year}"), "Department", "Budget", "k USD",
            (50, 900, 0)),
           (("各部门预算分配", "{year}年部门预算"), "部门", "预算", "万元", (20, 500, 0)),
           categories=DEPARTMENTS, count=(3, 7), series=SERIES_YEARS),
    _topic("annual_revenue", ("line", "area", "bar", "grouped_bar", "stacked_bar"),
           (("Annual revenue", "Revenue, {first}–{last}"), "Year", "Revenue", "million USD", (10, 250, 1)),
           (("年度营业收入", "{first}—{last}年营业收入"), "年份", "营业收入", "亿元", (5, 120, 1)),
           shape="growth", categories=YEARS, ordered=True, count=(5, 10), series=SEGMENTS),
    _topic("ev_sales", ("line", "area", "bar"),
           (("Electric vehicle sales", "EV sales, {first}–{last}"), "Year", "Sales", "thousand units", (20, 900, 0)),
           (("新能源汽车销量", "{first}—{last}年新能源汽车销量"), "年份", "销量", "万辆", (10, 950, 1)),
           shape="growth", categories=YEARS, ordered=True, count=(5, 10), series=SERIES_REGIONS),
    _topic("gdp_growth", ("line", "bar"),
           (("GDP growth rate", "Real GDP growth, {first}–{last}"), "Year", "GDP growth", "%", (-3.0, 9.0, 1)),
           (("GDP增长率", "{first}—{last}年GDP增速"), "年份", "GDP增长率", "%", (-3.0, 9.0, 1)),
           shape="walk", categories=YEARS, ordered=True, count=(5, 10), series=SERIES_REGIONS),
    _topic("website_visits", ("bar", "grouped_bar", "stacked_bar", "line", "area"),
           (("Website visits by weekday", "Daily visits last week"), "Day", "Visits", "thousand", (2, 60, 1)),
           (("网站每日访问量", "上周每日访问量"), "星期", "访问量", "千次", (2, 60, 1)),
           shape="walk", categories=WEEKDAYS, ordered=True, count=(7, 7), series=DEVICES),
    _topic("regional_sales", ("bar", "grouped_bar", "stacked_bar", "pie"),
           (("Sales by region", "Regional sales, {year}"), "Region", "Sales", "million USD", (5, 120, 1)),
           (("各地区销售额", "{year}年分地区销售额"), "地区", "销售额", "亿元", (2, 80, 1)),
           categories=REGIONS, count=(3, 7), series=SERIES_QUARTERS),
    _topic("quarterly_units", ("bar", "grouped_bar", "stacked_bar", "line", "area"),
           (("Quarterly sales by product", "Units sold per quarter, {year}"), "Quarter", "Units sold", "thousand",
            (5, 150, 1)),
           (("各季度产品销量", "{year}年分季度产品销量"), "季度", "销量", "千件", (5, 150, 1)),
           shape="walk", categories=QUARTERS, ordered=True, count=(4, 4), series=SERIES_PRODUCTS),
    _topic("respondents_by_age", ("bar", "pie"),
           (("Survey respondents by age group", "Age distribution of respondents"), "Age group", "Respondents",
            "people", (20, 600, 0)),
           (("受访者年龄分布", "调查对象年龄构成"), "年龄段", "人数", "人", (20, 600, 0)),
           categories=AGES, ordered=True, count=(4, 6)),
    _topic("product_revenue", ("bar", "grouped_bar", "stacked_bar", "pie"),
           (("Revenue by product line", "Product revenue, {year}"), "Product", "Revenue", "k USD", (80, 2000, 0)),
           (("各产品线收入", "{year}年产品收入"), "产品", "收入", "万元", (30, 1500, 0)),
           categories=PRODUCTS, count=(3, 8), series=SERIES_YEARS),
    _topic("study_hours", ("scatter",),
           (("Study time vs. exam score", "Exam score by weekly study hours"), "Study hours per week", "Exam score",
            "points", (30, 100, 1)),
           (("学习时长与考试成绩", "每周学习时长与成绩的关系"), "每周学习时长（小时）", "考试成绩", "分", (30, 100, 1)),
           shape="pos", x=(1, 30, 1), count=(8, 25), series=GROUPS),
    _topic("price_demand", ("scatter",),
           (("Price vs. units sold", "Demand at different price points"), "Price (USD)", "Units sold", "units",
            (50, 1200, 0)),
           (("价格与销量", "不同价格下的销量"), "价格（元）", "销量", "件", (50, 1200, 0)),
           shape="neg", x=(5, 80, 1), count=(8, 25), series=GROUPS),
    _topic("ad_spend", ("scatter",),
           (("Advertising spend vs. revenue", "Does advertising pay off?"), "Ad spend (k USD)", "Revenue", "k USD",
            (20, 600, 1)),
           (("广告投入与收入", "广告投入的回报"), "广告投入（万元）", "收入", "万元", (20, 600, 1)),
           shape="pos", x=(1, 50, 1), count=(8, 25), series=GROUPS),
    _topic("ice_cream", ("scatter",),
           (("Temperature vs. ice cream sales", "Ice cream sales on hot days"), "Temperature (°C)",
            "Ice cream sales", "units", (100, 1500, 0)),
           (("气温与冰淇淋销量", "天气越热卖得越多？"), "气温（°C）", "冰淇淋销量", "支", (100, 1500, 0)),
           shape="pos", x=(10, 38, 1), count=(8, 25), series=GROUPS),
    _topic("height_weight", ("scatter",),
           (("Height and weight of adults", "Height vs. weight"), "Height (cm)", "Weight", "kg", (45, 100, 1)),
           (("成年人身高与体重", "身高与体重的关系"), "身高（厘米）", "体重", "千克", (45, 100, 1)),
           shape="pos", x=(150, 195, 1), count=(8, 25), series=GROUPS),
)
