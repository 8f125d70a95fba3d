// Read what a rendered page shows: its text blocks in reading (document) order with their boxes,
// the boxes of inline SVG and canvas figures, and the page's size. Evaluated by render.py.
// Coordinates are CSS pixels of the whole document (viewport offset + scroll), so they index a
// full-page capture. Bounded by `maxBlocks` and a time budget so a huge DOM cannot stall a worker.
(opts) => {
  const started = performance.now();
  const INLINE = new Set(["inline", "inline-block", "inline-flex", "inline-grid", "contents", "ruby", "ruby-text"]);
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEAD", "TITLE", "IFRAME", "OBJECT", "svg", "SVG", "CANVAS", "OPTION"]);
  const sx = window.scrollX, sy = window.scrollY;
  const styleOf = new Map();
  const style = (el) => {
    let s = styleOf.get(el);
    if (!s) { s = getComputedStyle(el); styleOf.set(el, s); }
    return s;
  };
  const hidden = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = style(e);
      if (s.display === "none" || s.visibility === "hidden" || s.visibility === "collapse" || s.opacity === "0") return true;
    }
    return false;
  };
  const blockOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      if (e === document.body || !INLINE.has(style(e).display)) return e;
    }
    return document.body;
  };
  const region = (el) => {
    if (el.closest("main, article, [role=main]")) return "main";
    if (el.closest("header, nav, footer, aside, [role=navigation], [role=banner], [role=contentinfo]")) return "chrome";
    return "body";
  };
  const blocks = [];
  const byBlock = new Map();
  let truncated = false;
  const addRect = (b, r) => {
    if (r.width < 1 || r.height < 1) return;
    const x0 = r.left + sx, y0 = r.top + sy, x1 = r.right + sx, y1 = r.bottom + sy;
    if (b.box === null) b.box = [x0, y0, x1, y1];
    else b.box = [Math.min(b.box[0], x0), Math.min(b.box[1], y0), Math.max(b.box[2], x1), Math.max(b.box[3], y1)];
    if (b.lines.length < 200) b.lines.push([y0, y1]);
  };
  const entry = (block, tag) => {
    let b = byBlock.get(block);
    if (!b) {
      b = { tag: tag || block.tagName.toLowerCase(), parts: [], box: null, lines: [], region: region(block) };
      byBlock.set(block, b);
      blocks.push(b);
    }
    return b;
  };
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT, {
    acceptNode: (n) => (n.nodeType === 1 && SKIP.has(n.tagName) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const range = document.createRange();
  let visited = 0;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (++visited % 256 === 0 && performance.now() - started > opts.budgetMs) { truncated = true; break; }
    if (blocks.length >= opts.maxBlocks) { truncated = true; break; }
    if (n.nodeType === 1) {
      const tag = n.tagName;
      if (tag === "BR") { const b = byBlock.get(blockOf(n)); if (b) b.parts.push("\n"); continue; }
      if ((tag === "INPUT" && !["hidden", "checkbox", "radio", "file", "range", "color"].includes(n.type)) || tag === "SELECT") {
        const text = tag === "SELECT" ? (n.selectedOptions[0] ? n.selectedOptions[0].text : "") : (n.value || n.placeholder || "");
        if (text.trim() && !hidden(n)) {
          const b = { tag: tag.toLowerCase(), parts: [text], box: null, lines: [], region: region(n) };
          for (const r of n.getClientRects()) addRect(b, r);
          if (b.box) blocks.push(b);
        }
      }
      continue;
    }
    const parent = n.parentElement;
    if (!parent || !n.data.trim() || hidden(parent)) continue;
    range.selectNodeContents(n);
    const rects = range.getClientRects();
    if (!rects.length) continue;
    const b = entry(blockOf(parent));
    // Inline boxes set apart by margins or on another line are separate words even with no space between.
    const first = rects[0];
    const last = b.last;
    if (last && !/\s$/.test(b.parts[b.parts.length - 1] || "") && !/^\s/.test(n.data)
        && (first.left > last.right + 1 || first.top >= last.bottom)) b.parts.push(" ");
    b.parts.push(n.data);
    for (const r of rects) addRect(b, r);
    b.last = rects[rects.length - 1];
  }
  const out = [];
  for (const b of blocks) {
    const text = b.parts.join("").replace(/[ \t\r\f\v\u00a0]*\n[ \t\r\f\v\u00a0]*/g, "\n").replace(/[ \t\r\f\v\u00a0]+/g, " ").trim();
    if (text && b.box) out.push({ tag: b.tag, text, box: b.box, lines: b.lines, region: b.region });
  }
  const figures = [];
  for (const el of document.querySelectorAll("svg, canvas")) {
    if (el.tagName.toLowerCase() === "svg" && el.parentElement && el.parentElement.closest("svg")) continue;
    const r = el.getBoundingClientRect();
    if (r.width < opts.minFigure || r.height < opts.minFigure * 0.6 || hidden(el)) continue;
    const fig = el.closest("figure");
    const cap = fig && fig.querySelector("figcaption");
    const titled = el.querySelector && el.querySelector(":scope > title");
    // Where the caption came from, in the document's terms: figcaption, title (an SVG <title> or a
    // title attribute) or alt (aria-label, the SVG's alt text).
    const found = [[cap && cap.innerText, "figcaption"], [el.getAttribute("aria-label"), "alt"],
      [titled && titled.textContent, "title"], [el.getAttribute("title"), "title"]].find(([t]) => t && t.trim());
    figures.push({
      origin: el.tagName.toLowerCase(),
      box: [r.left + sx, r.top + sy, r.right + sx, r.bottom + sy],
      caption: found ? found[0].trim() : "",
      captionSource: found ? found[1] : "",
      code: el.tagName.toLowerCase() === "svg" && el.outerHTML.length <= opts.maxSvgChars ? el.outerHTML : "",
    });
  }
  // Elements a user points at, by role and visible label, for grounding: buttons, links, form fields,
  // headings, tables and images. Text blocks merge a link or button into its paragraph; these keep it apart.
  const ROLES = [
    ["button", "button, input[type=submit], input[type=button], input[type=reset], [role=button]"],
    ["link", "a[href], [role=link]"],
    ["field", "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]), select, textarea"],
    ["heading", "h1, h2, h3, h4, h5, h6, [role=heading]"],
    ["table", "table"],
    ["image", "img"],
  ];
  const clean = (s) => (s || "").replace(/\s+/g, " ").trim().slice(0, 200);
  const labelOf = (el, role) => {
    if (role === "field") return clean((el.labels && el.labels[0] && el.labels[0].innerText) || el.getAttribute("aria-label") || el.placeholder);
    if (role === "table") return clean(el.caption ? el.caption.innerText : el.getAttribute("aria-label"));
    if (role === "image") return clean(el.alt || el.title);
    return clean(el.innerText || el.value || el.getAttribute("aria-label"));
  };
  const targets = [];
  const taken = new Set();
  roles: for (const [role, selector] of ROLES) {
    for (const el of document.querySelectorAll(selector)) {
      if (targets.length >= opts.maxBlocks || performance.now() - started > opts.budgetMs) break roles;
      if (taken.has(el)) continue;
      taken.add(el);
      const r = el.getBoundingClientRect();
      if (r.width < 4 || r.height < 4 || hidden(el)) continue;
      targets.push({ role, label: labelOf(el, role), box: [r.left + sx, r.top + sy, r.right + sx, r.bottom + sy] });
    }
  }
  const root = document.scrollingElement || document.documentElement;
  return {
    title: document.title || "",
    lang: document.documentElement.lang || "",
    width: Math.max(root.scrollWidth, document.body ? document.body.scrollWidth : 0),
    height: Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0),
    elements: document.getElementsByTagName("*").length,
    background: getComputedStyle(document.body || document.documentElement).backgroundColor,
    blocks: out,
    figures,
    targets,
    truncated,
    ms: performance.now() - started,
  };
}
