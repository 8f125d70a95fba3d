"""A full disk, for real: a small tmpfs mounted as the output folder fills up mid-run; the build stops with one
line naming the folder (exit 3), the commit journal stays whole, and once the tmpfs is made larger the same
command resumes to exactly the samples of an uninterrupted run. Needs root (mount); skipped otherwise."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from pipelines import journal
from pipelines.disk import EXIT_NO_SPACE
from pipelines.shards import JOURNAL, MANIFEST, PARTS
from tests.test_cli import cli, contents, finish


def _mount(folder: Path, size_kb: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {proc.stderr.strip()}")


def _resize(folder: Path, size_kb: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(folder)], check=True)


@pytest.fixture
def tmpfs(tmp_path):
    """A mount point for a tmpfs the test mounts (and resizes); always unmounted at the end."""
    folder = tmp_path / "small"
    yield folder
    if os.path.ismount(folder):
        subprocess.run(["umount", str(folder)], check=False)


def test_a_journal_append_that_finds_the_disk_full_leaves_only_whole_records(tmpfs):
    _mount(tmpfs, 64)
    path = tmpfs / JOURNAL
    with path.open("ab") as f:
        journal.append(f, {"n": 0, "pad": "a" * 100})
    filler = tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError) as full:
        while True:
            os.write(fd, b"x" * 4096)
    os.close(fd)
    assert full.value.errno == errno.ENOSPC
    size = path.stat().st_size
    with path.open("ab") as f, pytest.raises(OSError) as failed:
        journal.append(f, {"n": 1, "pad": "b" * 20000})  # more than the page the file already has
    assert failed.value.errno == errno.ENOSPC
    assert path.stat().st_size == size  # what the failed append wrote is taken back
    filler.unlink()
    with path.open("ab") as f:
        journal.append(f, {"n": 1, "pad": "c"})
    assert [r["n"] for r in journal.read(path)] == [0, 1]


@pytest.mark.slow
def test_a_build_into_a_folder_that_fills_up_stops_with_one_line_and_resumes_exactly(tmpfs, tmp_path):
    # Small shards make many commits, so the tmpfs fills after some of them: the resume has work on both sides.
    args = ["--source", "pdf", "--ocr", "none", "--no-report", "--shard-rows", "3"]
    code, out = finish(cli(*args, "--out", str(tmp_path / "clean")))
    assert code == 0, out
    clean = contents(tmp_path / "clean")
    used = sum(f.stat().st_size for f in (tmp_path / "clean").rglob("*") if f.is_file())

    _mount(tmpfs, used * 2 // 3 // 1024)  # room for about two thirds of the output
    out_dir = tmpfs / "out"
    code, out = finish(cli(*args, "--out", str(out_dir)))
    last = out.strip().splitlines()[-1]
    assert code == EXIT_NO_SPACE, out
    assert re.fullmatch(rf"error: no space left on device in {re.escape(str(out_dir.resolve()))} \(needs (about|more "
                        r"than) [0-9.]+ MB( more| free)\); free space and rerun the same command to resume", last), last
    assert "Traceback" not in out
    # The journal holds whole records only, each naming parts that exist; the run is not marked complete.
    lines = (out_dir / JOURNAL).read_bytes().splitlines(keepends=True)
    assert lines and all(line.endswith(b"\n") for line in lines)
    commits = [json.loads(line) for line in lines]
    assert [c["n"] for c in commits] == list(range(len(commits)))
    for c in commits:
        for kind, name in c["files"].items():
            assert (out_dir / PARTS[kind] / name).is_file()
    assert json.loads((out_dir / MANIFEST).read_text()).get("complete") is not True
    rows: dict[str, list[int]] = {}
    for c in commits:
        for unit, (n, total) in c["units"].items():
            rows.setdefault(unit, [0, total])[0] += n
    done = sum(1 for n, total in rows.values() if n >= total)

    _resize(tmpfs, 64 * 1024)
    code, out = finish(cli(*args, "--out", str(out_dir)))
    assert code == 0, out
    assert done == 0 or f"{done} of 3 units already done" in out
    assert contents(out_dir) == clean and len(clean) >= 15
