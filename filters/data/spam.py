"""Web boilerplate and spam from templates: the quality classifier's "bad" examples that no corruption produces.

Cookie banners, navigation menus, "click here" teasers, copyright footers, login walls, keyword stuffing, casino and
pill spam, link lists and share bars, in English and Chinese. Each template is one split group, so the held-out set
measures whether the model recognises boilerplate from templates it never saw, not its memory of one template.
"""

from __future__ import annotations

import random
import re

EN = {
    "site": ["TechDaily", "ShopMart", "NewsHub 24", "BestDeals Online", "TravelNow", "HealthyLife Magazine",
             "GadgetZone", "CityPost", "MyRecipes", "AutoWorld", "FashionFix", "HomeGuru", "SportsCentral",
             "FinanceToday", "PetPlanet", "GameVault"],
    "product": ["wireless earbuds", "running shoes", "coffee maker", "smart watch", "LED desk lamp", "yoga mat",
                "air fryer", "phone case", "gaming chair", "water bottle", "laptop stand", "bluetooth speaker",
                "robot vacuum", "winter jacket", "electric toothbrush"],
    "city": ["New York", "London", "Chicago", "Sydney", "Toronto", "Dallas", "Miami", "Seattle", "Boston",
             "Manchester", "Denver", "Atlanta", "Phoenix", "Houston"],
    "kw": ["cheap flights", "best vpn", "weight loss", "buy followers", "payday loans", "free movies online",
           "crypto signals", "seo services", "cheap hotels", "make money fast", "online casino", "keto diet pills",
           "work from home", "car insurance quotes", "free iphone"],
    "pill": ["Viagra", "Cialis", "Xanax", "Tramadol", "Phentermine", "Levitra", "Valium", "Ambien"],
    "casino": ["LuckySpin", "Royal Vegas Club", "MegaJackpot", "SpinPalace 777", "GoldenBet", "Casino Royale X"],
    "user": ["john_smith88", "anna.k", "guest", "mike2001", "sarah_w", "admin", "user4921", "crazyfan"],
}
ZH = {
    "site": ["新闻网", "购物商城", "科技频道", "旅游之家", "健康生活网", "汽车论坛", "美食天地", "游戏中心",
             "财经在线", "房产资讯网", "母婴社区", "影视大全"],
    "product": ["蓝牙耳机", "运动鞋", "电饭煲", "智能手表", "空气炸锅", "扫地机器人", "面膜", "羽绒服",
                "充电宝", "保温杯", "护肤套装", "笔记本电脑"],
    "city": ["北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安", "南京", "重庆", "天津", "苏州"],
    "kw": ["减肥", "代开发票", "网络兼职", "贷款", "刷单", "彩票", "免费电影", "seo优化", "代孕", "股票推荐",
           "赚钱", "美女直播"],
    "casino": ["澳门威尼斯人", "金沙娱乐城", "葡京娱乐", "太阳城", "永利皇宫", "新葡京"],
}

_SHARED = {
    "year": lambda r: str(r.randint(1998, 2025)),
    "n": lambda r: str(r.randint(2, 999)),
    "pct": lambda r: str(r.choice([10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90])),
    "price": lambda r: f"{r.randint(1, 499)}.{r.choice(['99', '95', '00', '49'])}",
    "phone": lambda r: f"{r.randint(200, 999)}-{r.randint(100, 999)}-{r.randint(1000, 9999)}",
    "zphone": lambda r: f"1{r.randint(30, 99)}{r.randint(10000000, 99999999)}",
    "qq": lambda r: str(r.randint(10000000, 2999999999)),
    "date": lambda r: f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(2010, 2025)}",
    "zdate": lambda r: f"{r.randint(2010, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "domain": lambda r: r.choice(["www.", ""]) + "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(
        r.randint(5, 10))) + r.choice([".com", ".net", ".info", ".xyz", ".cn", ".top"]),
}

