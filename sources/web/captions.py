"""Which caption an image of a web document has, and where it came from.

OBELICS and MMC4 pair images with nearby text; a caption is better: it was written for the image.
In order of trust: a `<figcaption>` of the image's `<figure>`, a "Figure N" / "Fig. N" / "图 N" /
"表 N" title element beside it (both found in the DOM by doc.js), the alt text when it describes the
image rather than naming its file or saying "logo", and last the title attribute.
`caption_source` says which: `figcaption`, `title` or `alt`.
"""

from __future__ import annotations

import re

# Alt and title texts that say nothing about the picture (lower-case, whole text).
BOILERPLATE = frozenset({
    "image", "images", "img", "picture", "pic", "photo", "photograph", "figure", "fig", "graphic", "graphics",
    "logo", "icon", "banner", "button", "spacer", "placeholder", "thumbnail", "thumb", "avatar", "blank",
    "pixel", "separator", "divider", "arrow", "bullet", "screenshot", "untitled", "alt", "alt text", "null",
    "none", "undefined", "click here", "here", "link", "more", "read more", "home", "back", "next", "previous",
    "prev", "up", "top", "search", "menu", "close", "loading", "lazy", "spinner", "advertisement", "ad",
    "图片", "图像", "照片", "图标", "标志", "图", "image description",
})
_PATH = re.compile(r"^(\.{1,2}/|/|[\w\-.~%]+/)[\w\-./~%]*$")  # ./diagonal, images/fig1, /static/x
_FILE_NAME = re.compile(r"^[\w\-.~%()\[\] ]+\.(png|jpe?g|gif|webp|svg|bmp|tiff?|ico|avif|heic)$", re.I)
_CAMERA_NAME = re.compile(r"^(img|image|dsc|dscn|dcim|pxl|photo|pic|screenshot|screen shot|untitled|figure|fig)"
                          r"[\s_\-.]*\d[\w\-. ]*$", re.I)
# "Lighthouse society logo", "search icon": whatever it names, it is a logo, an icon or a button.
_ENDS_GENERIC = re.compile(r"\b(logo|logotype|icon|banner|button|avatar|spacer|badge)s?$", re.I)
_GENERIC = re.compile(r"^(an? |the )?((company|site|brand|our|main|header|footer|small|large) )*"
                      r"(logo|icon|image|picture|photo|banner|button|spacer|arrow)s?( image| icon)?$", re.I)


def describes(text: str | None, src: str = "") -> bool:
    """True when an alt/title text could caption an image: not empty, not a file name or path (nor
    the name of the image's own file, `src`, as Texinfo writes alt="./diagonal"), not a camera's or
    CMS's generated name, not boilerplate ("logo", "image", "company logo", "图片")."""
    raw = " ".join((text or "").split())
    if _PATH.match(raw) or (src and _stem(raw) and _stem(raw) == _stem(src)):
        return False
    t = raw.strip(" .:;,-_|")
    if len(t) < 3 and not re.search(r"[\u3400-\u9fff]{2}", t):
        return False
    low = t.lower()
    if low in BOILERPLATE or _FILE_NAME.match(t) or _CAMERA_NAME.match(t) or _GENERIC.match(t) \
            or _ENDS_GENERIC.search(t):
        return False
    return not re.fullmatch(r"[\d\W_]+", t)  # numbers and punctuation only say nothing


def _stem(path: str) -> str:
    """A file's name without folders, query or extension, lower-case."""
    name = path.split("?")[0].split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0].lower() if "." in name else name.lower()


def choose(figcaption: str = "", title_element: str = "", alt: str = "", title_attr: str = "",
           src: str = "") -> tuple[str, str]:
    """(caption, caption_source) of an image (whose file is `src`), or ("", "") when it has none."""
    if figcaption.strip():
        return figcaption.strip(), "figcaption"
    if title_element.strip():
        return title_element.strip(), "title"
    if describes(alt, src):
        return " ".join(alt.split()), "alt"
    if describes(title_attr, src):
        return " ".join(title_attr.split()), "title"
    return "", ""
