"""No secret-looking value in the repository: every file git would commit is scanned.

The platform's secrets (SMTP login, the PII hash key, the sign-in passwords, Streamlit's OIDC
settings) come from the environment or from ``.streamlit/secrets.toml``, both outside git. The
repository holds only the empty examples ``deploy/secrets.example.env`` and
``.streamlit/secrets.example.toml``.

What the scan flags (:data:`PATTERNS`): PEM private keys, AWS access key ids, GitHub and Slack
tokens, JWTs, and assignments of a secret-named key (``password``, ``client_secret``,
``cookie_secret``, ``OMS_*_PASSWORD``, ``OMS_PII_KEY``, ...) to a non-empty literal that is not
a placeholder (``...``, ``<value>``, ``${VAR}``, ``{{ var }}``, ``changeme``). A file that must
hold a fake secret (a test's credentials for a local server) is listed in :data:`ALLOWED` with
the reason; nothing else is exempt, and an entry that no longer matches anything fails too.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = "deploy/secrets.example.env"
STREAMLIT_EXAMPLE = ".streamlit/secrets.example.toml"
#: The variables the environment example must name (and leave empty).
SECRET_VARIABLES = (
    "OMS_SMTP_USERNAME",
    "OMS_SMTP_PASSWORD",
    "OMS_PII_KEY",
    "OMS_OPS_PASSWORD",
    "OMS_ANALYST_PASSWORD",
)
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")

#: Files never scanned: the lock file (hashes by the thousand, no settings).
SKIPPED = frozenset({"uv.lock"})

#: Files allowed to hold secret-looking values: path -> why. Keep it short and specific.
ALLOWED: dict[str, str] = {
    "tests/unit/test_mailer.py": (
        "fake SMTP credentials ('s3cret', 'wrong') given in a dict to a local aiosmtpd server "
        "the test starts itself; they log in nowhere else"
    ),
}

# --- the scanner ---------------------------------------------------------------------------

#: Key names whose value is a secret. ``OMS_*`` names are matched whole; the generic ones also
#: as the end of a longer name (``smtp_password``, ``client_secret``, ``github_token``).
_SECRET_KEY = (
    r"(?:OMS_[A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN)|OMS_PII_KEY"
    r"|[A-Za-z0-9_.-]*(?i:password|passwd|passphrase|secret|api_?key|access_?key"
    r"|private_?key|auth_?token|access_?token|refresh_?token|bearer_?token))"
)
#: ``key = "v"``, ``key: "v"``, ``"key": "v"``, ``key="v"`` (a call), ``key: str = "v"``.
_SEPARATOR = r"""["']?\s*(?::\s*[A-Za-z_][\w\[\]|., ]*?\s*=(?!=)|:(?!:)|=(?!=))\s*"""
_QUOTED = re.compile(
    rf"""(?<![A-Za-z0-9_])(?P<key>{_SECRET_KEY}){_SEPARATOR}[rbu]?(?P<q>["'])(?P<value>[^"'\n]*)(?P=q)"""
)
#: Unquoted values (``KEY=value`` in .env, ``key: value`` in YAML): only outside source code,
#: where an unquoted value is an expression (``password = environ.get(...)``), not a literal.
_BARE = re.compile(
    rf"""(?<![A-Za-z0-9_])(?P<key>{_SECRET_KEY})["']?\s*(?::|=)[ \t]*(?P<value>[^\s"'#,;]+)"""
)
_CODE_SUFFIXES = frozenset({".py", ".sql", ".js", ".ts", ".jinja", ".html"})

#: Values that stand for "fill this in" rather than being one.
_PLACEHOLDER = re.compile(
    r"""^(?:
        \.\.\.|…|\*+|x+|X+|-+                 # ..., ***, xxx
      | <[^<>]*>                             # <password>
      | \$\{?[A-Za-z_][A-Za-z0-9_]*\}?       # $VAR, ${VAR}: an environment lookup
      | \$\{\{.*\}\}|\{\{.*\}\}              # ${{ secrets.X }}, {{ var }}
      | (?i:changeme|change-me|replace-me|replace_me|todo)
    )$""",
    re.VERBOSE,
)

#: (name, pattern) of values that are secrets wherever they appear.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("Slack token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}")),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.text.strip()[:120]}"


#: An unquoted value that is code (a call, an index, an environment or secrets lookup), as in
#: a snippet in the docs: ``password = os.environ["OMS_OPS_PASSWORD"]``.
_EXPRESSION = re.compile(r"[(\[]|^(?:os\.)?(?:environ|getenv)\b|^st\.secrets\b")


def _is_expression(value: str) -> bool:
    return bool(_EXPRESSION.search(value))


def _is_placeholder(value: str) -> bool:
    return not value.strip() or bool(_PLACEHOLDER.match(value.strip()))


def scan_text(path: str, text: str) -> list[Hit]:
    """Every secret-looking value in ``text`` (the contents of ``path``), line by line."""
    hits: list[Hit] = []
    bare_values = Path(path).suffix.lower() not in _CODE_SUFFIXES
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS:
            if pattern.search(line):
                hits.append(Hit(path, number, kind, line))
        found = False
        for match in _QUOTED.finditer(line):
            if not _is_placeholder(match["value"]):
                hits.append(Hit(path, number, f"{match['key']} assigned a literal", line))
                found = True
        if bare_values and not found:
            for match in _BARE.finditer(line):
                if not _is_placeholder(match["value"]) and not _is_expression(match["value"]):
                    hits.append(Hit(path, number, f"{match['key']} assigned a literal", line))
    return hits


def read_text(path: Path) -> str | None:
    """The file as text, or None for a binary file (a NUL byte, or not UTF-8)."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def committable_files(root: Path = REPO_ROOT) -> list[str]:
    """What git tracks plus what ``git add .`` would add (untracked, not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    return sorted({name for name in out.split("\0") if name and (root / name).is_file()})


def scan_repository(root: Path = REPO_ROOT) -> list[Hit]:
    hits: list[Hit] = []
    for name in committable_files(root):
        if name in SKIPPED:
            continue
        text = read_text(root / name)
        if text is not None:
            hits += scan_text(name, text)
    return hits


# --- the repository ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repository_hits() -> list[Hit]:
    return scan_repository()


def test_no_secret_looking_value_is_committed(repository_hits):
    found = [str(hit) for hit in repository_hits if hit.path not in ALLOWED]
    assert not found, "secret-looking values (use the environment instead):\n" + "\n".join(found)


def test_every_allow_list_entry_is_still_needed(repository_hits):
    assert all(reason.strip() for reason in ALLOWED.values())
    flagged = {hit.path for hit in repository_hits}
    assert not set(ALLOWED) - flagged, "allow-listed files without a hit: remove them"


def test_the_scan_covers_the_repository():
    files = committable_files()
    assert "pyproject.toml" in files and "pipelines/lib/mailer.py" in files
    assert ENV_EXAMPLE in files and STREAMLIT_EXAMPLE in files


def test_the_example_files_name_every_secret_with_empty_values():
    env = (REPO_ROOT / ENV_EXAMPLE).read_text(encoding="utf-8")
    assignments = dict(
        line.split("=", 1) for line in env.splitlines() if line and not line.startswith("#")
    )
    assert set(assignments) == set(SECRET_VARIABLES)
    assert all(value == "" for value in assignments.values()), assignments
    lines = env.splitlines()
    for name in SECRET_VARIABLES:  # a comment right above each: what it is for, never commit
        comment = lines[lines.index(f"{name}=") - 1]
        assert comment.startswith("# ") and "never commit" in comment, name

    secrets = tomllib.loads((REPO_ROOT / STREAMLIT_EXAMPLE).read_text(encoding="utf-8"))
    assert set(secrets) == {"auth", "roles"}
    assert set(secrets["auth"]) == set(AUTH_KEYS)
    assert all(value == "" for value in secrets["auth"].values()), secrets["auth"]
    assert secrets["roles"] == {"ops": [], "analyst": []}


def test_filled_copies_of_the_examples_are_ignored_by_git():
    def ignored(path: str) -> bool:
        check = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT, check=False)
        return check.returncode == 0

    for path in (".env", ".env.production", "deploy/prod.env", ".streamlit/secrets.toml"):
        assert ignored(path), path
    for path in (ENV_EXAMPLE, STREAMLIT_EXAMPLE):
        assert not ignored(path), path


# --- the scanner itself --------------------------------------------------------------------
# The planted values are put together at run time so that this file holds none of them.


def _j(*parts: str) -> str:
    return "".join(parts)


PLANTED = {
    "PEM private key": _j("-----BEGIN ", "RSA PRIVATE", " KEY-----"),
    "OpenSSH private key": _j("-----BEGIN ", "OPENSSH PRIVATE", " KEY-----"),
    "AWS access key id": _j("aws_id = ", "AKIA", "Q3EGRYEXAMPLEKEY"),
    "GitHub token": _j("token ", "ghp_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    "Slack token": _j("hook ", "xox", "b-1234567890-abcdefghijkl"),
    "JWT": _j(
        "Authorization: Bearer ",
        "eyJ",
        "hbGciOiJIUzI1NiJ9.",
        "eyJ",
        "zdWIiOiIxIn0.",
        "s5A-aBcDeFgH",
    ),
    "python password": _j("pass", 'word = "correct-horse"'),
    "python keyword": _j("connect(host='db', pass", "word='Tr0ub4dor&3')"),
    "annotated": _j("pass", 'word: str = "hunter2"'),
    "dict entry": _j('{"client_', "secret", '": "abc123"}'),
    "yaml": _j("client_", "secret: d4f0e2a9b7"),
    "toml cookie": _j("cookie_", "secret", ' = "9f86d081884c7d659a2feaa0c55ad015"'),
    "env cookie": _j("cookie_", "secret=9f86d081884c7d659a2feaa0c55ad015"),
    "env smtp": _j("OMS_SMTP_", "PASSWORD=hunter2"),
    "env ops": _j("OMS_OPS_", "PASSWORD=letmein"),
    "env analyst": _j("export OMS_ANALYST_", "PASSWORD", '="s3cret!"'),
    "env pii": _j("OMS_PII_", "KEY=0123456789abcdef"),
    "api key": _j("stripe_api_", 'key = "sk_live_abc"'),
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
@pytest.mark.parametrize("suffix", [".env", ".yaml", ".toml", ".md"])
def test_planted_secrets_are_flagged(tmp_path, kind, suffix):
    path = tmp_path / f"planted{suffix}"
    path.write_text(f"first line\n  {PLANTED[kind]}\nlast line\n", encoding="utf-8")
    hits = scan_text(path.name, read_text(path) or "")
    assert hits and {hit.line for hit in hits} == {2}, hits


@pytest.mark.parametrize(
    "line",
    [
        _j("pass", 'word = "correct-horse"'),
        _j("db = connect(pass", 'word="hunter2")'),
        _j('{"OMS_SMTP_', "PASSWORD", '": "wrong"}'),
    ],
)
def test_planted_secrets_in_python_are_flagged(tmp_path, line):
    path = tmp_path / "planted.py"
    path.write_text(f"import os\n{line}\n", encoding="utf-8")
    assert [hit.line for hit in scan_text("planted.py", read_text(path) or "")] == [2]


@pytest.mark.parametrize(
    "line",
    [
        _j("pass", "word = os.environ['OMS_OPS_PASSWORD']"),
        _j("pass", "word = environ.get(settings.password_env) or ''"),
        _j("pass", 'word_env = "OMS_SMTP_PASSWORD"'),
        _j("cookie_", 'secret = ""'),
        _j("OMS_PII_", "KEY="),
        _j("OMS_SMTP_", "PASSWORD=${OMS_SMTP_PASSWORD}"),
        _j("client_", 'secret = "<from the provider>"'),
        _j("pass", 'word: "..."'),
        _j("_SECRET_", 'KEYS = frozenset({"password", "secret"})'),
        "the password is read from the environment, never from this file",
    ],
)
def test_lookups_names_and_placeholders_are_not_flagged(line):
    for name in ("x.py", "x.env", "x.toml", "x.md"):
        assert not scan_text(name, f"{line}\n"), (name, line)


def test_the_example_files_are_not_flagged_but_filled_copies_are():
    for name in (ENV_EXAMPLE, STREAMLIT_EXAMPLE):
        text = (REPO_ROOT / name).read_text(encoding="utf-8")
        assert not scan_text(name, text), name
    env = (REPO_ROOT / ENV_EXAMPLE).read_text(encoding="utf-8")
    filled = re.sub(r"^(OMS_\w+)=$", r"\1=not-empty-42", env, flags=re.MULTILINE)
    flagged = {hit.text.split("=")[0] for hit in scan_text(ENV_EXAMPLE, filled)}
    secrets = {"OMS_SMTP_PASSWORD", "OMS_PII_KEY", "OMS_OPS_PASSWORD", "OMS_ANALYST_PASSWORD"}
    assert flagged == secrets  # the SMTP user name alone is not a secret
    toml = (REPO_ROOT / STREAMLIT_EXAMPLE).read_text(encoding="utf-8")
    filled = re.sub(r'^(\w+) = ""$', r'\1 = "not-empty-42"', toml, flags=re.MULTILINE)
    flagged = {hit.text.split(" = ")[0] for hit in scan_text(STREAMLIT_EXAMPLE, filled)}
    assert flagged == {"cookie_secret", "client_secret"}


def test_binary_files_are_skipped(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + _j("pass", 'word = "x1"').encode())
    assert read_text(path) is None
