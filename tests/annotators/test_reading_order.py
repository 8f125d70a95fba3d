"""Reading order on synthetic line layouts shaped like rendered pages (144 dpi: ~12 px per character,
lines ~26 px tall): a table of contents reads row by row, real columns still read column by column."""

from __future__ import annotations

from annotators.ocr.backend import OcrLine, reading_order, rect_box

CHAR, LINE = 12, 26  # pixels per character and per line at 144 dpi


def line(text: str, x: float, y: float) -> OcrLine:
    return OcrLine(text, 1.0, rect_box(x, y, x + CHAR * len(text), y + LINE))


def right_aligned(text: str, right: float, y: float) -> OcrLine:
    return OcrLine(text, 1.0, rect_box(right - CHAR * len(text), y, right, y + LINE))


def texts(lines: list[OcrLine]) -> list[str]:
    return [ln.text for ln in reading_order(lines)]


def toc(entries: list[tuple[str, str]], left: float = 175, right: float = 905, top: float = 270,
        gap_after: tuple[int, ...] = ()) -> list[OcrLine]:
    """Entries with their right-aligned page numbers; a blank line after the entries in `gap_after`."""
    out, y = [], top
    for i, (title, page) in enumerate(entries):
        out += [line(title, left, y), right_aligned(page, right, y)]
        y += LINE + (2 * LINE if i in gap_after else 1)
    return out


ENTRIES = [("Acknowledgements", "1"), ("1 Introduction", "3"), ("1.1 Imports", "3"), ("1.2 Export to text files", "4"),
           ("2 Spreadsheet-like data", "8"), ("2.1 Variations on read.table", "11"), ("Index", "35")]


def test_toc_with_right_aligned_page_numbers_reads_row_by_row():
    lines = toc(ENTRIES)
    assert texts(lines[::-1]) == [t for entry in ENTRIES for t in entry]


def test_toc_with_blank_lines_between_chapters_reads_row_by_row():
    lines = toc(ENTRIES, gap_after=(0, 3))
    assert texts(lines[::-1])[:6] == ["Acknowledgements", "1", "1 Introduction", "3", "1.1 Imports", "3"]


def test_roman_page_numbers_are_a_sliver_too():
    lines = toc([("Preface", "iii"), ("Contents", "v"), ("Foreword", "xiv")])
    assert texts(lines) == ["Preface", "iii", "Contents", "v", "Foreword", "xiv"]


def test_line_numbers_left_of_code_read_with_their_line():
    code = ["x <- read.csv(file)", "y <- subset(x, a > 1)", "summary(y)"]
    lines = [right_aligned(str(i + 1), 60, 100 + 30 * i) for i in range(3)]
    lines += [line(c, 150, 100 + 30 * i) for i, c in enumerate(code)]
    assert texts(lines) == ["1", code[0], "2", code[1], "3", code[2]]


def test_two_column_page_still_reads_column_by_column():
    left = [line(f"left column line {i} of running text here", 50, 100 + 30 * i) for i in range(5)]
    right = [line(f"right column line {i} of running text", 620, 100 + 30 * i) for i in range(5)]
    assert texts(right + left) == [ln.text for ln in left + right]


def test_title_over_two_columns_reads_title_then_each_column():
    title = line("A Title Across The Page", 300, 20)
    left = [line(f"left column line {i} of running text here", 50, 100 + 30 * i) for i in range(4)]
    right = [line(f"right column line {i} of running text", 620, 100 + 30 * i) for i in range(4)]
    assert texts([*right, title, *left]) == [title.text] + [ln.text for ln in left + right]


def test_two_column_toc_reads_each_column_row_by_row():
    left = toc(ENTRIES[:3], left=50, right=560)
    right = toc(ENTRIES[3:6], left=640, right=1150)
    assert texts(right + left) == [t for entry in ENTRIES[:6] for t in entry]


def test_running_head_over_a_toc_is_read_first_as_one_row():
    """gnuplot's last contents page: "20  gnuplot 5.4  CONTENTS" over entries with right-aligned page numbers."""
    head = [line("20", 140, 107), line("gnuplot 5.4", 557, 107), right_aligned("CONTENTS", 1083, 107)]
    body = toc([("Bugs", "303"), ("Known limitations", "303"), ("External libraries", "303")], left=140,
               right=1083, top=163, gap_after=(0, 1))
    assert texts(body + head) == ["20", "gnuplot 5.4", "CONTENTS", "Bugs", "303", "Known limitations", "303",
                                  "External libraries", "303"]



def test_two_column_index_with_tight_boxes_and_gaps_between_rows_reads_each_column():
    """Tesseract's boxes hug the glyphs, so a gap taller than most of a line separates every row."""

    def tight(text: str, x0: float, y: float, right: bool = False) -> OcrLine:
        x0 = x0 - 9 * len(text) if right else x0
        return OcrLine(text, 1.0, rect_box(x0, y, x0 + 9 * len(text), y + 11))

    head = [tight("Function and variable index", 181, 101), tight("35", 1043, 101, right=True)]
    left, right = [], []
    for i, (a, b) in enumerate(zip(["scan", "seek", "sink", "stack", "stderr", "stdin"],
                                   ["unstack", "url", "write", "write.csv", "xlsx", "zip"], strict=True)):
        y = 233 + 21 * i
        left += [tight(a, 181, y), tight(str(i + 3), 593, y, right=True)]
        right += [tight(b, 630, y), tight(str(i + 20), 1043, y, right=True)]
    # The head's page number stands over the right column's numbers, so it is read at that column's top.
    assert texts(right + left + head) == [ln.text for ln in [head[0], *left, head[1], *right]]


def test_two_column_index_keeps_page_numbers_with_their_entries_across_a_narrow_gutter():
    """A back-of-book index (Debian's asymptote manual, scanned): the left column's right-aligned page
    numbers stand less than a line height from the right column's entries. Read as one column they
    interleaved with the right column (CER 0.35 on that page); each number belongs to its entry's row."""
    left = [("tube", "136, 154"), ("tutorial", "9"), ("type1cm", "42"), ("typedef", "31, 65"), ("U3D", "96")]
    right = [("WebGL", "138"), ("whatever", "35"), ("Wheel", "128"), ("while", "24"), ("White", "135")]
    lines = toc(left, left=80, right=360) + toc(right, left=360 + LINE - 4, right=700)
    assert texts(lines[::-1]) == [t for entry in left + right for t in entry]
