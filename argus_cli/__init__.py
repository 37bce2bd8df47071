"""``argus-plugin``: the publisher command line (generate keys, pack, sign, verify, publish plugins).

It shares the registry's own canonicalisation, bundle and signature code, so what the CLI signs is
byte-for-byte what the server verifies.
"""
