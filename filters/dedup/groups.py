"""From all fingerprints of a run to duplicate decisions: LSH keys, candidate pairs, verified groups.

Near-duplicates are found without comparing all pairs. Every signature is cut into bands and each
band becomes a key; two samples that share a key are candidates. A 256-bit pHash cut into
`max_phash_distance + 1` bands puts any two hashes within that distance in a shared band
(pigeonhole), so image recall is exact; the crop hashes (`filters.dedup.crops`: 11 pHashes a
picture) are cut into 16-bit bands, a probabilistic net for copies with a border cut off.
MinHash bands are chosen for recall (`text_bands`): a pair
at the Jaccard threshold becomes a candidate with probability `LSH_RECALL`, because every candidate
is then verified on its true Jaccard (the shingle hashes in the signatures), so a false candidate
costs a set intersection, never a wrong merge. datasketch's optimal (b, r), which weighs false
positives and negatives alike, finds a pair at 0.8 only 40% of the time with 128 permutations: the
MinHash estimate was then the last word, and the recall of the old default. Verified pairs are
joined into groups (union-find), and in each group one copy is kept by `dedup.keep`
(`filters.dedup.keep`).

Boilerplate in interleaved documents rides the same shuffle: each distinct image (by the sha256 of
its bytes) and each distinct paragraph of a document is a key; a key held by more documents than its
limit (`max_image_docs`, `max_paragraph_docs`) yields one *edit* per document, naming what to remove
(the image's sha256, the paragraph's hash) rather than a sample to drop. Images that are the same
picture in other bytes (a logo re-encoded, resized) are joined on the driver by pHash within
`max_phash_distance` (the same pigeonhole bands, over the run's distinct pHashes only) and counted
as one image.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.dedup import crops
from filters.dedup.config import DedupConfig
from filters.dedup.keep import keeper

EXACT_IMAGE, EXACT_TEXT, NEAR_IMAGE, NEAR_TEXT, BOILER_IMAGE, BOILER_PHASH, BOILER_PARA = range(7)
METHODS = ("exact_image", "exact_text", "near_image", "near_text",
           "boilerplate_image", "boilerplate_image", "boilerplate_paragraph")
TEXT_KINDS = ("text", "document")  # kinds whose text is a dedup key (a document's without its markers), each apart
# (signature column, method, 8-byte words of each value that make its key); pHashes are joined on the driver
_LIST_KEYS = (("image_shas", BOILER_IMAGE, 1), ("para_hashes", BOILER_PARA, 1))
KEYS_SCHEMA = pa.schema([("key", pa.int64()), ("row", pa.int64()), ("method", pa.int8())])
PAIRS_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("method", pa.int8())])
DECISIONS_SCHEMA = pa.schema([("id", pa.string()), ("duplicate_of", pa.string()), ("method", pa.string()),
                              ("source", pa.string()),
                              ("action", pa.string()),  # "drop" (a duplicate) or "edit" (boilerplate removed)
                              ("target", pa.string()),  # an edit's image sha256 or paragraph hash (hex)
                              ("docs", pa.int64())])  # an edit's: how many documents hold that image/paragraph
_FNV = np.uint64(0x100000001B3)
LSH_RECALL = 0.99  # chance that a pair exactly at the threshold shares a band
CROP_BANDS, CROP_SALT = 16, 1 << 12  # crop hash bands (16 bits each), salted apart from the pHash's


def band_keys(sigs: pa.Table, config: DedupConfig) -> pa.Table:
    """LSH keys of a block of signatures (with a `row` column numbering them across the run)."""
    rows = sigs.column("row").to_numpy()
    parts: list[tuple[np.ndarray, np.ndarray, int]] = []
    kinds = sigs.column("kind")
    if config.exact:
        ok, mat = _bytes_matrix(sigs.column("img_exact"), np.uint64)
        if ok.any():
            parts.append((_fold(mat[:, :1], EXACT_IMAGE), rows[ok], EXACT_IMAGE))
        ok, mat = _bytes_matrix(sigs.column("text_exact"), np.uint64)  # the text of images is no key
        # Texts are compared within their kind (salted apart): a source may emit a section both as a
        # text sample and as a document, which are different samples, not copies.
        for salt, kind in enumerate(TEXT_KINDS):
            is_text = pc.equal(kinds, kind).to_numpy(zero_copy_only=False)
            if (ok & is_text).any():
                parts.append((_fold(mat[is_text[ok], :1], EXACT_TEXT, salt), rows[ok & is_text], EXACT_TEXT))
    if config.near_images:
        ok, bits = _bytes_matrix(sigs.column("phash"), np.uint8)
        if ok.any():
            bits = np.unpackbits(bits, axis=1).astype(np.uint64)
            for band, idx in enumerate(np.array_split(np.arange(bits.shape[1]), config.max_phash_distance + 1)):
                value = (bits[:, idx] << np.arange(len(idx), dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
                parts.append((_fold(value[:, None], NEAR_IMAGE, band), rows[ok], NEAR_IMAGE))
        if config.crop_images and "crop_phash" in sigs.column_names:
            parts += _crop_keys(sigs.column("crop_phash"), rows)
    if config.near_texts:
        ok, all_mh = _bytes_matrix(sigs.column("minhash"), np.uint32)
        b, r = text_bands(config)
        for salt, kind in enumerate(TEXT_KINDS):
            text_rows = ok & pc.equal(kinds, kind).to_numpy(zero_copy_only=False)
            if text_rows.any():
                mh = all_mh[text_rows[ok]]
                for band in range(b):
                    parts.append((_fold(mh[:, band * r:(band + 1) * r].astype(np.uint64), NEAR_TEXT,
                                        band + (salt << 8)), rows[text_rows], NEAR_TEXT))
    for column, method, words in _LIST_KEYS:
        if _limit(config, method) and column in sigs.column_names:
            found = _list_keys(sigs, column, method, words)
            if found is not None:
                parts.append((found[0], found[1], method))
    if not parts:
        return KEYS_SCHEMA.empty_table()
    return pa.table({"key": np.concatenate([k for k, _, _ in parts]).view(np.int64),
                     "row": np.concatenate([r for _, r, _ in parts]),
                     "method": np.concatenate([np.full(len(r), m, np.int8) for _, r, m in parts])}, schema=KEYS_SCHEMA)


def _crop_keys(column: pa.ChunkedArray, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Keys of the crop hashes: each of a row's 11 pHashes cut into CROP_BANDS bands of 16 bits, salted by
    band only, so any hash of one row meets any hash of another. Not a pigeonhole: a copy 40 bits away
    still shares one of its 16 bands with probability 0.93 on a single hash pair (1 - (1 - (216/256)^16)^16),
    and the content box and the 9 windows give it several pairs; 16-bit bands keep chance meetings rare."""
    ok, mat = _bytes_matrix(column, np.uint16)
    if not ok.any():
        return []
    words = mat.reshape(len(mat), crops.HASHES, CROP_BANDS)  # 16 uint16 per 256-bit hash
    out = []
    for band in range(CROP_BANDS):
        values = words[:, :, band].astype(np.uint64)
        keys = np.unique(np.stack([_fold(values.reshape(-1, 1), NEAR_IMAGE, CROP_SALT + band).view(np.int64),
                                   np.repeat(rows[ok], crops.HASHES)]), axis=1)  # each (key, row) once
        out.append((keys[0].view(np.uint64), keys[1], NEAR_IMAGE))
    return out