EN_TEMPLATES: dict[str, list[str]] = {
    "cookie": [
        "We use cookies to improve your experience on our website. By continuing to browse {site}, you agree to our "
        "use of cookies. Accept all | Reject | Manage preferences",
        "This website uses cookies to ensure you get the best experience on {site}. Learn more. Got it!",
        "{site} and our {n} partners store and access information on your device. Click Accept to consent or "
        "Customize to choose. Accept Customize Reject All Privacy Policy Cookie Policy",
        "Cookie Settings. We and {n} selected third parties use cookies or similar technologies for technical purposes "
        "and, with your consent, for other purposes as specified in the cookie policy. OK Decline",
        "By clicking \"Accept All Cookies\", you agree to the storing of cookies on your device to enhance site "
        "navigation, analyze site usage, and assist in our marketing efforts. Cookies Settings Accept All Cookies",
        "{site} uses cookies and similar technologies. Some are necessary, others help us improve {site} and show you "
        "relevant ads ({n} vendors). Accept | Necessary only | Settings",
        "Your privacy matters to {site}. We use cookies to personalise content and ads, to provide social media "
        "features and to analyse our traffic. Allow all Deny Show details",
        "We value your privacy. {site} uses essential cookies and, with your permission, analytics cookies. You can "
        "change your choice at any time in Cookie Preferences. Accept | Decline",
        "Cookies help us deliver our services. By using {site}, you agree to our use of cookies. Updated {date}. "
        "OK, I understand | More info",
        "This site uses cookies from Google and {n} other partners to deliver its services and to analyze traffic. "
        "Learn more | OK",
    ],
    "nav": ["@nav: | ", "@nav:\n", "@nav: > ", "@nav: \u00b7 "],
    "click": [
        "Click here to read more! You won't believe what happens next. Click here >>",
        "CLICK HERE to claim your FREE {product}! Only {n} left in stock. Offer ends today!!!",
        "Read more... Read more... Continue reading >> Click to expand",
        "You have been selected! Click here to claim your ${price} gift card now. Hurry, limited time!",
        "Doctors hate him! Click here to see this one weird trick. Click here. Click here.",
        "{n} Things You Didn't Know About {product}. Number {n} Will Shock You! Click here to find out >>",
        "Sponsored: {city} residents are switching to this {product}. See why >> Learn More",
    ],
    "footer": [
        "Copyright \u00a9 {year} {site}. All rights reserved. Privacy Policy | Terms of Use | Sitemap | Contact Us",
        "\u00a9 {year}-{year} {site} Inc. All Rights Reserved. Powered by WordPress. Theme by {site}.",
        "Terms | Privacy | Cookies | Accessibility | Advertise | Careers | \u00a9{year} {site} Media Group",
        "All content on this site is protected by copyright. Reproduction without permission is prohibited. "
        "Contact: info@{domain} | Tel: {phone}",
    ],
    "login": [
        "Sign in to continue. Email address Password Remember me Forgot password? Sign in New here? Create account",
        "Please log in or register to view this content. Username: Password: Login Register Lost password",
        "You must be logged in to post a comment. Log in | Register",
        "Subscribe to continue reading. Already a subscriber? Sign in. Get unlimited access for ${price}/month.",
        "Log in with Facebook Log in with Google or continue with email. Don't have an account? Sign up free",
        "Welcome back! Enter your {site} username and password. Keep me signed in. Forgot your username? Sign in",
        "This content is for members only. Become a member for ${price} or log in to access. Join now | Login",
    ],
    "seo": ["@seo:{kw}", "@seo:{kw} {city}", "@seo:best {kw}"],
    "casino": [
        "{casino} - best online casino {year}! Get {pct}% bonus + {n} free spins! Slots, poker, roulette, "
        "blackjack. Play now and win big! Fast payouts!",
        "WIN BIG at {casino}!!! Jackpot ${price}00 waiting for YOU. Sign up bonus {pct}% - no deposit needed! "
        "{domain}",
        "online casino online casino real money best casino bonus free spins no deposit casino {casino} casino",
    ],
    "pills": [
        "Buy {pill} online without prescription! Cheap {pill} {price} per pill. Fast worldwide shipping. {pill} "
        "generic, {pill} discount, order {pill} now!",
        "CHEAP MEDS!!! {pill} - {pill} - {pill}. Best prices, discreet packaging, no prescription needed. "
        "Visit {domain}",
        "Lose {n} lbs in {n} days with our miracle pills! 100% natural, doctor approved, money back guarantee! "
        "Order now!!!",
    ],
    "links": ["@links:\n", "@links: | ", "@links: \u2022 "],
    "share": [
        "Share this: Facebook Twitter Pinterest LinkedIn WhatsApp Email Print Like this: Like Loading...",
        "Share on Facebook Share on Twitter Share on WhatsApp Copy link {n} shares {n} comments",
        "Tweet Pin It Share Email | Related Posts | You may also like | Leave a comment",
        "Like {n} Comment {n} Share {n} Save Follow us on Instagram Subscribe to our YouTube channel",
    ],
}
ZH_TEMPLATES: dict[str, list[str]] = {
    "cookie": [
        "{site}使用Cookie来改善您的浏览体验。继续浏览即表示您同意我们使用Cookie。接受 拒绝 了解更多",
        "我们使用Cookie和类似技术来提供个性化内容和广告。点击“同意”即表示您同意{site}的隐私政策。同意 设置",
        "{site}及其{n}家合作伙伴会在您的设备上存储和访问信息。"
        "点击“接受”表示同意，点击“管理”进行设置。接受 管理 全部拒绝",
        "温馨提示：为了给您提供更好的服务，{site}会使用Cookie。"
        "请阅读《隐私政策》和《用户协议》。同意并继续 不同意",
        "本站使用必要的Cookie以保证网站正常运行，并在您同意的情况下使用分析类Cookie。"
        "更新日期：{zdate} 全部接受 仅必要",
    ],
    "nav": ["@znav: | ", "@znav: "],
    "click": [
        "点击这里领取免费{product}！仅剩{n}件，先到先得！点击这里>>",
        "点击查看更多>> 猜你喜欢 点击进入 立即查看 马上抢购",
        "恭喜您获得{n}元现金红包！点击链接立即领取，过期作废！！！",
    ],
    "footer": [
        "版权所有 © {year} {site} 保留所有权利 京ICP备{qq}号 联系我们 | 关于我们 | 网站地图 | 免责声明",
        "Copyright © {year} {site} All Rights Reserved 客服热线：{zphone} 地址：{city}市 增值电信业务经营许可证",
        "本站部分内容来源于网络，如有侵权请联系删除。商务合作QQ：{qq} 邮箱：admin@{domain}",
    ],
    "login": [
        "请先登录后再发表评论。用户名 密码 记住我 忘记密码？ 立即注册",
        "登录后查看全文 | 手机号登录 | 微信扫码登录 | 还没有账号？免费注册",
        "您还没有登录，请登录或注册后继续阅读。会员专享内容，开通VIP仅需{n}元/月",
    ],
    "seo": ["@zseo:{kw}", "@zseo:{city}{kw}"],
    "casino": [
        "{casino}官网【{domain}】注册送{n}元 首存再送{pct}% 百家乐 老虎机 真人视讯 24小时在线客服",
        "{casino} {casino}娱乐 {casino}官方网站 {casino}app下载 {casino}注册 {casino}开户 信誉保证",
    ],
    "pills": [
        "正品减肥药 一个月瘦{n}斤 无效退款 加微信{qq}咨询 纯中药配方 无副作用 货到付款",
        "代开发票 代开各类发票 {city}代开发票 联系电话{zphone} 诚信经营 价格优惠",
    ],
    "links": ["@zlinks:\n", "@zlinks: | "],
    "share": [
        "分享到：微信 微博 QQ空间 豆瓣 复制链接 点赞({n}) 收藏({n}) 评论({n})",
        "扫一扫关注我们的微信公众号 关注 转发 点赞 在看 阅读原文 阅读 {n}",
    ],
}

