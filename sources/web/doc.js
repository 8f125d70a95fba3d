// Walk a rendered page in document order for an interleaved document: text paragraphs (headings,
// paragraphs, list items, table rows, pre/code) and content images where they stand (img, inline
// SVG, canvas), with what is known of each image's caption. Evaluated by render.py after the page's
// other captures (it tags each image element with data-vlf-img so Python can screenshot it).
// Only the main content is read: the main/article elements when the page marks them, else the body
// without its header, navigation, footer and asides. CSS background images are never images here.
// A caption element (a figcaption, or a "Figure N" / "图 N" title beside the image) is moved to
// right after its image (after the last image it captions), so the caption follows what it describes.
(opts) => {
  const started = performance.now();
  const INLINE = new Set(["inline", "inline-block", "inline-flex", "inline-grid", "contents", "ruby", "ruby-text"]);
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEAD", "TITLE", "IFRAME", "OBJECT", "EMBED",
    "OPTION", "SELECT", "TEXTAREA", "BUTTON", "INPUT", "VIDEO", "AUDIO", "MAP", "DIALOG"]);
  // Page chrome: semantic regions, and the class names generators give navigation (Texinfo's div.header,
  // nav-panel; breadcrumbs, sidebars), read only when the page marks no main content.
  // A class name alone is weaker evidence: DocBook's div.sidebar is a content box ("BACK TO BASICS",
  // with figures), a theme's div.sidebar a list of links. A classed element is chrome when most of its
  // text is link text.
  const CHROME = "header, nav, footer, aside, [role=navigation], [role=banner], [role=contentinfo], [role=search], "
    + "#header, #footer, #nav, #navigation, #sidebar";
  const CHROME_CLASS = ".header, .footer, .nav, .navbar, .navigation, .nav-panel, .breadcrumb, .breadcrumbs, .sidebar";
  const linky = (el) => {
    const all = squash(el.textContent).length;
    if (!all) return true;
    let inLinks = 0;
    for (const a of el.querySelectorAll("a[href]")) inLinks += squash(a.textContent).length;
    return inLinks / all >= 0.5;
  };
  const isChrome = (el) => el.matches(CHROME) || (el.matches(CHROME_CLASS) && linky(el));
  const FIG_RE = /^\s*(figure|fig\.?|table|图|圖|表)\s*[0-9０-９一二三四五六七八九十IVXLivxl]+/i;
  const styleOf = new Map();
  const style = (el) => {
    let s = styleOf.get(el);
    if (!s) { s = getComputedStyle(el); styleOf.set(el, s); }
    return s;
  };
  // Lazy-loading scripts fade images in from opacity 0, so opacity hides text but not an image.
  const invisible = (el) => {
    const s = style(el);
    return s.display === "none" || s.visibility === "hidden" || s.visibility === "collapse"
      || (s.opacity === "0" && T(el) !== "IMG");
  };
  const squash = (t) => (t || "").replace(/[ \t\r\f\v\u00a0]*\n[ \t\r\f\v\u00a0]*/g, "\n").replace(/[ \t\r\f\v\u00a0]+/g, " ").trim();
  const clip = (t, n) => { t = squash(t); return t.length > n ? t.slice(0, n) : t; };

  // Content roots.
  let roots = [...document.querySelectorAll("main, article, [role=main]")].filter(
    (el) => !el.parentElement || !el.parentElement.closest("main, article, [role=main]"));
  const marked = roots.length > 0;
  if (!marked) roots = [document.body || document.documentElement];

  // Images and their caption elements, found before the walk so a caption above its image can move.
  // Upper-case tag names: an XHTML chapter (EPUB) reports them in lower case.
  const T = (el) => el.tagName.toUpperCase();
  const isImage = (el) => T(el) === "IMG" || T(el) === "CANVAS"
    || (T(el) === "SVG" && !(el.parentElement && el.parentElement.closest("svg")));
  const captionEl = new Map();  // image element -> {el, source}
  const lastOf = new Map();  // caption element -> the last image it captions (in document order)
  const figureTitle = (el) => {
    // A "Figure N" element beside the image, or beside a wrapper that holds nothing but images.
    let node = el;
    for (let depth = 0; depth < 3 && node && node !== document.body; depth++) {
      for (const sib of [node.nextElementSibling, node.previousElementSibling]) {
        if (sib && !sib.querySelector("img, svg, canvas") && FIG_RE.test((sib.textContent || "").slice(0, 80))
            && squash(sib.textContent).length <= opts.maxCaptionChars) return sib;
      }
      // Climb through wrappers of this image alone, or of several images and no text (one figure of
      // two screenshots: its title captions both, and follows the last).
      const parent = node.parentElement;
      if (!parent) break;
      const many = parent.querySelectorAll("img, svg, canvas").length > 1;
      const rest = squash(parent.textContent);
      if (rest.length > 0 && (many || !FIG_RE.test(rest.slice(0, 80)))) break;
      node = parent;
    }
    return null;
  };
  for (const root of roots) {
    for (const el of root.querySelectorAll("img, svg, canvas")) {
      if (!isImage(el)) continue;
      const fig = el.closest("figure");
      const cap = fig && [...fig.querySelectorAll("figcaption")].find((c) => c.closest("figure") === fig);
      if (cap && squash(cap.innerText || cap.textContent)) { captionEl.set(el, { el: cap, source: "figcaption" }); lastOf.set(cap, el); continue; }
      const title = figureTitle(el);
      if (title) { captionEl.set(el, { el: title, source: "title" }); lastOf.set(title, el); }
    }
  }
  const consumed = new Set(lastOf.keys());

  const items = [];
  let truncated = false;
  let buf = [];
  let bufHeading = false;
  let visited = 0;
  let nImages = 0;
  const flush = () => {
    const text = squash(buf.join(""));
    if (text) items.push({ t: bufHeading ? "h" : "p", text });
    buf = [];
    bufHeading = false;
  };
  const para = (text, heading) => {
    flush();
    text = squash(text);
    if (text) items.push({ t: heading ? "h" : "p", text });
  };
  const firstSrcset = (v) => {
    if (!v) return "";
    const first = v.split(",")[0].trim().split(/\s+/)[0];
    return first || "";
  };
  const image = (el) => {
    flush();
    const r = el.getBoundingClientRect();
    const k = nImages++;
    el.setAttribute("data-vlf-img", String(k));
    const tag = el.tagName.toLowerCase();
    const it = { t: "img", k, origin: tag, alt: "", title: clip(el.getAttribute("title"), opts.maxCaptionChars),
      box: [Math.round(r.width), Math.round(r.height)], src: "", lazy: false, loaded: true, natural: null };
    if (tag === "img") {
      it.alt = clip(el.getAttribute("alt"), opts.maxCaptionChars);
      const loaded = el.complete && el.naturalWidth > 0;
      let src = el.currentSrc || el.src || "";
      const lazyRaw = el.getAttribute("data-src") || el.getAttribute("data-original") || el.getAttribute("data-lazy-src")
        || el.getAttribute("data-lazy") || firstSrcset(el.getAttribute("data-srcset"));
      if (lazyRaw && (!loaded || !src || src.startsWith("data:"))) {
        try { src = new URL(lazyRaw, document.baseURI).href; it.lazy = true; } catch (e) { src = ""; }
      } else if (!loaded) {
        it.lazy = el.loading === "lazy";
      }
      it.loaded = loaded && !it.lazy;
      it.natural = loaded ? [el.naturalWidth, el.naturalHeight] : null;
      if (src.startsWith("data:") && src.length > opts.maxDataChars) {
        it.src = src.slice(0, Math.min(src.indexOf(",") + 1 || 64, 64));
        it.dataTooLarge = true;
      } else {
        it.src = src;
      }
    } else if (tag === "svg") {
      const t = el.querySelector(":scope > title");
      it.title = it.title || clip(t && t.textContent, opts.maxCaptionChars);
      it.alt = clip(el.getAttribute("aria-label"), opts.maxCaptionChars);
    } else {
      it.alt = clip(el.getAttribute("aria-label"), opts.maxCaptionChars);
    }
    const cap = captionEl.get(el);
    if (cap) {
      it.caption = clip(cap.el.innerText || cap.el.textContent, opts.maxCaptionChars);
      it.captionSource = cap.source;
    }
    items.push(it);
    if (cap && lastOf.get(cap.el) === el && it.caption) items.push({ t: "caption", text: it.caption });
  };
  const dataTable = (table) => table.querySelector("th") !== null
    || table.querySelector("td p, td div, td table, td ul, td ol, td h1, td h2, td h3, td pre, td img") === null;
  const walk = (node) => {
    if (truncated) return;
    if (++visited % 128 === 0 && performance.now() - started > opts.budgetMs) { truncated = true; return; }
    if (items.length >= opts.maxItems) { truncated = true; return; }
    if (node.nodeType === 3) {
      // Source line breaks are spaces unless the text is preformatted; <br> is the line break.
      const pre = node.parentElement && style(node.parentElement).whiteSpace.startsWith("pre");
      if (node.data) buf.push(pre ? node.data : node.data.replace(/\s+/g, " "));
      return;
    }
    if (node.nodeType !== 1) return;
    const el = node;
    const tag = T(el);
    if (SKIP.has(tag) || consumed.has(el)) return;
    if (marked ? el.matches("nav, [role=navigation], [role=search]") : isChrome(el)) return;
    if (invisible(el)) return;
    if (isImage(el)) { image(el); return; }
    if (tag === "SVG") return;  // nested SVG parts
    if (tag === "BR") { buf.push("\n"); return; }
    if (/^H[1-6]$/.test(tag) || el.getAttribute("role") === "heading") {
      flush();
      bufHeading = true;
      for (const c of el.childNodes) walk(c);
      flush();
      return;
    }
    if (tag === "PRE") {
      flush();
      const text = (el.innerText || el.textContent || "").replace(/\s+$/, "");
      if (text.trim()) items.push({ t: "p", text, pre: true });
      for (const img of el.querySelectorAll("img")) if (!invisible(img)) image(img);
      return;
    }
    if (tag === "TABLE" && dataTable(el)) {
      flush();
      if (el.caption && !consumed.has(el.caption)) para(el.caption.innerText, false);
      let n = 0;
      for (const row of el.rows) {
        if (++n > opts.maxTableRows) break;
        const cells = [...row.cells].map((c) => squash(c.innerText).replace(/\n/g, " ")).filter((c) => c);
        if (cells.length) items.push({ t: "p", text: cells.join(" | ") });
        for (const img of row.querySelectorAll("img, svg, canvas")) if (isImage(img) && !invisible(img)) image(img);
      }
      return;
    }
    const block = !INLINE.has(style(el).display);
    if (block) flush();
    for (const c of el.childNodes) walk(c);
    if (block) flush();
  };
  for (const root of roots) { walk(root); flush(); }
  return { items, truncated, images: nImages, ms: performance.now() - started };
}
