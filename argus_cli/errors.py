"""Turning expected failures into one clear line on stderr and a non-zero exit code (no traceback)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from argus_plugins.canonical import CanonicalJSONError
from registry.bundles import BundleRejected
from registry.manifest import ManifestInvalid
from registry.signing import KeyRejected, SignatureInvalid

# Exit codes, documented in `argus-plugin --help` and the README: scripts tell the cases apart.
EXIT_FAILURE = 1  # a local problem: a file, the bundle, the manifest, a key, Docker
EXIT_USAGE = 2  # the command line itself (click's own code for usage errors)
EXIT_REFUSED = 3  # the server understood the request and refused it (its error code is printed)
EXIT_NETWORK = 4  # the server could not be reached or did not answer properly
EXIT_RUN_FAILED = 5  # `run`: the plugin ran but did not succeed (FAILED, TIMED_OUT, MEMORY_EXCEEDED)


class CliError(Exception):
    """An expected failure with a message meant for the user."""

    exit_code = EXIT_FAILURE


class UsageError(CliError):
    exit_code = EXIT_USAGE


class ServerRefused(CliError):
    """The server answered with a typed error: ``code`` is its error code (e.g. NOT_FOUND)."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class NetworkError(CliError):
    exit_code = EXIT_NETWORK


def fail(message: str, exit_code: int = EXIT_FAILURE) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(exit_code)


@contextlib.contextmanager
def expected_errors() -> Iterator[None]:
    try:
        yield
    except CliError as exc:
        raise fail(str(exc), exc.exit_code) from None
    except BundleRejected as exc:
        raise fail(f"bundle rejected [{exc.code.value}]: {exc.message}") from None
    except KeyRejected as exc:
        raise fail(f"key rejected [{exc.code.value}]: {exc.message}") from None
    except SignatureInvalid as exc:
        raise fail(f"signature invalid [{exc.code.value}]: {exc.message}") from None
    except ManifestInvalid as exc:
        lines = [
            f"  [{issue.code.value}] {issue.field or 'manifest'}: {issue.message}" for issue in exc.errors
        ]
        raise fail("manifest.json is invalid:\n" + "\n".join(lines)) from None
    except CanonicalJSONError as exc:
        raise fail(f"invalid JSON: {exc}") from None
    except OSError as exc:
        # File-system problems (missing file, permission denied, disk full) are the user's to fix.
        where = f" ({exc.filename})" if exc.filename else ""
        raise fail(f"{exc.strerror or exc}{where}") from None
