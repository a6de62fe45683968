"""vm.maps against the Linux kernel's maps (BPF_MAP_CREATE and the *_ELEM commands via bpf(2)).

The kernel is the oracle: creation verdicts and errno, and for ARRAY and HASH every return code
and value of random operation sequences. LRU_HASH is approximate in the kernel (per-CPU free
lists), so only its guarantees are compared; our exact eviction order is pinned by golden cases.
"""
from __future__ import annotations

import errno
import random

import pytest

from vm import kernel
from vm.maps import (ENOTSUPP, ArrayMap, HashMap, LruHashMap, MapError, MapType, UpdateFlag,
                     create_map)

KERNEL_OK, KERNEL_WHY = kernel.available()
needs_kernel = pytest.mark.skipif(not KERNEL_OK, reason=f"bpf(2) unavailable: {KERNEL_WHY}")

ARRAY, HASH, LRU, RINGBUF = MapType.ARRAY, MapType.HASH, MapType.LRU_HASH, MapType.RINGBUF

# (id, map_type, key_size, value_size, max_entries, flags)
CREATE_CASES = [
    ("array-ok", ARRAY, 4, 8, 4, 0),
    ("array-zero-entries", ARRAY, 4, 8, 0, 0),
    ("array-key8", ARRAY, 8, 8, 4, 0),
    ("array-key2", ARRAY, 2, 8, 4, 0),
    ("array-value0", ARRAY, 4, 0, 4, 0),
    ("array-odd-value", ARRAY, 4, 3, 7, 0),
    ("array-no-prealloc", ARRAY, 4, 8, 4, 1),
    ("array-mmapable", ARRAY, 4, 8, 4, 1 << 10),
    ("array-rdonly-wronly", ARRAY, 4, 8, 4, (1 << 3) | (1 << 4)),
    ("array-rdonly-prog", ARRAY, 4, 8, 4, 1 << 7),
    ("array-unknown-flag", ARRAY, 4, 8, 4, 1 << 20),
    ("array-value-2g", ARRAY, 4, 1 << 31, 1, 0),
    ("hash-ok", HASH, 4, 8, 4, 0),
    ("hash-key0", HASH, 0, 8, 4, 0),
    ("hash-value0", HASH, 4, 0, 4, 0),
    ("hash-zero-entries", HASH, 4, 8, 0, 0),
    ("hash-key600", HASH, 600, 8, 4, 0),
    ("hash-no-prealloc", HASH, 4, 8, 4, 1),
    ("hash-no-common-lru", HASH, 4, 8, 4, 2),
    ("hash-zero-seed", HASH, 4, 8, 4, 1 << 6),
    ("hash-mmapable", HASH, 4, 8, 4, 1 << 10),
    ("hash-elem-too-big", HASH, 4, 1 << 22, 1, 0),
    ("hash-elem-limit-ok", HASH, 8, (1 << 22) - 8 - 49, 1, 0),
    ("hash-elem-limit-e2big", HASH, 8, (1 << 22) - 8 - 48, 1, 0),
    ("lru-ok", LRU, 4, 8, 4, 0),
    ("lru-one", LRU, 4, 8, 1, 0),
    ("lru-no-prealloc", LRU, 4, 8, 4, 1),
    ("lru-no-common-lru", LRU, 4, 8, 4, 2),
    ("lru-key0", LRU, 0, 8, 4, 0),
    ("ringbuf-page", RINGBUF, 0, 0, 4096, 0),
    ("ringbuf-64k", RINGBUF, 0, 0, 1 << 16, 0),
    ("ringbuf-3pages", RINGBUF, 0, 0, 3 * 4096, 0),
    ("ringbuf-half-page", RINGBUF, 0, 0, 2048, 0),
    ("ringbuf-key4", RINGBUF, 4, 0, 4096, 0),
    ("ringbuf-value4", RINGBUF, 0, 4, 4096, 0),
    ("ringbuf-no-prealloc", RINGBUF, 0, 0, 8192, 1),
    ("ringbuf-numa", RINGBUF, 0, 0, 8192, 4),
]


def kernel_create(map_type, key_size, value_size, max_entries, flags):
    """0 when the kernel creates the map, else its errno."""
    try:
        kernel.KernelMap(map_type, key_size, value_size, max_entries, flags).close()
    except kernel.KernelError as e:
        return e.errno
    return 0


