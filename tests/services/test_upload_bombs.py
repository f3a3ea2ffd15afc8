"""Hostile task uploads are refused before they can exhaust the server's memory.

Each bomb is built and refused in a fresh Python process that reports its peak RSS before and
after the refusal, so the measurement is of ``read_tarball`` alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024

BOMB = textwrap.dedent("""
    import json, resource, sys, zlib
    from services.tasks import read_tarball

    def header(kind, size):
        block = bytearray(512)
        block[0:4] = b"bomb"
        block[100:108] = b"0000644\\0"
        block[124:136] = b"%011o\\0" % size
        block[156:157] = kind
        block[257:263] = b"ustar\\0"
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\\0 " % sum(block)
        return bytes(block)

    def bomb(kind, size):
        deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        parts = [deflate.compress(header(kind, size))]
        chunk = b"a" * (1 << 20)
        for _ in range(size >> 20):
            parts.append(deflate.compress(chunk))
        parts.append(deflate.flush())
        return b"".join(parts)

    kind, size, limit = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3])
    data = bomb(kind, size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        read_tarball(data, max_bytes=limit)
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"compressed": len(data), "growth_kb": after - before, "error": error}))
""")


def _refuse(kind: str, size: int, limit: int = 20 * MB) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", BOMB, kind, str(size), str(limit)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(("kind", "what"), [("x", "a PAX header"), ("L", "a long name")])
def test_a_metadata_bomb_is_refused_within_100_mb(kind: str, what: str) -> None:
    result = _refuse(kind, 400 * MB)  # a ~400 KB tar.gz whose header claims 400 MB

    assert int(str(result["compressed"])) < 1 * MB
    assert result["error"] == (
        f"InvalidInput: the tarball has {what} of {400 * MB} bytes; at most 65536 are accepted "
        "(make the archive with plain `tar czf`)"
    )
    assert int(str(result["growth_kb"])) < 100 * 1024


def test_a_bomb_at_the_size_limit_is_refused_within_100_mb() -> None:
    # A regular member of 2 GB of one byte: 2 MB compressed, here the upload limit.
    result = _refuse("0", 2 * 1024 * MB, limit=2 * MB)

    assert 1.9 * MB <= int(str(result["compressed"])) <= 2.1 * MB
    assert str(result["error"]).startswith("InvalidInput: the upload expands to more than")
    assert int(str(result["growth_kb"])) < 100 * 1024


def test_an_ordinary_archive_still_reads(tmp_path: Path) -> None:
    import tarfile

    from services.tasks import read_tarball

    folder = tmp_path / "digits"
    folder.mkdir()
    (folder / "task.yaml").write_text("name: digits\n")
    (folder / ("long-" + "n" * 150 + ".py")).write_text("print(1)\n")  # a PAX/GNU long name
    archive = tmp_path / "t.tgz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.add(folder, arcname="digits")

    files = read_tarball(archive.read_bytes(), max_bytes=MB)

    assert sorted(files) == ["long-" + "n" * 150 + ".py", "task.yaml"]
