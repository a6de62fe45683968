"""Addresses of Python buffers for machine code."""
from __future__ import annotations

import ctypes


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int),
                ("ndim", ctypes.c_int), ("format", ctypes.c_char_p),
                ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


_get = ctypes.pythonapi.PyObject_GetBuffer
_get.argtypes = (ctypes.py_object, ctypes.c_void_p, ctypes.c_int)
_release = ctypes.pythonapi.PyBuffer_Release
_release.argtypes = (ctypes.c_void_p,)


class Pinned:
    """The address of a buffer object's memory (bytes, bytearray, mmap, memoryview), held:
    while pinned the buffer stays exported, so an mmap can't be closed nor a bytearray
    resized under the machine code. release() ends it."""

    def __init__(self, obj):
        self.obj = obj
        self._view = _PyBuffer()
        _get(obj, ctypes.byref(self._view), 0)
        self.address = self._view.buf or 0

    def release(self) -> None:
        if self._view is not None:
            _release(ctypes.byref(self._view))
            self._view = None
