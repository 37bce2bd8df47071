"""The ``argus-plugin`` commands: keygen, pack, sign, verify, publish, receipt.

Machine-readable results (fingerprint, code_sha256, signature, version id) go to stdout, one per line;
explanations go to stderr. Every expected failure exits with status 1 and a one-line reason.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from argus_cli import keys, publish, receipt
from argus_cli.errors import CliError, expected_errors
from registry.bundles import DEFAULT_MAX_BUNDLE_BYTES, BundleInfo, inspect_bundle, pack_directory
from registry.manifest import validate_manifest
from registry.signing import (
    DEFAULT_MIN_BITS,
    load_public_key,
    sign_statement,
    signing_statement,
    verify_signature,
)

app = typer.Typer(
    name="argus-plugin",
    help="Build, sign, verify and publish Argus plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold passphrases, keys or tokens
)

PassphraseEnv = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env", metavar="VAR", help="Read the key passphrase from this environment variable."
    ),
]
PassphrasePrompt = Annotated[
    bool, typer.Option("--passphrase-prompt", help="Ask for the key passphrase interactively.")
]


def _info(message: str) -> None:
    typer.echo(message, err=True)


def _passphrase(env_var: str | None, prompt: bool, *, confirm: bool) -> bytes | None:
    if env_var and prompt:
        raise CliError("use either --passphrase-env or --passphrase-prompt, not both.")
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise CliError(f"environment variable {env_var} is not set or empty.")
        return value.encode("utf-8")
    if prompt:
        value = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
        if not value:
            raise CliError("the passphrase must not be empty.")
        return value.encode("utf-8")
    return None


def _read_bundle(path: Path) -> tuple[bytes, BundleInfo]:
    if path.is_file() and path.stat().st_size > DEFAULT_MAX_BUNDLE_BYTES:
        raise CliError(f"{path} is larger than {DEFAULT_MAX_BUNDLE_BYTES} bytes.")
    data = path.read_bytes()
    return data, inspect_bundle(data)


def _check_manifest(info: BundleInfo) -> str:
    """Offline manifest check (structure, entrypoint); platform-specific checks happen on the server."""
    version = info.manifest.get("version")
    validate_manifest(
        info.manifest,
        version=version if isinstance(version, str) else "",
        platform_version=None,
        known_runtimes=None,
        resource_limits=None,
        bundle_files=info.file_names,
    )
    assert isinstance(version, str)  # validate_manifest guarantees it
    return version


def _slug(plugin: str | None, manifest: dict[str, Any]) -> str:
    slug = plugin if plugin is not None else manifest.get("name")
    if not isinstance(slug, str) or not slug:
        raise CliError("cannot tell the plugin slug; pass --plugin SLUG.")
    return slug


def _read_signature(path: Path) -> str:
    # Only the surrounding whitespace (a trailing newline) is forgiven; the base64 itself must be strict.
    return path.read_text(encoding="ascii", errors="replace").strip()


def _write_atomic(path: Path, content: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for private.pem and public.pem.")],
    passphrase_env: PassphraseEnv = None,
    passphrase_prompt: PassphrasePrompt = False,
) -> None:
    """Generate an RSA-4096 signing key pair (private.pem is PKCS#8, mode 0600)."""
    with expected_errors():
        passphrase = _passphrase(passphrase_env, passphrase_prompt, confirm=True)
        if passphrase is None:
            _info(
                "warning: the private key is NOT encrypted; consider --passphrase-env or --passphrase-prompt."
            )
        generated = keys.generate_keypair(out, passphrase)
        _info(f"private key: {generated.private_path} (keep it secret)")
        _info(f"public key:  {generated.public_path} (register it with Argus)")
        _info("fingerprint (SHA-256 of the DER public key):")
        typer.echo(generated.fingerprint)


@app.command()
def pack(
    directory: Annotated[Path, typer.Argument(help="Plugin source directory with manifest.json.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Bundle file (default: NAME-VERSION.tar.gz).")
    ] = None,
) -> None:
    """Pack a directory into a reproducible bundle and print its code_sha256."""
    with expected_errors():
        if not directory.is_dir():
            raise CliError(f"{directory} is not a directory.")
        data = pack_directory(directory)
        info = inspect_bundle(data)
        version = _check_manifest(info)
        if output is None:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{info.manifest['name']}-{version}").strip("-.")
            output = Path(f"{safe or 'bundle'}.tar.gz")
        if output.resolve().is_relative_to(directory.resolve()):
            # A bundle inside its own source would be packed into the next bundle.
            raise CliError(f"the output {output} must not be inside {directory}.")
        _write_atomic(output, data)
        _info(f"wrote {output} ({len(data)} bytes, {len(info.files)} files)")
        _info("code_sha256:")
        typer.echo(info.code_sha256)


@app.command()
def sign(
    bundle: Annotated[Path, typer.Argument(help="Bundle (.tar.gz) to sign.")],
    key: Annotated[Path, typer.Option("--key", help="Private key (PEM).")],
    plugin: Annotated[
        str | None, typer.Option("--plugin", metavar="SLUG", help="Plugin slug (default: manifest name).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Signature file (default: BUNDLE.sig).")
    ] = None,
    passphrase_env: PassphraseEnv = None,
    passphrase_prompt: PassphrasePrompt = False,
) -> None:
    """Sign a bundle; writes BUNDLE.sig and prints the base64 signature."""
    with expected_errors():
        _, info = _read_bundle(bundle)
        version = _check_manifest(info)
        slug = _slug(plugin, info.manifest)
        private_key = keys.load_private_key(
            key, _passphrase(passphrase_env, passphrase_prompt, confirm=False)
        )
        statement = signing_statement(slug, version, info.code_sha256, info.manifest_sha256)
        signature = sign_statement(private_key, statement, min_bits=DEFAULT_MIN_BITS)
        sig_path = output or bundle.with_name(bundle.name + ".sig")
        _write_atomic(sig_path, (signature + "\n").encode("ascii"))
        _info(f"plugin {slug} version {version}")
        _info(f"code_sha256     {info.code_sha256}")
        _info(f"manifest_sha256 {info.manifest_sha256}")
        _info(f"wrote {sig_path}")
        typer.echo(signature)


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle (.tar.gz) to check.")],
    signature: Annotated[Path, typer.Option("--signature", help="Signature file (base64).")],
    public_key: Annotated[Path, typer.Option("--public-key", help="Publisher public key (PEM).")],
    plugin: Annotated[
        str | None, typer.Option("--plugin", metavar="SLUG", help="Plugin slug (default: manifest name).")
    ] = None,
) -> None:
    """Check a bundle's signature exactly as the registry does."""
    with expected_errors():
        _, info = _read_bundle(bundle)
        version = info.manifest.get("version")
        if not isinstance(version, str):
            raise CliError("manifest.json has no version string.")
        slug = _slug(plugin, info.manifest)
        key_info = load_public_key(public_key.read_bytes())
        statement = signing_statement(slug, version, info.code_sha256, info.manifest_sha256)
        verify_signature(key_info, statement, _read_signature(signature))
        _info(f"signature OK: plugin {slug} version {version}, key fingerprint:")
        typer.echo(key_info.fingerprint)