_EN_NAV = ["Home", "About", "About Us", "News", "Products", "Services", "Blog", "Shop", "Contact", "FAQ", "Login",
           "Register", "Cart (0)", "My Account", "Search", "Categories", "Deals", "Support", "Careers", "Events",
           "Sports", "Politics", "Business", "Entertainment", "Opinion", "Videos", "Sitemap", "Help", "Menu"]
_ZH_NAV = ["首页", "新闻", "产品中心", "关于我们", "联系我们", "登录", "注册", "购物车", "会员中心", "下载APP",
           "帮助中心", "网站导航", "娱乐", "体育", "财经", "科技", "汽车", "房产", "教育", "视频", "论坛", "更多>>"]
_EN_LINKS = ["10 Best {product} of {year}", "How to Choose a {product}", "{site} Review", "Top {n} {kw} Tips",
             "{city} Weather Today", "Why {product} Prices Are Rising", "Watch: {city} Highlights",
             "Best {kw} in {city}", "{product} vs {product}: Which Is Better?", "Deals on {product}"]
_ZH_LINKS = ["{year}年最值得买的{product}推荐", "{city}天气预报", "{product}哪个牌子好", "{city}{kw}",
             "如何挑选{product}", "{site}最新消息", "{product}价格大全", "{city}旅游攻略", "热门{kw}排行榜"]