def text_bands(config: DedupConfig) -> tuple[int, int]:
    """(bands, rows per band): the most rows per band (fewest false candidates) whose bands still catch a
    pair at the threshold with probability LSH_RECALL (1 - (1 - t^r)^b); 128 permutations at 0.8 give
    21 bands of 6 rows (0.998 at 0.8, 0.28 at 0.5)."""
    t = config.text_threshold
    for r in range(config.num_perm, 0, -1):
        b = config.num_perm // r
        if 1 - (1 - t ** r) ** b >= LSH_RECALL:
            return b, r
    return config.num_perm, 1


def candidate_pairs(keys: pa.Table, config: DedupConfig) -> pa.Table:
    """Pairs of rows that share a key; `keys` must hold every row of each key it contains."""
    if keys.num_rows == 0:
        return PAIRS_SCHEMA.empty_table()
    groups = keys.group_by(["key", "method"]).aggregate([("row", "list")])
    groups = groups.filter(pc.greater(pc.list_value_length(groups.column("row_list")), 1))
    a, b, m = [], [], []
    for key, members, method in zip(groups.column("key").to_pylist(), groups.column("row_list").to_pylist(),
                                    groups.column("method").to_pylist(), strict=True):
        members = sorted(set(members))
        if method >= BOILER_IMAGE:
            # Boilerplate: every document of a key held by too many; `b` carries the key, not a row.
            if len(members) > _limit(config, method):
                a.extend(members)
                b.extend([key] * len(members))
                m.extend([method] * len(members))
            continue
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
    """Decisions: each duplicate dropped (naming the copy it repeats), then each boilerplate image or
    paragraph removed from a document that is not itself dropped; sorted by id, then target."""
    boiler = pc.greater_equal(pairs.column("method"), BOILER_IMAGE)
    drops = _duplicates(sigs, pairs.filter(pc.invert(boiler)), config)
    edits = _boilerplate(sigs, pairs.filter(boiler), set(drops.column("id").to_pylist()), config)
    return pa.concat_tables([drops, edits]).sort_by([("id", "ascending"), ("target", "ascending")])