@app.command("publish")
def publish_command(
    bundle: Annotated[Path, typer.Argument(help="Signed bundle (.tar.gz) to upload.")],
    url: Annotated[str, typer.Option("--url", help="GraphQL endpoint, e.g. https://argus.example/graphql")],
    token: Annotated[
        str, typer.Option("--token", envvar="ARGUS_TOKEN", help="API token (or env ARGUS_TOKEN).")
    ],
    plugin_id: Annotated[str, typer.Option("--plugin-id", help="Id of the plugin on the server.")],
    signing_key_id: Annotated[str, typer.Option("--signing-key-id", help="Id of the registered key.")],
    signature: Annotated[
        Path | None, typer.Option("--signature", help="Signature file (default: BUNDLE.sig).")
    ] = None,
    changelog: Annotated[str, typer.Option("--changelog", help="What changed in this version.")] = "",
    version: Annotated[
        str | None, typer.Option("--version", help="Version to create (default: manifest version).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server.")] = 120.0,
) -> None:
    """Upload a signed bundle as a new plugin version; prints the version id and status."""
    with expected_errors():
        data, info = _read_bundle(bundle)
        manifest_version = info.manifest.get("version")
        version = version or (manifest_version if isinstance(manifest_version, str) else None)
        if not version:
            raise CliError("manifest.json has no version; pass --version.")
        sig_path = signature or bundle.with_name(bundle.name + ".sig")
        if publish.is_insecure_url(url):
            _info(f"warning: {url} is plain HTTP; the token is sent unencrypted.")
        result = publish.publish_version(
            url=url,
            token=token,
            bundle=data,
            bundle_filename=bundle.name,
            plugin_id=plugin_id,
            version=version,
            changelog=changelog,
            signature=_read_signature(sig_path),
            signing_key_id=signing_key_id,
            timeout=timeout,
        )
        _info(f"published version {version}: id and status:")
        typer.echo(result.id)
        typer.echo(result.status)


@app.command("receipt")
def receipt_command(
    execution_id: Annotated[str, typer.Argument(help="Id of a finished execution.")],
    url: Annotated[str, typer.Option("--url", help="GraphQL endpoint, e.g. https://argus.example/graphql")],
    token: Annotated[
        str, typer.Option("--token", envvar="ARGUS_TOKEN", help="API token (or env ARGUS_TOKEN).")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: receipt-ID.json).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the server.")] = 60.0,
) -> None:
    """Download an execution's receipt; verify it offline with ledger/standalone_verify.py receipt."""
    with expected_errors():
        document = receipt.fetch_receipt(url=url, token=token, execution_id=execution_id, timeout=timeout)
        path = output or Path(f"receipt-{execution_id}.json")
        receipt.save_receipt(document, path)
        _info("receipt saved; verify it with: python standalone_verify.py receipt FILE --log-key LOG_KEY.pem")
        typer.echo(str(path))


if __name__ == "__main__":  # pragma: no cover
    app()
