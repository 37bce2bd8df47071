#!/usr/bin/env python3
"""Verify Argus Plugins ledger evidence without Argus: Python 3.8+ standard library (+ ``cryptography``).

Usage::

    python standalone_verify.py ledger.jsonl [--head HEX] [--checkpoint NOTE --log-key PEM]
    python standalone_verify.py receipt RECEIPT.json --log-key LOG_KEY.pem
    python standalone_verify.py consistency OLD_NOTE NEW_NOTE PROOF --log-key LOG_KEY.pem
    python standalone_verify.py witness --url https://HOST/graphql/ --log-key LOG_KEY.pem \
        --key WITNESS_KEY.pem --name NAME --state STATE.json [--origin ORIGIN] [--token-env VAR]

Everything except signatures needs only the standard library. Signatures (the log's ECDSA P-256
checkpoint signature, the publisher's RSASSA-PSS signature in a receipt, a witness's cosignature) are
checked with the ``cryptography`` package when it is installed; without it, ``--skip-signatures`` makes
the other checks run and says so (the result is then NOT a full verification).

**Chain mode** (the default). Input: JSON Lines as written by ``manage.py export_ledger``, one entry per
line with the fields ``sequence``, ``entry_type``, ``record``, ``prev_hash``, ``created_at``,
``entry_hash`` (others ignored). For every line, in order, the script checks that ``sequence`` is the
previous one plus 1 (starting at 1), that ``prev_hash`` is the previous line's ``entry_hash`` (64 zeros
for the first), and that ``entry_hash`` = lower-case hex SHA-256 of the RFC 8785 (JCS) canonical JSON of
the object ``{"sequence", "entry_type", "record", "prev_hash", "created_at"}`` (the entry's *preimage*).
It also computes the root of the ledger's Merkle tree (RFC 9162 section 2.1: leaf ``i`` is entry
``i + 1``, leaf hash = SHA-256(0x00 || preimage), node hash = SHA-256(0x01 || left || right)).
With ``--head`` the last hash must equal a head hash obtained independently; with ``--checkpoint`` (a
signed checkpoint note published earlier) the root of the first ``size`` entries must equal the
checkpoint's root. Either detects a truncated tail; only a checkpoint also detects a rewritten one.
Prints ``OK <entries> entries, head <hash>, root <base64>`` and exits 0, or ``BROKEN at sequence N:
<reason>`` and exits 1.

**Checkpoints** are C2SP tlog-checkpoint notes (``<origin>\n<size>\n<base64 root>\n``) signed as C2SP
signed notes: after a blank line, ``— <key name> base64(key ID || signature)`` lines. The log signs with
signature type 0x02: ECDSA P-256 over SHA-256 of the note text (ASN.1 DER signature); key ID = the first
4 bytes of SHA-256 of the public key's DER SubjectPublicKeyInfo. ``--log-key`` is the log's public key
(PEM), obtained independently of the evidence checked (e.g. published by the operator).

**Receipt mode** checks one execution's receipt (``executionReceipt`` in the API, ``argus-plugin receipt``
on the command line). The receipt is RFC 8785 canonical JSON, so every byte matters: the file must be
exactly the canonical form of its content. Checked: the entry's hash from its fields; that the entry is
the receipt's execution (its ``execution_id``, type ``execution.completed``); the inclusion proof of its
leaf in the checkpoint's tree (RFC 9162 2.1.3.2); the checkpoint's signature by ``--log-key`` (and that
the receipt names that same key); the plugin version's signed statement (rebuilt from the entry: plugin,
version, code and manifest SHA-256), the publisher's signature over it and that the publisher key's
fingerprint (SHA-256 of its DER SubjectPublicKeyInfo) is the one the entry records; and that the
evidence SHA-256 values listed are the ones the entry records.

**Consistency mode** checks that NEW_NOTE's tree extends OLD_NOTE's (RFC 9162 2.1.4.2). PROOF is a
file holding the ``ledgerConsistencyProof`` answer (JSON with ``hashes``), a JSON list of base64 hashes,
or one base64 hash per line.

**Witness mode** fetches the newest checkpoint and a consistency proof from the last one it accepted
(kept in ``--state``) over the GraphQL API, verifies both, cosigns the checkpoint with the witness key
(signature type 0x02) and stores it; exit 0. A checkpoint that does not extend the accepted one is an
ALARM: exit status 2, the state is left unchanged and both notes are printed as evidence.

RFC 8785 support: this file implements the whole canonicalisation for parsed JSON (I-JSON) values:
null, true/false, strings (escapes exactly as ECMAScript JSON.stringify: \\b \\f \\n \\r \\t, other
controls as lower-case \\u00xx, everything else literal UTF-8), integers within +/-(2^53-1), finite
doubles formatted as ECMAScript Number.prototype.toString (shortest round-trip digits), arrays, and objects
with keys sorted by UTF-16 code units. Refused as not canonicalisable: NaN/Infinity, integers beyond
+/-(2^53-1), lone surrogates, duplicate object keys. Ledger records never contain values outside this set.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import sys

GENESIS_HASH = "0" * 64
MAX_SAFE_INTEGER = 2**53 - 1
PREIMAGE_FIELDS = ("sequence", "entry_type", "record", "prev_hash", "created_at")


class NotCanonical(ValueError):
    pass


def canonicalize(value) -> str:
    """RFC 8785 canonical JSON text of a parsed JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise NotCanonical(f"integer {value} is beyond +/-(2^53-1)")
        return str(value)
    if isinstance(value, float):
        return format_es6_number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonicalize(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=_utf16_key)
        return "{" + ",".join(_string(key) + ":" + canonicalize(value[key]) for key in keys) + "}"
    raise NotCanonical(f"{type(value).__name__} is not a JSON value")