_CLOSE = ["", "", "", "\u00d7", "\u2715", "[X]", "Close", "\u5173\u95ed", "Dismiss"]


def _fill(template: str, pools: dict, rng: random.Random) -> str:
    def slot(m: re.Match) -> str:
        key = m.group(1)
        if key in _SHARED:
            return _SHARED[key](rng)
        return rng.choice(pools[key] if key in pools else EN[key])

    return re.sub(r"\{(\w+)\}", slot, template)


def _compose(spec: str, rng: random.Random) -> str:
    """Templates starting with '@' are built from lists: menus, link lists, keyword stuffing."""
    kind, _, arg = spec[1:].partition(":")
    if kind in ("nav", "znav"):
        items = _EN_NAV if kind == "nav" else _ZH_NAV
        return arg.join(rng.sample(items, rng.randint(5, 14)))
    if kind in ("links", "zlinks"):
        items, pools = (_EN_LINKS, EN) if kind == "links" else (_ZH_LINKS, ZH)
        return arg.join(_fill(rng.choice(items), pools, rng) for _ in range(rng.randint(4, 10)))
    pools = EN if kind == "seo" else ZH
    sep = "，" if kind == "zseo" else rng.choice([", ", " ", " | "])
    return sep.join(_fill(arg, pools, rng) for _ in range(rng.randint(8, 25)))


def _instance(spec: str, pools: dict, rng: random.Random) -> str:
    if spec.startswith("@"):
        return _compose(spec, rng)
    return f"{_fill(spec, pools, rng)} {rng.choice(_CLOSE)}".strip()


def spam_rows(rng: random.Random, per_template: int = 14) -> list[dict]:
    """Rows {"text", "source", "group"}: up to per_template distinct instances of each template, grouped by it."""
    rows = []
    for lang, templates, pools in (("en", EN_TEMPLATES, EN), ("zh", ZH_TEMPLATES, ZH)):
        for category, specs in templates.items():
            for index, spec in enumerate(specs):
                texts = {_instance(spec, pools, rng) for _ in range(per_template * 3)}
                source, group = f"spam-{category}", f"spam-{lang}-{category}-{index}"
                rows += [{"text": t, "source": source, "group": group} for t in sorted(texts)[:per_template]]
    return rows
