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
  // Visual lines (OCR-style ground truth): each text node's line fragments, found from its rects and
  // the offsets where its words move to the next line (binary search on the words' tops), joined per
  // block into lines in reading order; text clipped away by an overflow box is left out.
  const CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef";
  const TOKEN = new RegExp(`[${CJK}]|[^\\s${CJK}]+`, "g");
  const clips = new Map();
  let lineCount = 0, linesTruncated = false;
  const clipOf = (el) => {
    if (!el || el.nodeType !== 1 || el === document.body || el === document.documentElement) return null;
    if (clips.has(el)) return clips.get(el);
    let c = clipOf(el.parentElement);
    const s = style(el);
    if (s.overflowX !== "visible" || s.overflowY !== "visible" || (s.clip && s.clip !== "auto")) {
      const r = el.getBoundingClientRect();
      const own = [r.left + sx, r.top + sy, r.right + sx, r.bottom + sy];
      c = c ? [Math.max(c[0], own[0]), Math.max(c[1], own[1]), Math.min(c[2], own[2]), Math.min(c[3], own[3])] : own;
    }
    clips.set(el, c);
    return c;
  };
  const topOf = (node, offset) => {
    const code = node.data.codePointAt(offset);
    range.setStart(node, offset);
    range.setEnd(node, offset + (code > 0xffff ? 2 : 1));
    const r = range.getBoundingClientRect();
    return r.top + r.height / 2;
  };
  const addFragment = (b, text, box, clip) => {
    if (clip) {
      if ((box[1] + box[3]) / 2 < clip[1] || (box[1] + box[3]) / 2 > clip[3] || box[0] >= clip[2] || box[2] <= clip[0]) return;
      box = [Math.max(box[0], clip[0]), Math.max(box[1], clip[1]), Math.min(box[2], clip[2]), Math.min(box[3], clip[3])];
    }
    const cur = b.rows[b.rows.length - 1];
    const overlap = cur ? Math.min(cur.box[3], box[3]) - Math.max(cur.box[1], box[1]) : 0;
    if (cur && !cur.closed && box[0] >= cur.box[2] - 2
        && overlap >= 0.5 * Math.min(cur.box[3] - cur.box[1], box[3] - box[1])) {
      if (!/\s$/.test(cur.text) && !/^\s/.test(text) && box[0] > cur.box[2] + 1) cur.text += " ";
      cur.text += text;
      cur.box = [Math.min(cur.box[0], box[0]), Math.min(cur.box[1], box[1]), Math.max(cur.box[2], box[2]), Math.max(cur.box[3], box[3])];
      return;
    }
    if (lineCount >= (opts.maxLines || 20000)) { linesTruncated = true; return; }
    lineCount++;
    b.rows.push({ text, box });
  };
  const drawn = (text, el) => {  // the text as CSS draws it (text-transform), which is what OCR reads
    const t = style(el).textTransform;
    if (t === "uppercase") return text.toUpperCase();
    if (t === "lowercase") return text.toLowerCase();
    if (t === "capitalize") return text.replace(/(^|[\s(["'])(\p{Ll})/gu, (m, a, c) => a + c.toUpperCase());
    return text;
  };
  const addLines = (b, node, rects, clip) => {
    const groups = [];
    for (const r of rects) {
      if (r.width < 1 || r.height < 1) continue;
      const g = groups[groups.length - 1];
      const overlap = g ? Math.min(g.bottom, r.bottom) - Math.max(g.top, r.top) : 0;
      if (g && overlap >= 0.5 * Math.min(g.bottom - g.top, r.height)) {
        g.left = Math.min(g.left, r.left); g.right = Math.max(g.right, r.right);
        g.top = Math.min(g.top, r.top); g.bottom = Math.max(g.bottom, r.bottom);
      } else groups.push({ left: r.left, right: r.right, top: r.top, bottom: r.bottom });
    }
    if (!groups.length) return;
    const starts = [0];
    if (groups.length > 1) {
      const tokens = [];
      TOKEN.lastIndex = 0;
      for (let m = TOKEN.exec(node.data); m; m = TOKEN.exec(node.data)) tokens.push(m.index);
      let lo = 0;
      for (let g = 1; g < groups.length; g++) {
        let a = lo, z = tokens.length;  // the first token whose middle lies below this line's top
        while (a < z) {
          const k = (a + z) >> 1;
          if (topOf(node, tokens[k]) > groups[g].top) z = k; else a = k + 1;
        }
        lo = a;
        starts.push(a < tokens.length ? tokens[a] : node.data.length);
      }
    }
    starts.push(node.data.length);
    for (let g = 0; g < groups.length; g++) {
      const text = drawn(node.data.slice(starts[g], starts[g + 1]), node.parentElement);
      if (!text.trim()) continue;
      const r = groups[g];
      addFragment(b, text, [r.left + sx, r.top + sy, r.right + sx, r.bottom + sy], clip);
    }
  };
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
      b = { tag: tag || block.tagName.toLowerCase(), parts: [], box: null, lines: [], rows: [], region: region(block) };
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
      if (tag === "BR") {
        const b = byBlock.get(blockOf(n));
        if (b) { b.parts.push("\n"); if (b.rows.length) b.rows[b.rows.length - 1].closed = true; }
        continue;
      }
      if ((tag === "INPUT" && !["hidden", "checkbox", "radio", "file", "range", "color"].includes(n.type)) || tag === "SELECT"
          || tag === "TEXTAREA") {
        const text = tag === "SELECT" ? (n.selectedOptions[0] ? n.selectedOptions[0].text : "") : (n.value || n.placeholder || "");
        if (text.trim() && !hidden(n)) {
          const b = { tag: tag.toLowerCase(), parts: [text], box: null, lines: [], rows: [], region: region(n) };
          for (const r of n.getClientRects()) addRect(b, r);
          if (b.box) { blocks.push(b); addFragment(b, text, b.box, clipOf(n.parentElement)); }
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
    if (opts.lines !== false && !linesTruncated && !/^rgba\(.*,\s*0\)$/.test(style(parent).color)) {
      addLines(b, n, rects, clipOf(parent));
    }
    b.last = rects[rects.length - 1];
  }
  const out = [];
  for (const b of blocks) {
    const text = b.parts.join("").replace(/[ \t\r\f\v\u00a0]*\n[ \t\r\f\v\u00a0]*/g, "\n").replace(/[ \t\r\f\v\u00a0]+/g, " ").trim();
    if (!text || !b.box) continue;
    const rows = [];
    for (const r of b.rows) {
      const t = r.text.replace(/\s+/g, " ").trim();
      if (t) rows.push({ text: t, box: r.box });
    }
    out.push({ tag: b.tag, text, box: b.box, lines: b.lines, region: b.region, rows });
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
  // Pictures are not text: the check of the lines against the screenshot's ink leaves their boxes out.
  const images = [];
  for (const el of document.querySelectorAll("img, video, picture, input[type=image]")) {
    if (images.length >= opts.maxBlocks) break;
    const r = el.getBoundingClientRect();
    if (r.width >= 2 && r.height >= 2) images.push([r.left + sx, r.top + sy, r.right + sx, r.bottom + sy]);
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
    images,
    linesTruncated: linesTruncated || truncated,
    ms: performance.now() - started,
  };
}
