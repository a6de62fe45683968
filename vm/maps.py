"""BPF maps for the in-process VM, with the kernel's semantics (kernel/bpf/arraymap.c, hashtab.c).

``create_map(map_type, key_size, value_size, max_entries, flags=0) -> Map`` for ARRAY, HASH,
LRU_HASH and RINGBUF. Every map speaks the kernel's calling convention:

- ``lookup(key) -> memoryview | None``: a writable view of the stored value; it stays valid
  (and keeps aliasing the element) while the element exists;
- ``update(key, value, flags=0) -> int`` and ``delete(key) -> int``: 0 or a negative errno, as
  the bpf_map_update_elem / bpf_map_delete_elem helpers return;
- ``next_key(key | None) -> bytes | None`` (BPF_MAP_GET_NEXT_KEY) and iteration over keys.

Invalid creation parameters raise :class:`MapError` (``.errno`` holds the kernel's code); a key
or value of the wrong length is a caller bug and raises ``ValueError``.

Deliberate differences from the kernel: hash iteration follows insertion order (the kernel's
follows buckets), and LRU_HASH is an exact LRU (the kernel's is approximate and per-CPU: it may
evict a little early, and in a full map it takes a free node, evicting, before it looks the key
up, so even replacing a present key can evict another -- or, with one entry, that key itself).
"""
from __future__ import annotations

import errno as _errno
import sys
from collections import OrderedDict
from enum import IntEnum, IntFlag

from .ringbuf import RingBuffer, valid_size

__all__ = [
    "MapType", "UpdateFlag", "MapFlag", "MapError", "Map", "ArrayMap", "HashMap", "LruHashMap",
    "RingBufMap", "create_map", "ENOTSUPP",
]

ENOTSUPP = 524                 # the kernel-internal "operation not supported" code
KMALLOC_MAX_SIZE = 1 << 22    # a hash element (header + key + value) must fit one kmalloc
HTAB_ELEM_HDR = 48            # sizeof(struct htab_elem) on x86_64
MAX_ARRAY_VALUE = (1 << 31) - 1


class MapType(IntEnum):
    HASH = 1
    ARRAY = 2
    LRU_HASH = 9
    RINGBUF = 27


class UpdateFlag(IntEnum):
    ANY = 0                    # create or replace
    NOEXIST = 1                # create only
    EXIST = 2                  # replace only
    F_LOCK = 4                 # needs a bpf_spin_lock in the value: never valid here


class MapFlag(IntFlag):
    NO_PREALLOC = 1 << 0
    NO_COMMON_LRU = 1 << 1
    NUMA_NODE = 1 << 2
    RDONLY = 1 << 3
    WRONLY = 1 << 4
    ZERO_SEED = 1 << 6
    RDONLY_PROG = 1 << 7
    WRONLY_PROG = 1 << 8
    MMAPABLE = 1 << 10
    PRESERVE_ELEMS = 1 << 11
    INNER_MAP = 1 << 12


_ACCESS = MapFlag.RDONLY | MapFlag.WRONLY | MapFlag.RDONLY_PROG | MapFlag.WRONLY_PROG
# Which creation flags each map type accepts (ARRAY_CREATE_FLAG_MASK, HTAB_CREATE_FLAG_MASK, ...).
_ALLOWED_FLAGS = {
    MapType.ARRAY: MapFlag.NUMA_NODE | MapFlag.MMAPABLE | _ACCESS | MapFlag.PRESERVE_ELEMS
    | MapFlag.INNER_MAP,
    MapType.HASH: MapFlag.NO_PREALLOC | MapFlag.NO_COMMON_LRU | MapFlag.NUMA_NODE | _ACCESS
    | MapFlag.ZERO_SEED,
    MapType.LRU_HASH: MapFlag.NO_PREALLOC | MapFlag.NO_COMMON_LRU | MapFlag.NUMA_NODE | _ACCESS
    | MapFlag.ZERO_SEED,
    MapType.RINGBUF: MapFlag.NUMA_NODE,
}


class MapError(ValueError):
    """A map the kernel would refuse to create; ``errno`` is the kernel's error code."""

    def __init__(self, message: str, err: int = _errno.EINVAL):
        self.errno = err
        super().__init__(message)


def _check_update_flags(flags: int) -> int:
    """0 when the update flags are acceptable, else -EINVAL (unknown bits, or F_LOCK)."""
    if (flags & ~UpdateFlag.F_LOCK) > UpdateFlag.EXIST or flags & UpdateFlag.F_LOCK:
        return -_errno.EINVAL
    return 0


