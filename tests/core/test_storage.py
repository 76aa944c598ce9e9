import hashlib

import pytest

from campaign_manager.core.storage import BlobNotFound, LocalStorage, storage_of


def test_blobs_are_named_by_their_sha256_and_stored_once(tmp_path):
    storage = LocalStorage(tmp_path / "files")
    name = storage.put(b"hello")
    assert name == hashlib.sha256(b"hello").hexdigest()
    assert storage.put(b"hello") == name
    assert storage.get(name) == b"hello"
    assert storage.exists(name)
    assert storage.count() == 1
    assert storage.path_of(name).relative_to(tmp_path / "files").parts[:2] == (name[:2], name[2:4])
    storage.delete(name)
    assert not storage.exists(name)
    with pytest.raises(BlobNotFound):
        storage.get(name)


@pytest.mark.parametrize(
    "bad_name", ["../../etc/passwd", "/etc/passwd", "A" * 64, "ab" * 31, "", "..", "a/b"]
)
def test_names_that_are_not_hashes_never_reach_the_file_system(tmp_path, bad_name):
    storage = LocalStorage(tmp_path / "files")
    for operation in (storage.get, storage.exists, storage.delete, storage.path_of):
        with pytest.raises(ValueError, match="not a blob name"):
            operation(bad_name)


def test_the_app_puts_its_storage_on_every_session(app, db):
    storage = storage_of(db)
    assert storage is app.extensions["storage"]
    assert storage.root == app.extensions["settings"].files_dir
    with app.extensions["database"].transaction() as session:
        assert storage_of(session) is storage
