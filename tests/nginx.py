"""Debian's nginx for the tests, serving the repository's own ``deploy/nginx.conf`` with
the replicas' ports put in for 8501 and 8502 and a free port for 80. One process
(``master_process off``) on 127.0.0.1, its files in a temporary folder, dying with the
process that started it (``PR_SET_PDEATHSIG``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import dies_with_parent, free_port

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "deploy" / "nginx.conf"
NGINX = "/usr/sbin/nginx"


def site_for(first: int, second: int, listen: int) -> str:
    """The repository's site with the test's ports in place of the documented ones."""
    text = SITE.read_text()
    assert "8501" in text and "8502" in text and "listen 80;" in text
    text = text.replace("8501", "@FIRST@").replace("8502", "@SECOND@")
    text = text.replace("@FIRST@", str(first)).replace("@SECOND@", str(second))
    return text.replace("listen 80;", f"listen 127.0.0.1:{listen};")


@contextlib.contextmanager
def nginx_proxy(first: int, second: int) -> Iterator[str]:
    """nginx in front of replicas on ``first`` and ``second``; yields its URL."""
    if not Path(NGINX).exists():
        pytest.fail("This test needs Debian's nginx: apt-get install nginx")
    root = Path(tempfile.mkdtemp(prefix="voicelab-nginx-"))
    port = free_port()
    (root / "voicelab.conf").write_text(site_for(first, second, port))
    user = "user root root;" if os.getuid() == 0 else ""
    temps = "".join(
        f"{kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi")
    ) + "".join(f"{kind}_temp_path {root / kind};" for kind in ("uwsgi", "scgi"))
    (root / "nginx.conf").write_text(
        f"{user}\ndaemon off;\nmaster_process off;\npid {root / 'nginx.pid'};\n"
        f"error_log {root / 'error.log'} warn;\nevents {{ worker_connections 512; }}\n"
        f"http {{\n  access_log {root / 'access.log'};\n  {temps}\n"
        f"  include {root / 'voicelab.conf'};\n}}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=dies_with_parent,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/_stcore/health", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    error = proc.stderr.read().decode() if proc.stderr else ""
                    raise AssertionError(f"nginx did not start: {error[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
