"""Turning expected failures into one clear line on stderr and a non-zero exit code (no traceback)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from argus_plugins.canonical import CanonicalJSONError
from registry.bundles import BundleRejected
from registry.manifest import ManifestInvalid
from registry.signing import KeyRejected, SignatureInvalid

EXIT_FAILURE = 1  # any expected failure; click uses 2 for usage errors


class CliError(Exception):
    """An expected failure with a message meant for the user."""


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(EXIT_FAILURE)


@contextlib.contextmanager
def expected_errors() -> Iterator[None]:
    try:
        yield
    except CliError as exc:
        raise fail(str(exc)) from None
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
