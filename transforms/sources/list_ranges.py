"""Split the key space of a gs:// prefix into ranges that can be listed in parallel.

One lister walking a bucket of 10 M objects makes 10,000 page requests in a
row. GCS lists any key range [start_offset, end_offset) of a prefix, so the
listing can be spread over workers once the key space is cut into ranges. The
cut only needs the boundaries to be sorted: ranges [None, b1), [b1, b2), ...,
[bk, None) then cover every name under the prefix exactly once, whatever the
names are. To make the ranges roughly even, the boundaries follow the names
that really exist, breadth first, until there are enough ranges or the
request budget is spent. A group is split on its sub-folders when it has any
(one delimiter request lists them all: photo buckets are nearly always
foldered), otherwise by cheap probes (`max_results=2`) of which characters
follow it ("which first letters do names have after `img/`?"). The groups of
one level are split concurrently, so planning costs a few round trips, not a
few hundred: until it is done nothing can be listed (the ranges are spread
over workers through a shuffle, a barrier on a batch runner).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

DEFAULT_RANGES = 64
PROBE_BUDGET = 400   # requests the planner may spend (one page listing costs the same)
PLAN_THREADS = 8     # groups of one level split at the same time

# first_keys(start, n): up to n names >= start under the listed prefix, in order.
FirstKeys = Callable[[str, int], list]
# folders(group): the sub-folders ("group.../") that one delimiter listing of group shows.
Folders = Callable[[str], list]


class _Budget:
    """Requests left to the planner, shared by its threads."""

    def __init__(self, n: int):
        self._left, self._lock = n, threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    @property
    def left(self) -> int:
        return self._left


@dataclass(frozen=True)
class KeyRange:
    """Names under `prefix` with start <= name < end (None: unbounded)."""
    bucket: str
    prefix: str
    start: str | None
    end: str | None

    def contains(self, name: str) -> bool:
        return (name.startswith(self.prefix) and (self.start is None or name >= self.start)
                and (self.end is None or name < self.end))


def successor(ch: str) -> str | None:
    """The next code point that can be sent in a UTF-8 request (no surrogates), or None."""
    code = ord(ch) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    return chr(code) if code <= 0x10FFFF else None


def _children(group: str, first_keys: FirstKeys, budget: _Budget) -> list[str]:
    """The distinct one-character extensions of `group` among the names (one probe each, plus one)."""
    out: list[str] = []
    start = group
    while budget.take():
        keys = [k for k in first_keys(start, 2) if k != group]
        if not keys or not keys[0].startswith(group):
            break
        child = keys[0][:len(group) + 1]
        out.append(child)
        nxt = successor(child[-1])
        if nxt is None:
            break
        start = group + nxt
    return out


def _split(group: str, first_keys: FirstKeys, folders: Folders | None, budget: _Budget) -> list[str]:
    """Sorted sub-groups of `group`: its sub-folders if it has some, else its next characters."""
    if folders is not None and budget.take():
        subs = sorted({f for f in folders(group) if f.startswith(group) and f != group})
        if subs:
            return subs
    return _children(group, first_keys, budget)


def plan_boundaries(prefix: str, first_keys: FirstKeys, target: int = DEFAULT_RANGES,
                    budget: int = PROBE_BUDGET, folders: Folders | None = None) -> list[str]:
    """Sorted split points (at most target - 1) that follow the names under `prefix`."""
    boundaries: set[str] = set()
    level, left = [prefix], _Budget(budget)
    with ThreadPoolExecutor(PLAN_THREADS) as pool:
        while level and len(boundaries) + 1 < target and left.left > 0:
            next_level: list[str] = []
            for children in pool.map(lambda g: _split(g, first_keys, folders, left), level):
                boundaries.update(children[1:])   # the first child starts where its group starts
                next_level.extend(children)
            level = next_level
    ordered = sorted(boundaries)
    if len(ordered) >= target:            # keep target - 1, evenly spread
        step = len(ordered) / (target - 1)
        ordered = [ordered[int(i * step)] for i in range(target - 1)]
    return ordered


def ranges_from(bucket: str, prefix: str, boundaries: list[str]) -> list[KeyRange]:
    """The ranges between sorted boundaries: a partition of every name under `prefix`."""
    edges: list[str | None] = [None, *boundaries, None]
    return [KeyRange(bucket, prefix, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
