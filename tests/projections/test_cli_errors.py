"""The CLI answers a user's mistake with one readable line and a non-zero exit, never a traceback
(issue 21, finding 8): an export to a missing folder or a full disk, a too deeply nested import
file, a malformed CIPHER_KEY."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def plads(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "replay.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def one_line(result, *expected: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plads: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_user_errors_are_one_line(store, tmp_path):
    store.ledger().close()  # the ledger exists (exporting one that does not is an error of its own)
    missing = tmp_path / "no-such-folder" / "occupancy.csv"
    one_line(plads("export", "occupancy", "-d", store.url, "-o", str(missing), cwd=tmp_path),
             "No such file or directory")
    if os.path.exists("/dev/full"):
        one_line(plads("export", "occupancy", "-d", store.url, "-o", "/dev/full", cwd=tmp_path), "No space left")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    one_line(plads("import", str(deep), "-d", store.url, cwd=tmp_path), "nested too deeply")


@pytest.mark.parametrize("key", ["not base64!", "QUJD", ""])
def test_a_malformed_cipher_key_is_one_line(store, tmp_path, key):
    result = plads("export", "occupancy", "-d", store.url, "-o", str(tmp_path / "o.csv"), cwd=tmp_path,
                   env={"CIPHER_KEY": key or "=" * 44})
    line = one_line(result, "CIPHER_KEY")
    assert (key or "=" * 44) not in line  # the key itself is not echoed
