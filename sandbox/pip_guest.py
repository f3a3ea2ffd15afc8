"""The host's pip as a guest: it fetches a task's wheels holding nothing worth taking.

    with PipGuest.open() as guest:
        done = guest.pip(["download", "--dest", str(guest.wheels), ...])
        reason = guest.scrub(done.stderr)

pip runs on the host (the experiment itself never has network), so it must not run with the
service's privileges or secrets, however little a task can now say to it (names, versions and
markers only: see :mod:`sandbox.requirements`):

- **its own folder**: a fresh temporary folder holds its working folder (empty), its home,
  its configuration and the wheels it downloads; nothing of the service's working folder;
- **a scrubbed environment**: ``PATH``, the proxy and CA-bundle variables and pip's own
  index settings (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ...) only: no API token, no
  ``LABLOOP_*`` setting, no ``PYTHONPATH``;
- **the host's index configuration kept**: the settings that say where packages come from
  (index URLs, find-links, trusted hosts, certificates, proxy, timeouts) are read from the
  service user's pip configuration, wherever it lives, and handed over in the guest's own
  ``pip.conf``; the machine-wide files (``/etc/pip.conf``, ...) it reads itself;
- **another uid**: when the service runs as root, pip runs as ``nobody`` (65534), no
  supplementary groups. When the service's Python lies where that user cannot reach it (say
  under ``/root``), the first ``python3`` on ``PATH`` it can run, with pip, is used instead;
  with none, the fetch is refused rather than run as root.

What pip says is shown to users through :meth:`PipGuest.scrub`: the guest's folder and every
other absolute host path are taken out.
"""

from __future__ import annotations

import ast
import configparser
import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import SandboxError

GUEST_UID = 65534  # nobody
GUEST_GID = 65534  # nogroup
PASSED_VARIABLES = frozenset({
    "PATH",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST",
    "PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_TIMEOUT", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES",
    "PIP_DISABLE_PIP_VERSION_CHECK",
})
"""What the guest is given of the service's environment (besides its own HOME and PIP_CONFIG_FILE)."""
INDEX_SETTINGS = frozenset({
    "index-url", "extra-index-url", "find-links", "no-index", "trusted-host", "cert", "client-cert",
    "proxy", "timeout", "default-timeout", "retries", "disable-pip-version-check",
})
"""The keys of the service user's pip configuration handed to the guest (sections global and download)."""
_SECTIONS = ("global", "download")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/[^\s'\"(),;]+")
_FILE_URL = re.compile(r"\bfile:[^\s'\"(),;]+", re.IGNORECASE)
_WHEEL_NAME = re.compile(r"[A-Za-z0-9_.+!-]+\.whl")
_PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class GuestCall:
    """How one guest command is started: what runs, as whom, where and with which environment."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    uid: int | None  # None: as the service's own user (it is not root, so it cannot switch)


class PipGuest:
    """A temporary folder owned by the guest, and the commands pip runs in it."""

    def __init__(self, root: Path, env: dict[str, str], uid: int | None) -> None:
        self.root = root
        self.work = root / "work"
        self.wheels = root / "wheels"
        self.env = env
        self.uid = uid

    @classmethod
    @contextmanager
    def open(cls, host_env: Mapping[str, str] | None = None) -> Iterator[PipGuest]:
        """A guest with a fresh folder (removed afterwards) and the environment it gets from
        ``host_env`` (default: this process's)."""
        uid = GUEST_UID if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="labloop-pip-"))
        try:
            for folder in ("work", "home", "wheels"):
                (root / folder).mkdir()
            config = root / "pip.conf"
            config.write_text(host_index_config())
            env = guest_environment(os.environ if host_env is None else host_env, home=root / "home", config=config)
            if uid is not None:
                for path in (root, *root.iterdir()):
                    os.chown(path, uid, GUEST_GID)
            yield cls(root, env, uid)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def call(self, args: list[str]) -> GuestCall:
        """How ``python -m pip ARGS`` is started for this guest."""
        python = guest_python(self.uid, self.env.get("PATH", ""))
        return GuestCall([python, "-I", "-m", "pip", *args], dict(self.env), self.work, self.uid)

    def pip(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``pip ARGS`` as the guest; SandboxError when it does not finish within ``timeout``."""
        return self.run(self.call(args), timeout=timeout)

    def run(self, call: GuestCall, *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Start ``call`` (as the guest's uid when there is one) and wait for it."""
        try:
            return _spawn(call, timeout)
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"pip did not finish within {timeout:.0f} s; is the package index reachable?") from exc

    def collect_wheels(self, dest: Path) -> list[str]:
        """Copy the wheels the guest downloaded (regular files with a wheel's name only) into ``dest``."""
        names = []
        for entry in os.scandir(self.wheels):
            if entry.is_file(follow_symlinks=False) and _WHEEL_NAME.fullmatch(entry.name):
                shutil.copyfile(entry.path, dest / entry.name, follow_symlinks=False)
                names.append(entry.name)
        return sorted(names)

    def scrub(self, text: str) -> str:
        """``text`` (pip's output) without the guest's folder or any other absolute host path."""
        text = text.replace(f"{self.wheels}/", "").replace(f"{self.root}/", "").replace(str(self.root), ".")
        return _ABSOLUTE_PATH.sub("<path>", _FILE_URL.sub("<path>", text))


