"""Grounding turns: questions that point at text, elements and figures on a sample's image, answered with
exact boxes in DeepSeek-VL2's `<|ref|>…<|/ref|><|det|>[[x1, y1, x2, y2]]<|/det|>` form.

It lives beside the instruction builder because it is one: it turns ground truth the sample already
carries (the PDF text layer's line boxes, the DOM's element boxes, figure and caption boxes) into
`messages` and tags, and never looks at pixels. `boxes` is the geometry and the format, `referents`
finds what can be pointed at without ambiguity, `turns` writes the questions and answers, `stage`
is the pipeline stage and `eval` measures the boxes against PyMuPDF on real PDFs.
"""
