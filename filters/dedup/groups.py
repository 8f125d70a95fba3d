"""From all fingerprints of a run to duplicate decisions: LSH keys, candidate pairs, verified groups.

Near-duplicates are found without comparing all pairs. Every signature is cut into bands and each
band becomes a key; two samples that share a key are candidates. A 256-bit pHash cut into
`max_phash_distance + 1` bands puts any two hashes within that distance in a shared band
(pigeonhole), so image recall is exact; MinHash bands follow datasketch's optimal (b, r) for the
Jaccard threshold. Candidates are verified on their full signatures, joined into groups
(union-find), and in each group one copy is kept by a fixed rule: the largest image, then the
longest text, then the smallest id, so every run on the same input keeps the same copy.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasketch.lsh import _optimal_param

from filters.dedup.config import DedupConfig

EXACT_IMAGE, EXACT_TEXT, NEAR_IMAGE, NEAR_TEXT = range(4)
METHODS = ("exact_image", "exact_text", "near_image", "near_text")
KEYS_SCHEMA = pa.schema([("key", pa.int64()), ("row", pa.int64()), ("method", pa.int8())])
PAIRS_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("method", pa.int8())])
DECISIONS_SCHEMA = pa.schema([("id", pa.string()), ("duplicate_of", pa.string()), ("method", pa.string()),
                              ("source", pa.string())])
_FNV = np.uint64(0x100000001B3)


def band_keys(sigs: pa.Table, config: DedupConfig) -> pa.Table:
    """LSH keys of a block of signatures (with a `row` column numbering them across the run)."""
    rows = sigs.column("row").to_numpy()
    parts: list[tuple[np.ndarray, np.ndarray, int]] = []
    is_text = pc.equal(sigs.column("kind"), "text").to_numpy(zero_copy_only=False)
    if config.exact:
        ok, mat = _bytes_matrix(sigs.column("img_exact"), np.uint64)
        if ok.any():
            parts.append((_fold(mat[:, :1], EXACT_IMAGE), rows[ok], EXACT_IMAGE))
        ok, mat = _bytes_matrix(sigs.column("text_exact"), np.uint64)  # the text of images is no key
        if (ok & is_text).any():
            parts.append((_fold(mat[is_text[ok], :1], EXACT_TEXT), rows[ok & is_text], EXACT_TEXT))
    if config.near_images:
        ok, bits = _bytes_matrix(sigs.column("phash"), np.uint8)
        if ok.any():
            bits = np.unpackbits(bits, axis=1).astype(np.uint64)
            for band, idx in enumerate(np.array_split(np.arange(bits.shape[1]), config.max_phash_distance + 1)):
                value = (bits[:, idx] << np.arange(len(idx), dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
                parts.append((_fold(value[:, None], NEAR_IMAGE, band), rows[ok], NEAR_IMAGE))
    if config.near_texts:
        ok, mh = _bytes_matrix(sigs.column("minhash"), np.uint32)
        text_rows = ok & is_text
        if text_rows.any():
            mh = mh[text_rows[ok]]
            b, r = text_bands(config)
            for band in range(b):
                parts.append((_fold(mh[:, band * r:(band + 1) * r].astype(np.uint64), NEAR_TEXT, band),
                              rows[text_rows], NEAR_TEXT))
    if not parts:
        return KEYS_SCHEMA.empty_table()
    return pa.table({"key": np.concatenate([k for k, _, _ in parts]).view(np.int64),
                     "row": np.concatenate([r for _, r, _ in parts]),
                     "method": np.concatenate([np.full(len(r), m, np.int8) for _, r, m in parts])}, schema=KEYS_SCHEMA)


def text_bands(config: DedupConfig) -> tuple[int, int]:
    """(bands, rows per band) that minimise false positives and negatives at the Jaccard threshold."""
    return _optimal_param(config.text_threshold, config.num_perm, 0.5, 0.5)


def candidate_pairs(keys: pa.Table, config: DedupConfig) -> pa.Table:
    """Pairs of rows that share a key; `keys` must hold every row of each key it contains."""
    if keys.num_rows == 0:
        return PAIRS_SCHEMA.empty_table()
    groups = keys.group_by(["key", "method"]).aggregate([("row", "list")])
    groups = groups.filter(pc.greater(pc.list_value_length(groups.column("row_list")), 1))
    a, b, m = [], [], []
    for members, method in zip(groups.column("row_list").to_pylist(), groups.column("method").to_pylist(),
                               strict=True):
        members = sorted(set(members))
        if method in (EXACT_IMAGE, EXACT_TEXT) or len(members) > config.max_bucket_pairs:
            # Exact keys need no verification between members, and a huge bucket would be quadratic:
            # a chain through the sorted members joins them all into one group to verify link by link.
            pairs = list(zip(members, members[1:], strict=False))
        else:
            pairs = [(x, y) for i, x in enumerate(members) for y in members[i + 1:]]
        a.extend(p[0] for p in pairs)
        b.extend(p[1] for p in pairs)
        m.extend([method] * len(pairs))
    return pa.table({"a": a, "b": b, "method": m}, schema=PAIRS_SCHEMA)


def resolve(sigs: pa.Table, pairs: pa.Table, config: DedupConfig) -> pa.Table:
    """Verify candidate pairs on full signatures, group them, and name the copy each duplicate repeats."""
    if pairs.num_rows == 0:
        return DECISIONS_SCHEMA.empty_table()
    pairs = pairs.group_by(["a", "b", "method"]).aggregate([])  # one pair found by several bands counts once
    a, b = pairs.column("a").to_numpy(), pairs.column("b").to_numpy()
    method = pairs.column("method").to_numpy()
    ok = np.isin(method, (EXACT_IMAGE, EXACT_TEXT))
    phash_ok, phash = _bytes_matrix(sigs.column("phash"), np.uint8, dense=True)
    mh_ok, mh = _bytes_matrix(sigs.column("minhash"), np.uint32, dense=True)
    near_img = method == NEAR_IMAGE
    if near_img.any():
        dist = np.unpackbits(phash[a[near_img]] ^ phash[b[near_img]], axis=1).sum(axis=1)
        ia, ib = a[near_img], b[near_img]
        both_long = mh_ok[ia] & mh_ok[ib]
        jac = (mh[ia] == mh[ib]).mean(axis=1) if mh.shape[1] else np.zeros(len(ia))
        # Short texts (a title page, a caption) have no MinHash: the words must then be the same.
        th_ok, th = _bytes_matrix(sigs.column("text_exact"), np.uint8, dense=True)
        both_short = th_ok[ia] & th_ok[ib] & ~both_long
        same_text = (th[ia] == th[ib]).all(axis=1) if th.shape[1] else np.ones(len(ia), bool)
        texts_agree = np.where(both_long, jac >= config.image_text_min_jaccard, np.where(both_short, same_text, True))
        ok[near_img] = (dist <= config.max_phash_distance) & texts_agree
    near_txt = method == NEAR_TEXT
    if near_txt.any():
        ok[near_txt] = (mh[a[near_txt]] == mh[b[near_txt]]).mean(axis=1) >= config.text_threshold
    a, b, method = a[ok], b[ok], method[ok]
    parent = np.arange(sigs.num_rows)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    how: dict[int, int] = {}  # row -> the strongest method that linked it (exact beats near)
    for x, y, m in zip(a.tolist(), b.tolist(), method.tolist(), strict=True):
        for r in (x, y):
            how[r] = min(how.get(r, m), m)
    ids = sigs.column("id").to_pylist()
    area = sigs.column("area").to_numpy(zero_copy_only=False)
    text_len = sigs.column("text_len").to_numpy(zero_copy_only=False)
    groups: dict[int, list[int]] = {}
    for r in how:
        groups.setdefault(find(r), []).append(r)
    out_id, out_of, out_how = [], [], []
    for members in groups.values():
        keeper = min(members, key=lambda r: (-int(area[r]), -int(text_len[r]), ids[r]))
        for r in members:
            if r != keeper:
                out_id.append(ids[r])
                out_of.append(ids[keeper])
                out_how.append(METHODS[how[r]])
    sources = sigs.column("source").to_pylist()
    index = {i: n for n, i in enumerate(ids)}
    return pa.table({"id": out_id, "duplicate_of": out_of, "method": out_how,
                     "source": [sources[index[i]] for i in out_id]}, schema=DECISIONS_SCHEMA).sort_by("id")


def _fold(values: np.ndarray, method: int, band: int = 0) -> np.ndarray:
    """An FNV-style 64-bit hash of each row of `values`, salted by method and band."""
    h = np.full(values.shape[0], np.uint64(0xCBF29CE484222325) ^ np.uint64((method << 16) | band), np.uint64)
    with np.errstate(over="ignore"):
        for j in range(values.shape[1]):
            h = (h ^ values[:, j]) * _FNV
    return h


def _bytes_matrix(column: pa.ChunkedArray, dtype: type, dense: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(mask of non-null rows, matrix of the binary values viewed as `dtype`).

    The matrix holds only the non-null rows, or, with `dense`, one row per input row (zeros for nulls).
    """
    values = column.to_pylist()
    ok = np.array([v is not None for v in values], dtype=bool)
    present = [v for v in values if v is not None]
    width = len(present[0]) // np.dtype(dtype).itemsize if present else 0
    mat = np.frombuffer(b"".join(present), dtype=dtype).reshape(len(present), width) if present else \
        np.zeros((0, width), dtype)
    if dense:
        full = np.zeros((len(values), width), dtype)
        full[ok] = mat
        return ok, full
    return ok, mat
