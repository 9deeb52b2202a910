"""Walking a local input: links are reported, never followed; special files are never
opened; the category root is found by its resolved path."""
import os

from transforms.sources.list_folder import FILE, LINK, OTHER, walk_folder


def _kinds(root, category_root) -> dict[str, str]:
    return {e.rel: e.kind for e in walk_folder(str(root), str(category_root))}


def test_links_are_reported_not_followed__file_folder_loop_dangling(tmp_path):
    inside, outside = tmp_path / "in", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    (outside / "private.jpg").write_bytes(b"x")
    (inside / "a.jpg").write_bytes(b"a")
    os.symlink(outside / "private.jpg", inside / "link.jpg")
    os.symlink(outside, inside / "linkdir")
    os.symlink("self", inside / "self")
    os.symlink(tmp_path / "gone.jpg", inside / "dangling.jpg")
    assert _kinds(inside, tmp_path / "classified") == {
        "a.jpg": FILE, "link.jpg": LINK, "linkdir": LINK, "self": LINK, "dangling.jpg": LINK}


def test_special_files_are_never_opened__fifo_named_jpg(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    assert _kinds(tmp_path, tmp_path / "classified") == {"pipe.jpg": OTHER}


def test_category_root_is_skipped__named_through_a_link(tmp_path):
    real = tmp_path / "real"
    (real / "classified" / "cat").mkdir(parents=True)
    (real / "classified" / "cat" / "copy.jpg").write_bytes(b"c")
    (real / "a.jpg").write_bytes(b"a")
    os.symlink(real, tmp_path / "in")
    assert _kinds(tmp_path / "in", real / "classified") == {"a.jpg": FILE}
    assert _kinds(real, tmp_path / "in" / "classified") == {"a.jpg": FILE}
