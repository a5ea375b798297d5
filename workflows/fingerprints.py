"""How things are fingerprinted: SHA-256 in hex, over bytes or text, and the canonical JSON text that is stored,
compared and hashed (compact, keys sorted, Chinese kept as is)."""
import hashlib
import json


def sha256_hex(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()


def canonical_json(data):
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
