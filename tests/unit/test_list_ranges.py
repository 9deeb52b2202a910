"""The key ranges of a bucket listing cover every name exactly once, whatever the names."""
import bisect

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.sources.list_ranges import plan_boundaries, ranges_from

NAME_CHARS = st.sampled_from(list("ab/0z.-_") + ["é", "日", "\U0001F600", "\ue000", "\U0010FFFF"])
NAMES = st.lists(st.text(NAME_CHARS, min_size=1, max_size=8), max_size=60, unique=True)


def store(names, prefix):
    """GCS's list semantics on a sorted list: names >= start under the prefix, in order."""
    keys = sorted(n for n in names if n.startswith(prefix))

    def first_keys(start, n):
        i = bisect.bisect_left(keys, start or "")
        return keys[i:i + n]
    return first_keys


def folder_store(names, prefix):
    """GCS's delimiter listing: the sub-folders of a group, as one `delimiter="/"` page shows them."""
    keys = sorted(n for n in names if n.startswith(prefix))

    def folders(group):
        return sorted({group + k[len(group):].split("/", 1)[0] + "/"
                       for k in keys if k.startswith(group) and "/" in k[len(group):]})
    return folders


class Counting:
    """Counts the planner's requests, as a bill would."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


@settings(max_examples=300, deadline=None)
@given(names=NAMES, prefix=st.sampled_from(["", "a", "a/", "日"]), target=st.integers(1, 20),
       use_folders=st.booleans())
def test_every_name_in_exactly_one_range__random_names(names, prefix, target, use_folders):
    names = [prefix + n for n in names] + names
    folders = folder_store(names, prefix) if use_folders else None
    boundaries = plan_boundaries(prefix, store(names, prefix), target, folders=folders)
    assert boundaries == sorted(set(boundaries)) and len(boundaries) <= max(target - 1, 0)
    ranges = ranges_from("b", prefix, boundaries)
    for name in set(names):
        hits = sum(r.contains(name) for r in ranges)
        assert hits == (1 if name.startswith(prefix) else 0), name


def test_ranges_follow_shared_prefixes__names_with_one_long_common_part():
    names = [f"img/2024/{i:05d}.jpg" for i in range(1000)]
    boundaries = plan_boundaries("img/", store(names, "img/"), 8)
    assert len(boundaries) == 7
    assert all(b.startswith("img/2024/") for b in boundaries)


def test_foldered_bucket_planned_in_two_requests__one_delimiter_listing_finds_the_folders():
    names = [f"photos/{i % 97:02d}/{i % 7}/img-{i:07d}.jpg" for i in range(5000)]
    first_keys, folders = Counting(store(names, "photos/")), Counting(folder_store(names, "photos/"))
    boundaries = plan_boundaries("photos/", first_keys, 64, folders=folders)
    assert len(boundaries) == 63 and all(b.endswith("/") for b in boundaries)
    assert first_keys.calls + folders.calls == 1
    sizes = [sum(r.contains(n) for n in names) for r in ranges_from("b", "photos/", boundaries)]
    assert max(sizes) <= 3 * min(sizes)   # roughly even: 97 folders cut into 64 ranges


def test_flat_names_split_by_characters__no_folders_under_the_prefix():
    names = [f"img/{i:05x}.jpg" for i in range(4000)]
    first_keys, folders = Counting(store(names, "img/")), Counting(folder_store(names, "img/"))
    boundaries = plan_boundaries("img/", first_keys, 16, folders=folders)
    assert len(boundaries) == 15 and folders.calls >= 1
    assert first_keys.calls <= 40   # 16 probes per level, levels split concurrently
