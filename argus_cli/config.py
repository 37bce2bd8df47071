"""Where the CLI finds the server: options, then ARGUS_URL / ARGUS_TOKEN, then the file `login` wrote.

The file holds a bearer token, so it is written atomically with mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from argus_cli.errors import CliError, UsageError

CONFIG_PATH_ENV = "ARGUS_PLUGIN_CONFIG"
URL_ENV = "ARGUS_URL"
TOKEN_ENV = "ARGUS_TOKEN"  # noqa: S105 - the name of a variable, not a secret


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_PATH_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "argus-plugin" / "config.json"


def normalize_url(url: str) -> str:
    """The GraphQL endpoint with its trailing slash: a POST to `/graphql` must not meet a redirect.

    `https://argus.example` means the platform's endpoint `https://argus.example/graphql/`.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"the URL must be http(s)://HOST[:PORT][/graphql/], got {url!r}.")
    path = parts.path or "/graphql/"
    if path == "/":
        path = "/graphql/"
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def is_insecure_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


def load() -> dict[str, Any]:
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    if not text.strip():
        return {}  # an empty file (or /dev/null: no saved login)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def save(**values: Any) -> Path:
    """Merge ``values`` into the config file (None removes a key)."""
    path = config_path()
    data = {**load(), **values}
    data = {key: value for key, value in data.items() if value is not None}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class Connection:
    url: str
    token: str


def connection(url: str | None = None, token: str | None = None) -> Connection:
    stored = load()
    url = url or os.environ.get(URL_ENV) or stored.get("url")
    token = token or os.environ.get(TOKEN_ENV) or stored.get("token")
    if not url or not token:
        missing = "URL" if not url else "token"
        raise UsageError(
            f"no server {missing}: run `argus-plugin login URL` first, or set {URL_ENV} and {TOKEN_ENV}."
        )
    return Connection(normalize_url(url), token)


def default_publisher() -> str | None:
    value = load().get("publisher")
    return value if isinstance(value, str) else None
