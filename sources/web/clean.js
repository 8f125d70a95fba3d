// The page as static, self-contained HTML for screenshot-to-code pairs: the rendered DOM without
// scripts, frames, comments, event handlers and tracking attributes, with same-origin stylesheets
// inlined and links made absolute, so the HTML alone redraws what the screenshot shows.
(opts) => {
  const doc = document.documentElement.cloneNode(true);
  const drop = "script, noscript, iframe, frame, object, embed, template, link[rel=preload], link[rel=prefetch], link[rel=modulepreload], meta[http-equiv]";
  for (const el of doc.querySelectorAll(drop)) el.remove();
  const sheets = Array.from(document.styleSheets);
  const links = doc.querySelectorAll("link[rel~=stylesheet]");
  links.forEach((link, i) => {
    const sheet = sheets.find((s) => s.href && s.href === link.href);
    let css = "";
    try { css = sheet ? Array.from(sheet.cssRules, (r) => r.cssText).join("\n") : ""; } catch (e) { css = ""; }
    if (css) {
      const style = document.createElement("style");
      style.textContent = css;
      link.replaceWith(style);
    } else {
      link.remove();
    }
  });
  const walker = document.createTreeWalker(doc, NodeFilter.SHOW_COMMENT);
  const comments = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) comments.push(n);
  comments.forEach((c) => c.remove());
  for (const el of doc.querySelectorAll("*")) {
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on") || name.startsWith("data-") || name === "nonce" || name === "integrity" || name === "ping") {
        el.removeAttribute(attr.name);
      } else if ((name === "href" || name === "src" || name === "action") && !attr.value.startsWith("#")) {
        if (attr.value.trim().toLowerCase().startsWith("javascript:")) { el.removeAttribute(attr.name); continue; }
        try { el.setAttribute(attr.name, new URL(attr.value, document.baseURI).href); } catch (e) { /* keep as written */ }
      } else if (name === "srcset") {
        el.removeAttribute(attr.name);
      }
    }
    if (el.tagName === "IMG" && (el.getAttribute("src") || "").startsWith("data:") && el.getAttribute("src").length > opts.maxDataUri) {
      el.setAttribute("src", "");
    }
  }
  return "<!doctype html>\n" + doc.outerHTML;
}
