"""The key ranges of a bucket listing cover every name exactly once, whatever the names."""
import bisect

from hypothesis import given, settings, strategies as st

from transforms.list_ranges import plan_boundaries, ranges_from

NAME_CHARS = st.sampled_from(list("ab/0z.-_") + ["é", "日", "\U0001F600", "\ue000", "\U0010FFFF"])
NAMES = st.lists(st.text(NAME_CHARS, min_size=1, max_size=8), max_size=60, unique=True)


def store(names, prefix):
    """GCS's list semantics on a sorted list: names >= start under the prefix, in order."""
    keys = sorted(n for n in names if n.startswith(prefix))

    def first_keys(start, n):
        i = bisect.bisect_left(keys, start or "")
        return keys[i:i + n]
    return first_keys


@settings(max_examples=300, deadline=None)
@given(names=NAMES, prefix=st.sampled_from(["", "a", "a/", "日"]), target=st.integers(1, 20))
def test_every_name_in_exactly_one_range__random_names(names, prefix, target):
    names = [prefix + n for n in names] + names
    boundaries = plan_boundaries(prefix, store(names, prefix), target)
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
