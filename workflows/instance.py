"""Secrets kept in the instance folder in development (the session key, the signing keys' passphrase): generated once,
and whole, even when several processes start at the same moment."""
import os
import secrets
import tempfile
from pathlib import Path


def generated_secret(path: Path, length: int = 32) -> str:
    """The secret in ``path``, generated (``length`` random bytes, URL-safe) when the file does not exist yet."""
    path = Path(path)
    if not path.exists():
        create_once(path, secrets.token_urlsafe(length))
    return path.read_text().strip()


def create_once(path: Path, text: str):
    """Write a whole file under a temporary name, then link it into place: nobody ever reads it half written,
    and of two processes creating it at once the first link wins (the other's FileExistsError is harmless)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