def _utf16_key(key: str) -> bytes:
    # RFC 8785 3.2.3: sort by UTF-16 code units; big-endian UTF-16 bytes compare the same way.
    return key.encode("utf-16-be", "surrogatepass")


def _string(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise NotCanonical("string contains a lone surrogate") from None
    # Python's escaping with ensure_ascii=False is exactly ECMAScript's JSON.stringify escaping.
    return json.dumps(value, ensure_ascii=False)


def format_es6_number(value: float) -> str:
    """ECMAScript Number.prototype.toString of a finite double (RFC 8785 section 3.2.2.3)."""
    if math.isnan(value) or math.isinf(value):
        raise NotCanonical(f"{value!r} is not representable in JSON")
    if value == 0:
        return "0"  # also for -0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    integer_part, _, fraction = mantissa.partition(".")
    # value = int(integer_part + fraction) * 10^(exponent - len(fraction)); ECMAScript writes it as
    # s * 10^(n - k) with s the k significant digits (no leading or trailing zeros).
    digits = (integer_part + fraction).lstrip("0")
    stripped = digits.rstrip("0")
    k = len(stripped)
    n = int(exponent or 0) - len(fraction) + (len(digits) - k) + k
    if k <= n <= 21:
        text = stripped + "0" * (n - k)
    elif 0 < n <= 21:
        text = stripped[:n] + "." + stripped[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + stripped
    else:
        exp = n - 1
        exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
        text = (stripped[0] + ("." + stripped[1:] if k > 1 else "")) + "e" + exp_text
    return sign + text


def entry_preimage(entry: dict) -> bytes:
    """The RFC 8785 bytes an entry's hash (and its Merkle leaf) is computed over."""
    return canonicalize({field: entry[field] for field in PREIMAGE_FIELDS}).encode("utf-8")


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(entry_preimage(entry)).hexdigest()


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise NotCanonical(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name):
    raise NotCanonical(f"{name} is not valid JSON")


def strict_json(text: str):
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)


def parse_line(line: str) -> dict:
    entry = strict_json(line)
    if not isinstance(entry, dict):
        raise NotCanonical("a line must be a JSON object")
    missing = [field for field in (*PREIMAGE_FIELDS, "entry_hash") if field not in entry]
    if missing:
        raise NotCanonical("missing field(s): " + ", ".join(missing))
    return entry


# --- Merkle tree (RFC 9162 section 2.1) -----------------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    pass


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class TreeBuilder:
    """The root of a growing tree in O(log n) memory: the complete subtrees along its right edge."""

    def __init__(self):
        self.size = 0
        self.frontier = []  # largest first

    def append(self, leaf: bytes) -> None:
        digest, size = leaf, self.size
        while size & 1:  # each trailing 1-bit of the old size: a left sibling to merge with
            digest = node_hash(self.frontier.pop(), digest)
            size >>= 1
        self.frontier.append(digest)
        self.size += 1

    def root(self) -> bytes:
        if not self.frontier:
            return EMPTY_ROOT
        result = self.frontier[-1]
        for left in reversed(self.frontier[:-1]):
            result = node_hash(left, result)
        return result


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != 32:
        raise ProofError(f"{what} is {len(value)} bytes, not 32")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof) -> bytes:
    """RFC 9162 2.1.3.2: the root the audit path ``proof`` implies for ``leaf`` at ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    fn, sn, result = index, size - 1, leaf
    for element in proof:
        _check_hash(element, "a proof hash")
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    return result


def verify_inclusion(index: int, size: int, leaf: bytes, proof, root: bytes) -> None:
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof) -> None:
    """RFC 9162 2.1.4.2: raise ProofError unless the tree of ``new_size`` extends the one of ``old_size``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {old_size} cannot grow into size {new_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots: the log forked")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    for element in (*proof, old_root, new_root):
        _check_hash(element, "a hash")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(element, fr), node_hash(element, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the trees are deep")
    if fr != old_root:
        raise ProofError("the proof does not lead to the old root: the new tree does not extend it")
    if sr != new_root:
        raise ProofError("the proof does not lead to the new root")


# --- Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) -----------------------------------

EM_DASH = "\u2014"


class NoteError(ValueError):
    pass


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text) -> bytes:
    """Standard base64, padded, canonical trailing bits: exactly one spelling per value."""
    if not isinstance(text, str):
        raise NoteError("expected a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"not canonical base64: {text[:60]!r}") from None
    if b64(data) != text:
        raise NoteError(f"not canonical base64: {text[:60]!r}")
    return data


def split_note(note: str):
    """``(text, [(key name, key ID, signature bytes, line)])`` of a signed note; nothing verified yet."""
    if not note.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note ends with a newline and has no other control characters")
    at = note.rfind("\n\n")
    if at < 0:
        raise NoteError("a signed note needs a blank line before its signatures")
    text, signatures = note[: at + 1], []
    for line in note[at + 2 :].splitlines(keepends=True):
        parts = line[:-1].split(" ")
        if not line.endswith("\n") or len(parts) != 3 or parts[0] != EM_DASH or not parts[1]:
            raise NoteError(f"malformed signature line {line[:80]!r}")
        blob = b64decode(parts[2])
        if len(blob) < 5:
            raise NoteError("a signature is too short")
        signatures.append((parts[1], blob[:4], blob[4:], line))
    if not signatures:
        raise NoteError("the note has no signature")
    return text, signatures


def parse_checkpoint(text: str):
    """``(origin, size, root)`` of a checkpoint's text: origin, decimal size, base64 root, extensions."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or "" in lines[:-1]:
        raise NoteError("a checkpoint has an origin, a size and a root hash line, and no empty line")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or not size.isascii() or (size != "0" and size.startswith("0")) or len(size) > 20:
        raise NoteError(f"malformed checkpoint size {size!r}")
    digest = b64decode(root)
    if len(digest) != 32:
        raise NoteError("a checkpoint's root hash is 32 bytes")
    return origin, int(size), digest


class Crypto:
    """Signature checks, with the ``cryptography`` package; absent, every check raises (or is skipped)."""

    def __init__(self, skip_signatures: bool = False):
        self.skip = skip_signatures
        try:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
        except ImportError:
            self.available = False
        else:
            self.available = True
            self.InvalidSignature, self.hashes, self.serialization = InvalidSignature, hashes, serialization
            self.ec, self.padding, self.rsa = ec, padding, rsa

    @property
    def checked(self) -> bool:
        if self.available:
            return True
        if self.skip:
            return False
        raise NoteError("signatures need the 'cryptography' package (or --skip-signatures)")

    def load_public_pem(self, pem: str):
        """``(key, DER SubjectPublicKeyInfo)``; the PEM must be exactly the canonical encoding of the key."""
        try:
            key = self.serialization.load_pem_public_key(pem.encode("ascii"))
        except Exception as exc:  # noqa: BLE001 - ValueError, UnsupportedAlgorithm...: all mean "not a key"
            raise NoteError(f"not a usable PEM public key ({type(exc).__name__})") from None
        spki = self.serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_bytes(self.serialization.Encoding.PEM, spki).decode("ascii") != pem:
            raise NoteError("the public key PEM is not in its canonical form")
        return key, key.public_bytes(self.serialization.Encoding.DER, spki)

    def verify_note(self, note: str, name: str, pem: str) -> str:
        """The note's text, if the ECDSA P-256 key ``pem`` named ``name`` signed it (type 0x02)."""
        text, signatures = split_note(note)
        if not self.checked:
            return text
        key, der = self.load_public_pem(pem)
        if not isinstance(key, self.ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise NoteError("the log key must be an ECDSA P-256 public key")
        key_id = hashlib.sha256(der).digest()[:4]
        ours = [sig for sig in signatures if sig[0] == name and sig[1] == key_id]
        if not ours:
            raise NoteError(f"the note is not signed by {name} (key ID {key_id.hex()})")
        for _, _, signature, _ in ours:
            try:
                key.verify(signature, text.encode("utf-8"), self.ec.ECDSA(self.hashes.SHA256()))
            except self.InvalidSignature:
                raise NoteError(f"the signature of {name} does not verify") from None
        return text

    def verify_publisher(self, statement: bytes, signature: bytes, pem: str) -> str:
        """Check an RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) signature; return the key fingerprint."""
        key, der = self.load_public_pem(pem)
        if not isinstance(key, self.rsa.RSAPublicKey):
            raise NoteError("the publisher key must be an RSA public key")
        pss = self.padding.PSS(mgf=self.padding.MGF1(self.hashes.SHA256()), salt_length=32)
        try:
            key.verify(signature, statement, pss, self.hashes.SHA256())
        except self.InvalidSignature:
            raise NoteError("the publisher's signature over the version statement does not verify") from None
        return hashlib.sha256(der).hexdigest()

    def cosign(self, text: str, name: str, private_pem: bytes) -> str:
        key = self.serialization.load_pem_private_key(private_pem, password=None)
        if not isinstance(key, self.ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise NoteError("the witness key must be an ECDSA P-256 private key")
        spki = self.serialization.PublicFormat.SubjectPublicKeyInfo
        der = key.public_key().public_bytes(self.serialization.Encoding.DER, spki)
        signature = key.sign(text.encode("utf-8"), self.ec.ECDSA(self.hashes.SHA256()))
        return f"{EM_DASH} {name} {b64(hashlib.sha256(der).digest()[:4] + signature)}\n"


def read_log_key(path: str) -> str:
    """The log's public key PEM as given (line endings normalised to the canonical ``\\n``)."""
    with open(path, encoding="ascii") as handle:
        text = handle.read().replace("\r\n", "\n")
    return text if text.endswith("\n") else text + "\n"


def checked_checkpoint(crypto: Crypto, note: str, log_key_pem: str):
    """``(origin, size, root)`` of a note signed by the log key; the key's name is the note's signer."""
    text, signatures = split_note(note)
    names = sorted({sig[0] for sig in signatures})
    for name in names:  # the log key's name is not known offline: any name whose key ID matches
        try:
            crypto.verify_note(note, name, log_key_pem)
        except NoteError:
            continue
        return parse_checkpoint(text)
    raise NoteError("the checkpoint is not signed by the given log key")


# --- Chain mode -----------------------------------------------------------------------------------------


def verify(lines, expected_head=None, checkpoint=None):
    """Return (ok, entries_checked, head_hash, message); ``checkpoint`` is ``(size, root)`` or None."""
    expected, prev = 1, GENESIS_HASH
    tree = TreeBuilder()

    def broken(reason):
        return False, expected - 1, prev, f"BROKEN at sequence {expected}: {reason}"

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = parse_line(line)
        except (ValueError, NotCanonical) as exc:
            return broken(f"line {number} is malformed ({exc})")
        sequence = entry["sequence"]
        if type(sequence) is not int or sequence != expected:
            reason = (
                "gap (entries missing)" if isinstance(sequence, int) and sequence > expected else "reordered"
            )
            return broken(f"{reason}, found {sequence!r}")
        try:
            data = entry_preimage(entry)
        except NotCanonical as exc:
            return broken(f"not canonicalisable ({exc})")
        computed = hashlib.sha256(data).hexdigest()
        if computed != entry["entry_hash"]:
            return broken("hash mismatch (a field was altered)")
        if entry["prev_hash"] != prev:
            return broken("broken link (prev_hash)")
        tree.append(leaf_hash(data))
        if checkpoint is not None and tree.size == checkpoint[0] and tree.root() != checkpoint[1]:
            return broken(
                f"the first {tree.size} entries do not have the checkpoint's root (history rewritten)"
            )
        prev = computed
        expected += 1
    if expected_head is not None and expected_head != prev:
        return broken("the chain ends before the expected head")
    if checkpoint is not None and tree.size < checkpoint[0]:
        return broken(f"the chain ends before the checkpoint's {checkpoint[0]} entries")
    return True, expected - 1, prev, f"OK {expected - 1} entries, head {prev}, root {b64(tree.root())}"


def run_chain(args) -> int:
    checkpoint = None
    if args.checkpoint:
        if not args.log_key:
            raise NoteError("--checkpoint needs --log-key")
        with open(args.checkpoint, encoding="utf-8") as handle:
            _, size, root = checked_checkpoint(
                Crypto(args.skip_signatures), handle.read(), read_log_key(args.log_key)
            )
        checkpoint = (size, root)
    if args.path == "-":
        ok, _, _, message = verify(sys.stdin, args.head, checkpoint)
    else:
        with open(args.path, encoding="utf-8") as handle:
            ok, _, _, message = verify(handle, args.head, checkpoint)
    print(message)
    return 0 if ok else 1


# --- Receipt mode ---------------------------------------------------------------------------------------

RECEIPT_FORMAT = "argus-plugins/execution-receipt/v1"
RECEIPT_KEYS = {
    "format",
    "execution_id",
    "entry",
    "inclusion_proof",
    "checkpoint",
    "log",
    "plugin_version",
    "evidence",
}
ENTRY_KEYS = {*PREIMAGE_FIELDS, "entry_hash"}
PROOF_KEYS = {"leaf_index", "tree_size", "hashes"}
LOG_KEYS = {"key_name", "public_key_pem"}
VERSION_KEYS = {"statement", "signature", "publisher_key_fingerprint", "publisher_public_key_pem"}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise NoteError(message)


def _object(value, keys, what):
    _require(
        isinstance(value, dict) and set(value) == keys, f"{what} must have exactly the fields {sorted(keys)}"
    )
    return value


def verify_receipt(raw: bytes, log_key_pem: str, crypto: Crypto) -> str:
    """Check a receipt file's bytes; return a one-line summary or raise NoteError/ProofError/NotCanonical."""
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError: reported as malformed
    receipt = strict_json(text)
    _require(
        canonicalize(receipt) + "\n" == text, "the receipt is not in its canonical form (RFC 8785 + newline)"
    )
    _object(receipt, RECEIPT_KEYS, "the receipt")
    _require(receipt["format"] == RECEIPT_FORMAT, f"unknown receipt format {receipt['format']!r}")
    entry = _object(receipt["entry"], ENTRY_KEYS, "entry")
    record = entry["record"]
    _require(isinstance(record, dict), "the entry's record must be an object")
    _require(entry["entry_type"] == "execution.completed", "the entry does not record an execution")
    _require(record.get("execution_id") == receipt["execution_id"], "the entry records another execution")
    data = entry_preimage(entry)
    _require(
        hashlib.sha256(data).hexdigest() == entry["entry_hash"], "the entry's hash does not match its fields"
    )

    log = _object(receipt["log"], LOG_KEYS, "log")
    _require(log["public_key_pem"] == log_key_pem, "the receipt names another log key than --log-key")
    note = receipt["checkpoint"]
    _require(isinstance(note, str), "the checkpoint must be a signed note")
    checkpoint_text = crypto.verify_note(note, log["key_name"], log_key_pem)
    _, size, root = parse_checkpoint(checkpoint_text)

    proof = _object(receipt["inclusion_proof"], PROOF_KEYS, "inclusion_proof")
    sequence = entry["sequence"]
    _require(type(sequence) is int and proof["leaf_index"] == sequence - 1, "the proof is for another leaf")
    _require(proof["tree_size"] == size, "the proof is for another tree size than the checkpoint's")
    _require(isinstance(proof["hashes"], list), "the proof's hashes must be a list")
    verify_inclusion(sequence - 1, size, leaf_hash(data), [b64decode(h) for h in proof["hashes"]], root)

    version = _object(receipt["plugin_version"], VERSION_KEYS, "plugin_version")
    statement = canonicalize(
        {key: record.get(key) for key in ("plugin", "version", "code_sha256", "manifest_sha256")}
    )
    _require(
        version["statement"] == statement, "the signed statement is not the plugin version the entry names"
    )
    _require(
        version["publisher_key_fingerprint"] == record.get("signing_key_fingerprint"),
        "the publisher key is not the one the entry records",
    )
    signature = b64decode(version["signature"])
    if crypto.checked:
        fingerprint = crypto.verify_publisher(
            statement.encode("utf-8"), signature, version["publisher_public_key_pem"]
        )
        _require(
            fingerprint == version["publisher_key_fingerprint"], "the publisher key's fingerprint differs"
        )
    _require(receipt["evidence"] == record.get("evidence"), "the evidence hashes differ from the entry's")
    signatures = "" if crypto.checked else " (signatures NOT checked: install 'cryptography')"
    return (
        f"OK execution {receipt['execution_id']}: entry {sequence} is in the log's tree of {size} entries "
        f"(root {b64(root)}), plugin {record.get('plugin')} {record.get('version')}, "
        f"{len(receipt['evidence'])} evidence item(s){signatures}"
    )


def run_receipt(args) -> int:
    with open(args.receipt, "rb") as handle:
        raw = handle.read()
    print(verify_receipt(raw, read_log_key(args.log_key), Crypto(args.skip_signatures)))
    return 0


# --- Consistency mode -----------------------------------------------------------------------------------


def read_proof(text: str):
    """A consistency proof: the API's answer as saved (``{"data": {"ledgerConsistencyProof": {"hashes":
    [...]}}}`` or any object down to ``{"hashes": [...]}``), a JSON list, or one base64 hash per line."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        value = strict_json(stripped)
        while isinstance(value, dict):
            if "hashes" in value:
                value = value["hashes"]
            elif len(value) == 1:
                value = next(iter(value.values()))
            else:
                raise NoteError("the proof file holds no 'hashes'")
        _require(isinstance(value, list), "the proof must be a list of base64 hashes")
        return [b64decode(item) for item in value]
    return [b64decode(line) for line in stripped.splitlines() if line]


def check_consistency(crypto: Crypto, log_key_pem: str, old_note: str, new_note: str, proof) -> str:
    old_origin, old_size, old_root = checked_checkpoint(crypto, old_note, log_key_pem)
    new_origin, new_size, new_root = checked_checkpoint(crypto, new_note, log_key_pem)
    _require(old_origin == new_origin, f"the checkpoints are of different logs ({old_origin}, {new_origin})")
    verify_consistency(old_size, new_size, old_root, new_root, proof)
    return f"OK the log's tree of {new_size} entries extends its tree of {old_size} entries"


def run_consistency(args) -> int:
    notes = []
    for path in (args.old_note, args.new_note, args.proof):
        with open(path, encoding="utf-8") as handle:
            notes.append(handle.read())
    crypto = Crypto(args.skip_signatures)
    print(check_consistency(crypto, read_log_key(args.log_key), notes[0], notes[1], read_proof(notes[2])))
    return 0


# --- Witness mode ---------------------------------------------------------------------------------------

WITNESS_ALARM = 2
CHECKPOINT_QUERY = "{ ledgerCheckpoint { note } }"
CONSISTENCY_QUERY = (
    "query($f: Int!, $t: Int!) { ledgerConsistencyProof(fromSize: $f, toSize: $t) { hashes } }"
)


def graphql(url: str, token: str, query: str, variables=None):
    import urllib.request

    body = json.dumps({"query": query, "variables": variables or {}}).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if not url.startswith(("https://", "http://")):
        raise NoteError("--url must be an http(s) URL")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - checked above
        answer = json.loads(response.read().decode("utf-8"))
    if answer.get("errors"):
        raise NoteError(f"the log answered with an error: {answer['errors'][0].get('message')}")
    return answer["data"]


def run_witness(args) -> int:
    import os

    crypto = Crypto()
    _require(crypto.available, "witness mode signs: it needs the 'cryptography' package")
    token = os.environ.get(args.token_env, "") if args.token_env else ""
    log_key_pem = read_log_key(args.log_key)
    with open(args.key, "rb") as handle:
        witness_key = handle.read()
    latest = graphql(args.url, token, CHECKPOINT_QUERY)["ledgerCheckpoint"]
    if latest is None:
        print("no checkpoint to witness yet", file=sys.stderr)
        return 0
    new_note = latest["note"]
    new_origin, new_size, _ = checked_checkpoint(crypto, new_note, log_key_pem)
    _require(not args.origin or new_origin == args.origin, f"the checkpoint is of another log ({new_origin})")
    accepted = None
    try:
        with open(args.state, encoding="utf-8") as handle:
            accepted = json.load(handle)["note"]
    except FileNotFoundError:
        pass
    if accepted is not None:
        _, old_size, _ = checked_checkpoint(crypto, accepted, log_key_pem)
        try:
            _require(new_size >= old_size, f"the log shrank from {old_size} to {new_size} entries")
            proof = []
            if new_size > old_size:
                answer = graphql(args.url, token, CONSISTENCY_QUERY, {"f": old_size, "t": new_size})
                proof = [b64decode(h) for h in answer["ledgerConsistencyProof"]["hashes"]]
            check_consistency(crypto, log_key_pem, accepted, new_note, proof)
        except (NoteError, ProofError) as exc:
            print(f"ALARM: checkpoint {new_size} does not extend the accepted one: {exc}", file=sys.stderr)
            print("accepted:\n" + accepted + "\noffending:\n" + new_note, file=sys.stderr)
            return WITNESS_ALARM
    text, _ = split_note(new_note)
    cosignature = crypto.cosign(text, args.name, witness_key)
    temporary = args.state + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"note": new_note, "cosignature": cosignature}, handle)
    os.replace(temporary, args.state)
    sys.stdout.write(new_note + cosignature)
    return 0


# --- Command line ---------------------------------------------------------------------------------------

MODES = ("chain", "receipt", "consistency", "witness")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Verify Argus Plugins ledger evidence offline.")
    modes = parser.add_subparsers(dest="mode", required=True)
    chain = modes.add_parser("chain", help="verify a JSON Lines export (the default mode)")
    chain.add_argument("path", help="the export, or - for standard input")
    chain.add_argument("--head", help="the head hash obtained independently; the chain must end there")
    chain.add_argument("--checkpoint", help="a signed checkpoint note the export's tree must match")
    receipt = modes.add_parser("receipt", help="verify an execution receipt")
    receipt.add_argument("receipt")
    consistency = modes.add_parser("consistency", help="verify that NEW_NOTE's tree extends OLD_NOTE's")
    consistency.add_argument("old_note")
    consistency.add_argument("new_note")
    consistency.add_argument("proof")
    witness = modes.add_parser("witness", help="witness the newest checkpoint of a running log")
    witness.add_argument("--url", required=True, help="the log's GraphQL endpoint")
    witness.add_argument("--token-env", help="environment variable holding an API token")
    witness.add_argument("--key", required=True, help="the witness's ECDSA P-256 private key (PEM)")
    witness.add_argument("--name", required=True, help="the witness key's name")
    witness.add_argument("--state", required=True, help="file keeping the last accepted checkpoint")
    witness.add_argument("--origin", help="the log's origin line; other checkpoints are refused")
    for sub in (chain, receipt, consistency, witness):
        sub.add_argument(
            "--log-key", required=sub in (receipt, consistency, witness), help="log public key PEM"
        )
        sub.add_argument("--skip-signatures", action="store_true", help="without 'cryptography': skip them")
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in MODES and argv[0] not in ("-h", "--help"):
        argv.insert(0, "chain")  # the original command line: standalone_verify.py ledger.jsonl [--head H]
    args = build_parser().parse_args(argv)
    run = {"chain": run_chain, "receipt": run_receipt, "consistency": run_consistency, "witness": run_witness}
    try:
        return run[args.mode](args)
    except (NoteError, ProofError, NotCanonical, ValueError, KeyError, TypeError, OSError) as exc:
        print(f"FAILED: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
