"""`--format webdataset`: tar shards that the `webdataset` package (and plain `tarfile`) read as they are.

    DIR/shard-00000.tar     <id>.png (or .jpg, .webp, ... by the image's bytes) and <id>.json per sample

A sample's key is its id; its image is `<id>.<ext>`, a document's images `<id>.<i>.<ext>` in order
(`webdataset` decodes by the last extension), and `<id>.json` holds every other column (`meta` as an
object, NaN scores as null; a document's `images` lists its members' extensions, e.g. "0.png"). Members
carry fixed owner and time, so the same build exports to the same bytes.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

from pipelines.export.common import Format, clear, dumps, image_ext, meta_of, replace
from pipelines.schema import DOCUMENT_KIND


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


class WebDataset(Format):
    name = "webdataset"

    def begin(self, k: int) -> None:
        self.final = self.root / f"shard-{k:05d}.tar"
        self.tmp = self.final.with_name(self.final.name + ".tmp")
        clear(self.tmp)
        self.tar = tarfile.open(self.tmp, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115 (end() closes it)
        self.images = self.image_bytes = 0

    def add(self, row: dict[str, Any]) -> None:
        key = row["id"]
        fields = {k: v for k, v in row.items() if k not in ("image", "images")}
        fields["meta"] = meta_of(row)
        image = row.get("image")
        if image and image.get("bytes"):
            ext = image_ext(image["bytes"])
            _member(self.tar, f"{key}.{ext}", image["bytes"])
            fields["image"] = ext
            self._count(image["bytes"])
        if row.get("kind") == DOCUMENT_KIND or row.get("images"):
            names = []
            for i, im in enumerate(row.get("images") or []):
                ext = f"{i}.{image_ext(im['bytes'])}"
                _member(self.tar, f"{key}.{ext}", im["bytes"])
                names.append(ext)
                self._count(im["bytes"])
            fields["images"] = names
        _member(self.tar, f"{key}.json", dumps(fields).encode())

    def _count(self, data: bytes) -> None:
        self.images += 1
        self.image_bytes += len(data)

    def end(self) -> dict[str, Any]:
        self.tar.close()
        return {"name": self.final.name, "images": self.images, "bytes": replace(self.tmp, self.final)}

    def finish(self, shards: list[dict[str, Any]]) -> list[str]:
        n = len(shards)
        return [shards[0]["name"] if n == 1 else f"shard-{{00000..{n - 1:05d}}}.tar"]
