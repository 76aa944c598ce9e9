"""Where uploaded and generated files live: content-addressed blobs named by their sha256.

A blob's name is the hex sha256 of its bytes, so the same file stored twice is kept once,
a name can never point at changed content, and a name is a safe path: anything that is not
64 lowercase hex digits is refused before it comes near the file system.

`LocalStorage` keeps blobs in a folder under the instance folder (`files/ab/cd/abcd...`).
An S3-compatible backend only has to implement `BlobStorage`; nothing else names a path.

Services find the storage on their SQLAlchemy session (`storage_of(session)`): the
`Database` puts it in every session's `info`, so a view, a worker and a CLI command reach
the same files without passing the storage through every call.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from sqlalchemy.orm import Session

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
SESSION_INFO_KEY = "storage"


class BlobNotFound(KeyError):
    """No blob has this name."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_blob_name(name: str) -> str:
    """The name itself when it is a sha256 in hex; ValueError otherwise (e.g. '../x')."""
    if not isinstance(name, str) or not _SHA256.match(name):
        raise ValueError(f"not a blob name (64 lowercase hex digits): {name!r}")
    return name


@runtime_checkable
class BlobStorage(Protocol):
    def put(self, data: bytes) -> str:
        """Store the bytes (once) and return their sha256."""

    def get(self, name: str) -> bytes:
        """The bytes of a stored blob; BlobNotFound if there is none."""

    def open(self, name: str) -> BinaryIO:
        """A binary file object to read the blob in chunks (downloads stream from it);
        BlobNotFound if there is none. The caller closes it."""

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None:
        """Remove a blob; removing a missing one is not an error."""


class LocalStorage:
    """Blobs in a local folder, fanned out by the first two bytes of the hash."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path_of(self, name: str) -> Path:
        name = check_blob_name(name)
        return self.root / name[:2] / name[2:4] / name

    def put(self, data: bytes) -> str:
        name = sha256_of(data)
        path = self.path_of(name)
        if path.exists():
            return name
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file in the same folder, then rename: a reader never sees a
        # half-written blob, and two writers of the same blob both end with the whole file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name

    def get(self, name: str) -> bytes:
        try:
            return self.path_of(name).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(name) from None

    def open(self, name: str) -> BinaryIO:
        try:
            return self.path_of(name).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(name) from None

    def exists(self, name: str) -> bool:
        return self.path_of(name).is_file()

    def delete(self, name: str) -> None:
        self.path_of(name).unlink(missing_ok=True)

    def count(self) -> int:
        """How many blobs are stored (for tests and the admin's curiosity)."""
        if not self.root.exists():
            return 0
        return sum(
            1 for path in self.root.rglob("*") if path.is_file() and _SHA256.match(path.name)
        )


def storage_of(session: Session) -> BlobStorage:
    """The blob storage that belongs to this session's database."""
    storage = session.info.get(SESSION_INFO_KEY)
    if storage is None:
        raise RuntimeError(
            "this database session has no file storage; create the Database with "
            "storage=LocalStorage(...) (create_app does this from the instance folder)"
        )
    return storage
