"""What a task may declare as its packages: names, versions, extras and markers, nothing else.

    packages = parse_requirements(text, source="requirements.txt")   # list[Requirement]
    normalised(packages)   # 'numpy>=1.20\\nscikit-learn[alldeps]==1.2; python_version >= "3.8"\\n'

A requirements file is pip's own little language: it can name URLs and local folders (which
pip *builds*, running their setup.py, even with ``--only-binary=:all:``), VCS links, other
files (``-r``), indexes (``--index-url``) and ``${VARIABLES}`` that pip expands from its own
environment. None of that may come from a task. Each line is parsed with ``packaging``'s
``Requirement`` and only its name, extras, specifier and marker travel on; the host's pip is
handed the list built from those parsed objects, never the task's text.

A refusal names the file, the line's number and text, and what to write instead.
"""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement

from sandbox.errors import InvalidInput

MAX_LINES = 1000
MAX_LINE_CHARS = 400
EXAMPLE = 'numpy>=1.20  or  scikit-learn[alldeps]==1.2; python_version >= "3.8"'
_COMMENT = re.compile(r"(?:^|\s)#.*$")  # pip's rule: '#' at the start or after whitespace
# pip reads a requirement whose name ends like an archive as a file in its working folder.
_ARCHIVE = (".zip", ".whl", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz",
            ".tar.lzma")
_LOCATION = re.compile(r"^(?:\.|/|~|[a-zA-Z]:[\\/])|^(?:file|git|hg|svn|bzr)[+:]|://", re.IGNORECASE)


class InvalidRequirements(InvalidInput):
    """A task's requirements hold something other than package names, versions and markers."""

    code = "invalid_requirements"


def parse_requirements(text: str, *, source: str = "requirements.txt") -> list[Requirement]:
    """Each package line of ``text`` parsed; comments and blank lines are skipped.

    Raises InvalidRequirements naming the first line that is not a distribution name with
    optional extras, version specifier and marker (a URL, a path, a VCS link, an option,
    a ``${VARIABLE}``, arbitrary equality ``===``).
    """
    lines = text.removeprefix("\ufeff").splitlines()
    if len(lines) > MAX_LINES:
        raise InvalidRequirements(f"{source} has {len(lines)} lines; at most {MAX_LINES} are accepted")
    packages = []
    for number, raw in enumerate(lines, start=1):
        line = _COMMENT.sub("", raw).strip()
        if line:
            packages.append(_parse_line(line, raw, where=f"{source} line {number} ({_shown(raw)})"))
    if not packages:
        raise InvalidRequirements(f"{source} lists no package; list one per line, e.g. {EXAMPLE}, "
                                  "or remove the file")
    return packages


def normalised(packages: list[Requirement]) -> str:
    """One requirement a line, as ``name[extras]specifier; marker``, sorted and without repeats."""
    return "\n".join(sorted({str(package) for package in packages})) + "\n"


def normalise_text(text: str, *, source: str = "requirements.txt") -> str:
    """``text`` parsed and normalised (see :func:`parse_requirements` and :func:`normalised`)."""
    return normalised(parse_requirements(text, source=source))


def _parse_line(line: str, raw: str, *, where: str) -> Requirement:
    if len(raw) > MAX_LINE_CHARS:
        raise InvalidRequirements(f"{where}: the line is longer than {MAX_LINE_CHARS} characters; "
                                  f"write a package name and version, e.g. {EXAMPLE}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw if ch != "\t"):
        raise InvalidRequirements(f"{where}: control characters are not allowed; write plain text such as {EXAMPLE}")
    if "${" in raw or "$(" in raw:
        raise InvalidRequirements(f"{where}: variables such as ${{NAME}} are not expanded here and not allowed; "
                                  "write the package name and version themselves")
    if line.startswith("-"):
        raise InvalidRequirements(f"{where}: pip options (-r, -c, -e, --index-url, --find-links, ...) are not "
                                  "allowed: the server's own pip configuration chooses where packages come "
                                  f"from. List one package per line, e.g. {EXAMPLE}")
    if line.endswith("\\"):
        raise InvalidRequirements(f"{where}: a line may not continue on the next one; write each package "
                                  "on one line")
    if _LOCATION.search(line):
        raise _not_by_name(where, line)
    try:
        package = Requirement(line)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise InvalidRequirements(f"{where} is not a package requirement ({reason}); write a distribution "
                                  f"name with optional extras, version and marker, e.g. {EXAMPLE}") from exc
    if package.url is not None or package.name.lower().endswith(_ARCHIVE):
        raise _not_by_name(where, line)
    if any(spec.operator == "===" for spec in package.specifier):
        raise InvalidRequirements(f"{where}: arbitrary equality (===) is not allowed; pin a version with "
                                  f"{package.name}==VERSION")
    return package


def _not_by_name(where: str, line: str) -> InvalidRequirements:
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line.split("@", 1)[0].strip())
    fix = f"{name.group(0)}==VERSION" if name and "@" in line else "NAME==VERSION"
    return InvalidRequirements(
        f"{where}: URLs, local paths, file: and VCS links are not allowed; packages come from the "
        f"server's package index by name. Write {fix} (publish a local package to an index, or copy its "
        "code into the task folder)"
    )


def _shown(raw: str) -> str:
    text = raw.strip()
    return repr(text if len(text) <= 120 else text[:117] + "...")