def our_create(map_type, key_size, value_size, max_entries, flags):
    try:
        m = create_map(map_type, key_size, value_size, max_entries, flags)
    except MapError as e:
        return e.errno
    if map_type == RINGBUF:
        m.close()
    return 0


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("map_type,key_size,value_size,max_entries,flags",
                         [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_create_matches_kernel(map_type, key_size, value_size, max_entries, flags):
    args = (map_type, key_size, value_size, max_entries, flags)
    assert our_create(*args) == kernel_create(*args)


def test_create_unknown_type_is_one_line_error():
    with pytest.raises(MapError) as info:
        create_map(12345, 4, 4, 4)
    assert "12345" in str(info.value) and "\n" not in str(info.value)


# -- differential operation sequences ------------------------------------------------------

def _random_ops(rng: random.Random, key_size: int, value_size: int, nkeys: int, count: int,
                array: bool):
    """A reproducible list of (op, key, value, flags)."""
    ops = []
    for _ in range(count):
        if array:
            index = rng.randrange(nkeys + 2)            # some out of range
            key = index.to_bytes(4, "little")
        else:
            key = rng.randrange(nkeys).to_bytes(key_size, "little")
        op = rng.choice(["update", "update", "update", "delete", "lookup", "next"])
        value = bytes(rng.randrange(256) for _ in range(value_size))
        flags = rng.choice([0, 0, 1, 2, 3, 4, 5])
        ops.append((op, key, value, flags))
    return ops


def _apply(m, op, key, value, flags):
    if op == "update":
        return m.update(key, value, flags)
    if op == "delete":
        return m.delete(key)
    if op == "lookup":
        found = m.lookup(key)
        return None if found is None else bytes(found)
    return "next"


SEQUENCE_CASES = [
    # id, map_type, key_size, value_size, max_entries, nkeys, seed
    ("array-4x8", ARRAY, 4, 8, 4, 4, 1),
    ("array-16x3", ARRAY, 4, 3, 16, 16, 2),
    ("array-1x1", ARRAY, 4, 1, 1, 1, 3),
    ("hash-4keys-cap8", HASH, 4, 8, 8, 4, 4),
    ("hash-full-e2big", HASH, 4, 4, 4, 12, 5),
    ("hash-key13", HASH, 13, 5, 6, 10, 6),
    ("hash-cap1", HASH, 2, 16, 1, 3, 7),
]


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("map_type,key_size,value_size,max_entries,nkeys,seed",
                         [c[1:] for c in SEQUENCE_CASES], ids=[c[0] for c in SEQUENCE_CASES])
def test_operation_sequence_matches_kernel(map_type, key_size, value_size, max_entries, nkeys,
                                           seed):
    rng = random.Random(seed)
    ours = create_map(map_type, key_size, value_size, max_entries)
    with kernel.KernelMap(map_type, key_size, value_size, max_entries) as theirs:
        for step, (op, key, value, flags) in enumerate(
                _random_ops(rng, key_size, value_size, nkeys, 400, map_type == ARRAY)):
            got, want = _apply(ours, op, key, value, flags), _apply(theirs, op, key, value, flags)
            assert got == want, f"step {step}: {op} {key.hex()} flags={flags}"
            if map_type == ARRAY:
                assert ours.next_key(key) == theirs.next_key(key), f"step {step}"
            assert set(ours) == set(theirs), f"step {step}: key sets differ"
        assert dict(ours.items()) == {k: theirs.lookup(k) for k in theirs}


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("map_type", [ARRAY, HASH], ids=["array", "hash"])
def test_next_key_walk_matches_kernel(map_type):
    ours = create_map(map_type, 4, 4, 5)
    with kernel.KernelMap(map_type, 4, 4, 5) as theirs:
        for i in (3, 1, 4):
            key = i.to_bytes(4, "little")
            assert ours.update(key, b"abcd") == theirs.update(key, b"abcd") == 0
        walk_ours, walk_theirs = list(ours), list(theirs)
        assert sorted(walk_ours) == sorted(walk_theirs)
        assert len(walk_ours) == len(set(walk_ours))
        missing = (99).to_bytes(4, "little")
        # an unknown key restarts the walk (hash) or starts it (array, out of range)
        assert ours.next_key(missing) == walk_ours[0]
        assert theirs.next_key(missing) == walk_theirs[0]
        assert ours.next_key(walk_ours[-1]) is None and theirs.next_key(walk_theirs[-1]) is None


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("max_entries,inserts", [(4, 12), (16, 40), (1, 5)],
                         ids=["lru4", "lru16", "lru1"])
def test_lru_guarantees_match_kernel(max_entries, inserts):
    """What the kernel guarantees for LRU_HASH holds for both: updates of new keys never fail,
    the map never holds more than max_entries, the newest key is always present, and the
    existence flags behave as for HASH. (Not checked with max_entries 1: the kernel takes a
    free node, evicting if full, before it looks the key up, so in a one-entry map a NOEXIST
    update of the present key evicts it and succeeds.)"""
    ours = create_map(LRU, 4, 4, max_entries)
    with kernel.KernelMap(LRU, 4, 4, max_entries) as theirs:
        for i in range(inserts):
            key = i.to_bytes(4, "little")
            for m in (ours, theirs):
                assert m.update(key, b"vvvv", UpdateFlag.NOEXIST) == 0
                assert len(list(m)) <= max_entries
                assert m.lookup(key) is not None
                if max_entries > 1:
                    assert m.update(key, b"wwww", UpdateFlag.NOEXIST) == -errno.EEXIST
                    assert m.update(key, b"xxxx", UpdateFlag.EXIST) == 0
        absent = (inserts + 100).to_bytes(4, "little")
        assert ours.update(absent, b"zzzz", UpdateFlag.EXIST) == \
            theirs.update(absent, b"zzzz", UpdateFlag.EXIST) == -errno.ENOENT
        assert ours.delete(absent) == theirs.delete(absent) == -errno.ENOENT


# -- our own semantics (golden) ------------------------------------------------------------

def _k(i: int) -> bytes:
    return i.to_bytes(4, "little")


LRU_GOLDEN = [
    # id, operations, keys expected afterwards (least recently used first)
    ("fill-then-evict-oldest", [("u", 1), ("u", 2), ("u", 3), ("u", 4)], [2, 3, 4]),
    ("lookup-refreshes", [("u", 1), ("u", 2), ("u", 3), ("l", 1), ("u", 4)], [3, 1, 4]),
    ("update-refreshes", [("u", 1), ("u", 2), ("u", 3), ("u", 1), ("u", 4)], [3, 1, 4]),
    ("delete-frees-slot", [("u", 1), ("u", 2), ("u", 3), ("d", 2), ("u", 4)], [1, 3, 4]),
    ("replace-when-full-evicts-nothing", [("u", 1), ("u", 2), ("u", 3), ("u", 2)], [1, 3, 2]),
]


@pytest.mark.parametrize("ops,expected", [c[1:] for c in LRU_GOLDEN],
                         ids=[c[0] for c in LRU_GOLDEN])
def test_lru_exact_order(ops, expected):
    m = create_map(LRU, 4, 4, 3)
    for op, i in ops:
        if op == "u":
            assert m.update(_k(i), b"abcd") == 0
        elif op == "l":
            assert m.lookup(_k(i)) is not None
        else:
            assert m.delete(_k(i)) == 0
    assert m.lru_order() == [_k(i) for i in expected]
    assert sorted(m) == sorted(_k(i) for i in expected)


@pytest.mark.parametrize("map_type", [ARRAY, HASH, LRU], ids=["array", "hash", "lru"])
def test_lookup_view_aliases_the_element(map_type):
    m = create_map(map_type, 4, 6, 4)
    assert m.update(_k(2), b"abcdef") == 0
    view = m.lookup(_k(2))
    view[0:2] = b"XY"                                   # a program writing through the pointer
    assert bytes(m.lookup(_k(2))) == b"XYcdef"
    assert m.update(_k(2), b"123456") == 0              # an update is seen through the old view
    assert bytes(view) == b"123456"
    assert len(view) == 6 and not view.readonly


def test_types_and_misuse():
    assert isinstance(create_map(ARRAY, 4, 4, 1), ArrayMap)
    assert isinstance(create_map(HASH, 4, 4, 1), HashMap)
    assert isinstance(create_map(LRU, 4, 4, 1), LruHashMap)
    m = create_map(HASH, 4, 4, 1)
    with pytest.raises(ValueError, match="key is 3 bytes"):
        m.lookup(b"abc")
    with pytest.raises(ValueError, match="value is 5 bytes"):
        m.update(_k(1), b"12345")
    rb = create_map(RINGBUF, 0, 0, 4096)
    try:
        assert rb.lookup(b"") is None
        assert rb.update(b"", b"") == -ENOTSUPP and rb.delete(b"") == -ENOTSUPP
        assert list(rb) == []
    finally:
        rb.close()


@pytest.mark.exhaustive
@needs_kernel
@pytest.mark.parametrize("map_type", [ARRAY, HASH], ids=["array", "hash"])
def test_long_random_sequences_match_kernel(map_type):
    for seed in range(200):
        rng = random.Random(1000 + seed)
        key_size = 4 if map_type == ARRAY else rng.choice([1, 4, 8, 20])
        value_size = rng.choice([1, 4, 7, 8, 64])
        max_entries = rng.choice([1, 2, 5, 16])
        nkeys = max_entries if map_type == ARRAY else rng.choice([2, 8, 30])
        nkeys = min(nkeys, 256 ** key_size)
        ours = create_map(map_type, key_size, value_size, max_entries)
        with kernel.KernelMap(map_type, key_size, value_size, max_entries) as theirs:
            for step, (op, key, value, flags) in enumerate(
                    _random_ops(rng, key_size, value_size, nkeys, 300, map_type == ARRAY)):
                got = _apply(ours, op, key, value, flags)
                assert got == _apply(theirs, op, key, value, flags), f"seed {seed} step {step}"
            assert dict(ours.items()) == {k: theirs.lookup(k) for k in theirs}, f"seed {seed}"
