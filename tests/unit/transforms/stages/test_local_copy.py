"""A local category copy is never written through, nor read through, a symbolic link."""
import io
import os

import pytest

from transforms.stages.local_copy import NotFollowed, open_local_source, write_copy


def test_planted_file_link_is_replaced_not_written_through__existing_destination(tmp_path):
    root, victim = tmp_path / "classified", tmp_path / "victim"
    (root / "cat").mkdir(parents=True)
    victim.write_bytes(b"victim")
    os.symlink(victim, root / "cat" / "a.jpg")
    write_copy(io.BytesIO(b"image"), str(root), "cat/a.jpg")
    assert victim.read_bytes() == b"victim"
    assert not os.path.islink(root / "cat" / "a.jpg") and (root / "cat" / "a.jpg").read_bytes() == b"image"
    assert os.listdir(root / "cat") == ["a.jpg"]        # no temporary file left


@pytest.mark.parametrize("planted", ["cat", "cat/sub"])
def test_planted_folder_link_is_refused__any_depth(tmp_path, planted):
    root, trap = tmp_path / "classified", tmp_path / "trap"
    trap.mkdir()
    (root / planted).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(trap, root / planted)
    with pytest.raises(NotFollowed, match="symbolic link"):
        write_copy(io.BytesIO(b"image"), str(root), "cat/sub/a.jpg")
    assert os.listdir(trap) == []


def test_category_root_itself_may_be_a_link__the_path_the_user_gave(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "classified")
    write_copy(io.BytesIO(b"image"), str(tmp_path / "classified"), "cat/a.jpg", mtime_ns=1_000_000_000)
    assert (tmp_path / "real" / "cat" / "a.jpg").read_bytes() == b"image"
    assert os.stat(tmp_path / "real" / "cat" / "a.jpg").st_mtime_ns == 1_000_000_000


def test_source_link_is_not_read__swapped_in_after_listing(tmp_path):
    (tmp_path / "private").write_bytes(b"secret")
    os.symlink(tmp_path / "private", tmp_path / "a.jpg")
    with pytest.raises(NotFollowed):
        open_local_source(str(tmp_path / "a.jpg"))


def test_read_refuses_a_link_swapped_in_after_listing__read_symlink(tmp_path):
    from transforms.records import ImageRef
    from transforms.stages.imaging import ImageError
    from transforms.stages.read_images import read_bytes
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"private bytes")
    (tmp_path / "in").mkdir()
    photo = tmp_path / "in" / "photo.jpg"
    photo.symlink_to(secret)   # listed as a file, then replaced by a link before it is read
    ref = ImageRef(uri=str(photo), bucket=str(tmp_path / "in"), name="photo.jpg", generation=0, rel_path="photo.jpg")
    with pytest.raises(ImageError) as refused:
        read_bytes(ref)
    assert (refused.value.stage, refused.value.code) == ("read", "symlink")