def _duplicates(sigs: pa.Table, pairs: pa.Table, config: DedupConfig) -> pa.Table:
    """Verify candidate pairs on full signatures, group them, and name the copy each duplicate repeats."""
    if pairs.num_rows == 0:
        return DECISIONS_SCHEMA.empty_table()
    pairs = pairs.group_by(["a", "b", "method"]).aggregate([])  # one pair found by several bands counts once
    a, b = pairs.column("a").to_numpy(), pairs.column("b").to_numpy()
    method = pairs.column("method").to_numpy()
    ok = np.isin(method, (EXACT_IMAGE, EXACT_TEXT))
    phash_ok, phash = _bytes_matrix(sigs.column("phash"), np.uint8, dense=True)
    mh_ok, mh = _bytes_matrix(sigs.column("minhash"), np.uint32, dense=True)
    th_ok, th = _bytes_matrix(sigs.column("text_exact"), np.uint8, dense=True)

    def texts_agree(ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        """Two images with text are copies only if their texts overlap too: one picture captioned in
        English and in Chinese (a translated site's shared figure) is two samples, not one. Short texts
        (a title page, a caption) have no MinHash: the words must then be the same."""
        both_long = mh_ok[ia] & mh_ok[ib]
        jac = np.zeros(len(ia))
        if mh.shape[1]:
            jac[both_long] = (mh[ia[both_long]] == mh[ib[both_long]]).mean(axis=1)
        both_short = th_ok[ia] & th_ok[ib] & ~both_long
        same_text = (th[ia] == th[ib]).all(axis=1) if th.shape[1] else np.ones(len(ia), bool)
        return np.where(both_long, jac >= config.image_text_min_jaccard, np.where(both_short, same_text, True))

    exact_img = method == EXACT_IMAGE
    if exact_img.any():
        agreeing = np.isin(np.array(sigs.column("kind").to_pylist(), dtype=object),
                           np.array(config.image_text_agreement, dtype=object))
        ia, ib = a[exact_img], b[exact_img]
        ok[exact_img] = ~(agreeing[ia] | agreeing[ib]) | texts_agree(ia, ib)
    near_img = method == NEAR_IMAGE
    if near_img.any():
        ia, ib = a[near_img], b[near_img]
        close = crops.bit_counts(phash[ia] ^ phash[ib]) <= config.max_phash_distance
        if config.crop_images and "crop_phash" in sigs.column_names:
            crop_ok, crop = _bytes_matrix(sigs.column("crop_phash"), np.uint8, dense=True)
            far = np.flatnonzero(crop_ok[ia] & crop_ok[ib] & ~close)  # pairs the crop hashes may still join
            if far.size:
                close[far] = crops.pairs_within(crop, ia[far], ib[far], config.max_crop_distance)
        agree = np.zeros(len(ia), bool)  # texts are compared only where the pictures are close
        agree[close] = texts_agree(ia[close], ib[close])
        ok[near_img] = agree
    near_txt = method == NEAR_TEXT
    if near_txt.any():
        ta, tb = a[near_txt], b[near_txt]
        # A translation whose code listings and names stay in English can share 70% of its shingles with
        # the original: texts the language filter put in two languages are two samples.
        lang = np.array(sigs.column("lang").to_pylist() if "lang" in sigs.column_names else [None] * sigs.num_rows,
                        dtype=object)
        known = np.array([x not in (None, "", "und") for x in lang], dtype=bool)
        one_lang = (lang[ta] == lang[tb]) | ~known[ta] | ~known[tb]
        ok[near_txt] = one_lang & (shingle_jaccard(sigs.column("shingles"), ta, tb, mh[ta], mh[tb],
                                                   config.max_verify_shingles) >= config.text_threshold)
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
    quality, clean = ((pc.fill_null(sigs.column(c), 1.0).to_numpy(zero_copy_only=False) if c in sigs.column_names
                       else np.ones(sigs.num_rows)) for c in ("quality_prob", "clean_frac"))
    groups: dict[int, list[int]] = {}
    for r in how:
        groups.setdefault(find(r), []).append(r)
    out_id, out_of, out_how = [], [], []
    for members in groups.values():
        kept = keeper(members, config.keep, ids, area, text_len, quality, clean)
        for r in members:
            if r != kept:
                out_id.append(ids[r])
                out_of.append(ids[kept])
                out_how.append(METHODS[how[r]])
    sources = sigs.column("source").to_pylist()
    index = {i: n for n, i in enumerate(ids)}
    return pa.table({"id": out_id, "duplicate_of": out_of, "method": out_how,
                     "source": [sources[index[i]] for i in out_id], "action": ["drop"] * len(out_id),
                     "target": [None] * len(out_id), "docs": [None] * len(out_id)}, schema=DECISIONS_SCHEMA)


def shingle_jaccard(shingles: pa.ChunkedArray, a: np.ndarray, b: np.ndarray, mh_a: np.ndarray,
                    mh_b: np.ndarray, cap: int) -> np.ndarray:
    """Each pair's Jaccard on the shingle hashes of its two texts: exact when both sets are whole, the
    bottom-k estimate over the smaller sketch when one was cut at `max_verify_shingles`; the MinHash
    estimate for signatures written before the hashes were carried."""
    out = (mh_a == mh_b).mean(axis=1) if mh_a.shape[1] else np.zeros(len(a))
    rows = np.unique(np.concatenate([a, b]))
    values = shingles.take(pa.array(rows)).to_pylist()
    sets = {int(r): np.frombuffer(v, np.uint32) for r, v in zip(rows.tolist(), values, strict=True) if v}
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        sx, sy = sets.get(x), sets.get(y)
        if sx is None or sy is None:
            continue
        common = len(np.intersect1d(sx, sy, assume_unique=True))
        if max(len(sx), len(sy)) < cap:
            out[i] = common / (len(sx) + len(sy) - common)
        else:  # a sketch: the k smallest hashes of the union, and how many of them both sets hold
            k = min(len(sx), len(sy))
            union = np.union1d(sx, sy)[:k]
            both = np.isin(union, sx, assume_unique=True) & np.isin(union, sy, assume_unique=True)
            out[i] = np.count_nonzero(both) / k
    return out


def _boilerplate(sigs: pa.Table, pairs: pa.Table, dropped: set[str], config: DedupConfig) -> pa.Table:
    """One edit per (document, image or paragraph) whose key too many documents hold. `pairs` holds
    (document row, key, method); the key is matched back to the document's own hashes, and an image
    found by its bytes and by its pHash is one edit."""
    found = _near_images(sigs, config, dropped)
    if pairs.num_rows == 0 and not found:
        return DECISIONS_SCHEMA.empty_table()
    pairs = pairs.group_by(["a", "b", "method"]).aggregate([])
    docs = pairs.group_by(["b", "method"]).aggregate([("a", "count")])
    count = {(k, m): n for k, m, n in zip(docs.column("b").to_pylist(), docs.column("method").to_pylist(),
                                          docs.column("a_count").to_pylist(), strict=True)}
    ids, sources = sigs.column("id").to_pylist(), sigs.column("source").to_pylist()
    values_of: dict[tuple[int, int, int], list[bytes]] = {}  # (row, key, method) -> the row's values of that key
    for column, method, words in _LIST_KEYS:
        if column in sigs.column_names and pc.any(pc.equal(pairs.column("method"), method)).as_py():
            values, keys, rows = _flat_keys(sigs, column, method, words)
            for value, key, row in zip(values, keys.view(np.int64).tolist(), rows.tolist(), strict=True):
                values_of.setdefault((row, key, method), []).append(value)
    for row, key, method in zip(pairs.column("a").to_pylist(), pairs.column("b").to_pylist(),
                                pairs.column("method").to_pylist(), strict=True):
        if ids[row] in dropped:
            continue
        for value in values_of.get((row, key, method), ()):
            target = value.hex()
            n = count[(key, method)]
            old = found.get((ids[row], target))
            found[(ids[row], target)] = (METHODS[method], sources[row], max(n, old[2] if old else 0))
    keys = sorted(found)
    return pa.table({"id": [i for i, _ in keys], "duplicate_of": [None] * len(keys),
                     "method": [found[k][0] for k in keys], "source": [found[k][1] for k in keys],
                     "action": ["edit"] * len(keys), "target": [t for _, t in keys],
                     "docs": [found[k][2] for k in keys]}, schema=DECISIONS_SCHEMA)


def _near_images(sigs: pa.Table, config: DedupConfig, dropped: set[str]) -> dict[tuple[str, str], tuple]:
    """Boilerplate images by pHash: the run's distinct pHashes joined when within `max_phash_distance`
    (candidates from the pigeonhole bands, chained through huge buckets), and every image of a group
    held by more than `max_image_docs` documents removed. (id, sha256 hex) -> (method, source, docs)."""
    if not config.max_image_docs or not config.near_images or "image_phashes" not in sigs.column_names:
        return {}
    where: list[tuple[int, bytes]] = []  # (document row, image sha256) of each image with a pHash
    hashes: list[bytes] = []
    for row, (shas, phs) in enumerate(zip(sigs.column("image_shas").to_pylist(),
                                          sigs.column("image_phashes").to_pylist(), strict=True)):
        for sha, ph in zip(shas or [], phs or [], strict=False):
            if ph is not None:
                where.append((row, sha))
                hashes.append(ph)
    if not hashes:
        return {}
    distinct, image_of = np.unique(np.frombuffer(b"".join(hashes), np.uint8).reshape(len(hashes), -1),
                                   axis=0, return_inverse=True)
    image_of = image_of.ravel()
    parent = np.arange(len(distinct))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    bits = np.unpackbits(distinct, axis=1)
    for idx in np.array_split(np.arange(bits.shape[1]), config.max_phash_distance + 1):
        value = np.packbits(bits[:, idx], axis=1)
        _, bucket = np.unique(value, axis=0, return_inverse=True)
        order = np.argsort(bucket.ravel(), kind="stable")
        splits = np.flatnonzero(np.diff(bucket.ravel()[order])) + 1
        for members in np.split(order, splits):
            if len(members) < 2:
                continue
            for i, x in enumerate(members.tolist()):
                for y in members[i + 1:i + 1 + config.max_bucket_pairs].tolist():
                    if crops.bit_counts(distinct[x] ^ distinct[y]) <= config.max_phash_distance:
                        rx, ry = find(x), find(y)
                        if rx != ry:
                            parent[max(rx, ry)] = min(rx, ry)
    docs: dict[int, set[int]] = {}
    for (row, _), d in zip(where, image_of.tolist(), strict=True):
        docs.setdefault(find(d), set()).add(row)
    ids, sources = sigs.column("id").to_pylist(), sigs.column("source").to_pylist()
    found: dict[tuple[str, str], tuple] = {}
    for (row, sha), d in zip(where, image_of.tolist(), strict=True):
        n = len(docs[find(d)])
        if n > config.max_image_docs and ids[row] not in dropped:
            found[(ids[row], sha.hex())] = (METHODS[BOILER_IMAGE], sources[row], n)
    return found


def _limit(config: DedupConfig, method: int) -> int:
    """How many documents may hold one image (or paragraph) before it counts as boilerplate; 0 = off."""
    return config.max_paragraph_docs if method == BOILER_PARA else config.max_image_docs


def _list_keys(sigs: pa.Table, column: str, method: int, words: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Keys of the per-image or per-paragraph hashes in a list column, each (key, row) once: a document
    that shows its logo twice counts as one document."""
    values, keys, rows = _flat_keys(sigs, column, method, words)
    if not values:
        return None
    both = np.unique(np.stack([keys.view(np.int64), sigs.column("row").to_numpy()[rows]]), axis=1)
    return both[0].view(np.uint64), both[1]


def _flat_keys(sigs: pa.Table, column: str, method: int, words: int) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """Every non-null hash in a list column, its key, and the position of its row in `sigs`."""
    lists = sigs.column(column).combine_chunks()
    flat, parents = pc.list_flatten(lists), pc.list_parent_indices(lists)
    valid = pc.is_valid(flat)
    values = flat.filter(valid).to_pylist()
    rows = parents.filter(valid).to_numpy().astype(np.int64)
    mat = np.frombuffer(b"".join(v[:8 * words] for v in values), dtype=np.uint64).reshape(len(values), words)
    return values, _fold(mat, method), rows


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