def guest_environment(host_env: Mapping[str, str], *, home: Path, config: Path) -> dict[str, str]:
    """The guest's environment: the passed variables of ``host_env``, its own home and pip.conf."""
    env = {name: value for name, value in host_env.items() if name in PASSED_VARIABLES}
    env.setdefault("PATH", os.defpath)
    env.update({"HOME": str(home), "PIP_CONFIG_FILE": str(config)})
    return env


def host_index_config() -> str:
    """The index settings of the service user's pip configuration, as a pip.conf for the guest.

    The service's own pip is asked (``pip config list``), so whichever file the host keeps them
    in (user, global, site or ``PIP_CONFIG_FILE``) counts; a user file under a home the guest
    cannot read reaches it this way.
    """
    done = subprocess.run([sys.executable, "-I", "-m", "pip", "config", "list"], capture_output=True,
                          text=True, timeout=_PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    parser = configparser.ConfigParser(interpolation=None)
    for line in done.stdout.splitlines():
        key, sep, raw = line.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot) or section not in _SECTIONS or name not in INDEX_SETTINGS:
            continue  # ':env:' lines are the variables, passed (or not) on their own
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue
        if not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, name, str(value))
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


@functools.cache
def guest_python(uid: int | None, path: str) -> str:
    """An interpreter with pip that ``uid`` can run: this process's own, else a ``python3`` on ``path``."""
    if uid is None:
        return sys.executable
    candidates = [sys.executable]
    for folder in path.split(os.pathsep):
        for name in (f"python{sys.version_info[0]}.{sys.version_info[1]}", "python3"):
            found = Path(folder) / name
            if folder and found.is_file() and str(found) not in candidates:
                candidates.append(str(found))
    with tempfile.TemporaryDirectory(prefix="labloop-pip-probe-") as probe:
        os.chmod(probe, 0o755)
        for candidate in candidates:
            call = GuestCall([candidate, "-I", "-m", "pip", "--version"], {"PATH": path or os.defpath}, Path(probe), uid)
            try:
                if _spawn(call, _PROBE_TIMEOUT_S).returncode == 0:
                    return candidate
            except (OSError, subprocess.SubprocessError):
                continue
    raise SandboxError(
        f"the pip guest (uid {uid}) can run no Python with pip: let other users reach the service's Python "
        f"({sys.executable}: every folder above it needs o+x) or install python3 with pip on PATH"
    )


def _spawn(call: GuestCall, timeout: float) -> subprocess.CompletedProcess[str]:
    switch = {} if call.uid is None else {"user": call.uid, "group": GUEST_GID, "extra_groups": []}
    return subprocess.run(call.argv, cwd=call.cwd, env=call.env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, umask=0o022, **switch)  # type: ignore[call-overload]