class Map:
    """Common shape of all maps; subclasses implement the element operations."""

    map_type: int

    def __init__(self, map_type: int, key_size: int, value_size: int, max_entries: int,
                 flags: int = 0):
        self.map_type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags

    def __repr__(self) -> str:
        name = MapType(self.map_type).name
        return (f"<{type(self).__name__} {name} key_size={self.key_size} "
                f"value_size={self.value_size} max_entries={self.max_entries}>")

    def _key(self, key) -> bytes:
        key = bytes(key)
        if len(key) != self.key_size:
            raise ValueError(f"map key is {len(key)} bytes, expected {self.key_size}")
        return key

    def _value(self, value) -> bytes:
        value = bytes(value)
        if len(value) != self.value_size:
            raise ValueError(f"map value is {len(value)} bytes, expected {self.value_size}")
        return value

    def lookup(self, key) -> memoryview | None:
        raise NotImplementedError

    def update(self, key, value, flags: int = 0) -> int:
        raise NotImplementedError

    def delete(self, key) -> int:
        raise NotImplementedError

    def next_key(self, key=None) -> bytes | None:
        raise NotImplementedError

    def __iter__(self):
        key = self.next_key(None)
        while key is not None:
            yield key
            key = self.next_key(key)

    def items(self):
        """(key, value bytes) pairs, in iteration order."""
        for key in list(self):
            value = self.lookup(key)
            if value is not None:
                yield key, bytes(value)


class ArrayMap(Map):
    """BPF_MAP_TYPE_ARRAY: u32 keys 0..max_entries-1, every element always exists (zeroed)."""

    def __init__(self, key_size, value_size, max_entries, flags=0):
        super().__init__(MapType.ARRAY, key_size, value_size, max_entries, flags)
        self._stride = (value_size + 7) & ~7            # the kernel rounds elements up to 8
        self._mem = memoryview(bytearray(self._stride * max_entries))

    def _index(self, key) -> int:
        return int.from_bytes(self._key(key), sys.byteorder)

    def lookup(self, key):
        index = self._index(key)
        if index >= self.max_entries:
            return None
        start = index * self._stride
        return self._mem[start:start + self.value_size]

    def update(self, key, value, flags=0):
        err = _check_update_flags(flags)
        if err:
            return err
        index = self._index(key)
        value = self._value(value)
        if index >= self.max_entries:
            return -_errno.E2BIG
        if flags == UpdateFlag.NOEXIST:
            return -_errno.EEXIST                       # all elements always exist
        start = index * self._stride
        self._mem[start:start + self.value_size] = value
        return 0

    def delete(self, key):
        self._key(key)
        return -_errno.EINVAL

    def next_key(self, key=None):
        index = 0 if key is None else self._index(key)
        if key is None or index >= self.max_entries:
            index = 0
        elif index == self.max_entries - 1:
            return None
        else:
            index += 1
        return index.to_bytes(4, sys.byteorder)

    def __len__(self) -> int:
        return self.max_entries


class HashMap(Map):
    """BPF_MAP_TYPE_HASH: at most max_entries keys; a full map refuses new keys with -E2BIG."""

    def __init__(self, key_size, value_size, max_entries, flags=0, map_type=MapType.HASH):
        super().__init__(map_type, key_size, value_size, max_entries, flags)
        self._elems: OrderedDict[bytes, bytearray] = OrderedDict()

    def _touch(self, key: bytes) -> None:
        """Hook for LRU: mark an element as just used."""

    def _make_room(self) -> bool:
        """Hook for LRU: free a slot in a full map; False when the map cannot."""
        return False

    def lookup(self, key):
        key = self._key(key)
        value = self._elems.get(key)
        if value is None:
            return None
        self._touch(key)
        return memoryview(value)

    def update(self, key, value, flags=0):
        err = _check_update_flags(flags)
        if err:
            return err
        key, value = self._key(key), self._value(value)
        old = self._elems.get(key)
        if old is not None and flags == UpdateFlag.NOEXIST:
            return -_errno.EEXIST
        if old is None and flags == UpdateFlag.EXIST:
            return -_errno.ENOENT
        if old is not None:
            old[:] = value                              # in place: views stay valid
            self._touch(key)
            return 0
        if len(self._elems) >= self.max_entries and not self._make_room():
            return -_errno.E2BIG
        self._elems[key] = bytearray(value)
        return 0

    def delete(self, key):
        key = self._key(key)
        if self._elems.pop(key, None) is None:
            return -_errno.ENOENT
        return 0

    def next_key(self, key=None):
        keys = list(self._elems)
        if not keys:
            return None
        if key is None:
            return keys[0]
        key = self._key(key)
        if key not in self._elems:
            return keys[0]                              # the kernel restarts from the first
        pos = keys.index(key) + 1
        return keys[pos] if pos < len(keys) else None

    def __iter__(self):
        return iter(list(self._elems))

    def __len__(self) -> int:
        return len(self._elems)


class LruHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_HASH: like HASH, but a full map evicts its least recently used element
    (looked up or updated) to make room instead of refusing."""

    def __init__(self, key_size, value_size, max_entries, flags=0):
        super().__init__(key_size, value_size, max_entries, flags, MapType.LRU_HASH)
        self._order: OrderedDict[bytes, None] = OrderedDict()   # oldest first

    def _touch(self, key):
        self._order.move_to_end(key)

    def _make_room(self):
        if not self._order:
            return False
        victim, _ = self._order.popitem(last=False)
        del self._elems[victim]
        return True

    def update(self, key, value, flags=0):
        ret = super().update(key, value, flags)
        if ret == 0:
            self._order[bytes(key)] = None
            self._order.move_to_end(bytes(key))
        return ret

    def delete(self, key):
        ret = super().delete(key)
        if ret == 0:
            self._order.pop(bytes(key), None)
        return ret

    def lru_order(self) -> list[bytes]:
        """Keys from least to most recently used (the eviction order)."""
        return list(self._order)


def _check_common(map_type, key_size, value_size, max_entries, flags) -> None:
    allowed = int(_ALLOWED_FLAGS[map_type])
    if flags & ~allowed:
        raise MapError(f"{map_type.name} map: unsupported map flags {flags:#x}")
    if flags & MapFlag.RDONLY and flags & MapFlag.WRONLY or \
            flags & MapFlag.RDONLY_PROG and flags & MapFlag.WRONLY_PROG:
        raise MapError(f"{map_type.name} map: read-only and write-only flags together")


def _create_array(key_size, value_size, max_entries, flags):
    if max_entries == 0 or key_size != 4 or value_size == 0:
        raise MapError(f"ARRAY map needs key_size 4, value_size > 0 and max_entries > 0, "
                       f"got {key_size}/{value_size}/{max_entries}")
    if value_size > MAX_ARRAY_VALUE:
        raise MapError(f"ARRAY map value_size {value_size} is too large", _errno.E2BIG)
    return ArrayMap(key_size, value_size, max_entries, flags)


def _create_hash(map_type, key_size, value_size, max_entries, flags):
    if map_type == MapType.LRU_HASH and flags & MapFlag.NO_PREALLOC:
        raise MapError("LRU_HASH map cannot be created with BPF_F_NO_PREALLOC", ENOTSUPP)
    if map_type == MapType.HASH and flags & MapFlag.NO_COMMON_LRU:
        raise MapError("HASH map does not take BPF_F_NO_COMMON_LRU")
    if max_entries == 0 or key_size == 0 or value_size == 0:
        raise MapError(f"{map_type.name} map needs key_size, value_size and max_entries > 0, "
                       f"got {key_size}/{value_size}/{max_entries}")
    if key_size + value_size + HTAB_ELEM_HDR >= KMALLOC_MAX_SIZE:
        raise MapError(f"{map_type.name} map element of {key_size}+{value_size} bytes is too "
                       f"large", _errno.E2BIG)
    if map_type == MapType.LRU_HASH:
        return LruHashMap(key_size, value_size, max_entries, flags)
    return HashMap(key_size, value_size, max_entries, flags)


def _create_ringbuf(key_size, value_size, max_entries, flags):
    if key_size or value_size:
        raise MapError("RINGBUF map needs key_size 0 and value_size 0")
    if not valid_size(max_entries):
        raise MapError(f"RINGBUF map size {max_entries} is not a power-of-two multiple of "
                       f"the page size")
    return RingBufMap(max_entries, flags)


def create_map(map_type: int, key_size: int, value_size: int, max_entries: int,
               flags: int = 0) -> Map:
    """A new, empty map of the given type; raises MapError where BPF_MAP_CREATE would fail."""
    try:
        map_type = MapType(map_type)
    except ValueError:
        raise MapError(f"unsupported map type {map_type}") from None
    if min(key_size, value_size, max_entries, flags) < 0:
        raise MapError("map parameters must be non-negative")
    _check_common(map_type, key_size, value_size, max_entries, flags)
    if map_type == MapType.ARRAY:
        return _create_array(key_size, value_size, max_entries, flags)
    if map_type == MapType.RINGBUF:
        return _create_ringbuf(key_size, value_size, max_entries, flags)
    return _create_hash(map_type, key_size, value_size, max_entries, flags)


class RingBufMap(Map, RingBuffer):
    """BPF_MAP_TYPE_RINGBUF: a RingBuffer that is also a map (``max_entries`` = data size).
    Element operations are not supported, as in the kernel."""

    def __init__(self, size: int, flags: int = 0):
        Map.__init__(self, MapType.RINGBUF, 0, 0, size, flags)
        RingBuffer.__init__(self, size)

    def __reduce__(self):
        from multiprocessing.reduction import DupFd
        return _rebuild_map, (self.size, self.flags, DupFd(self.memfd), DupFd(self.eventfd))

    def lookup(self, key):
        return None

    def update(self, key, value, flags=0):
        return -ENOTSUPP

    def delete(self, key):
        return -ENOTSUPP

    def next_key(self, key=None):
        return None

    def __len__(self) -> int:
        return 0


def _rebuild_map(size, flags, memfd, eventfd):
    ring = RingBufMap.__new__(RingBufMap)
    Map.__init__(ring, MapType.RINGBUF, 0, 0, size, flags)
    RingBuffer._attach(ring, size, memfd.detach(), eventfd.detach())
    return ring
