"""filterlang.linktypes against libpcap's own DLT name table (ctypes oracle)."""
import ctypes
import ctypes.util

import pytest

from filterlang import linktypes


def _libpcap():
    for name in ("libpcap.so.0.8", "libpcap.so.1", ctypes.util.find_library("pcap")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_datalink_val_to_name.restype = ctypes.c_char_p
        lib.pcap_datalink_val_to_description.restype = ctypes.c_char_p
        lib.pcap_datalink_name_to_val.argtypes = [ctypes.c_char_p]
        return lib
    pytest.skip("libpcap shared library not found")


def test_every_libpcap_dlt_is_in_the_table():
    lib = _libpcap()
    for dlt in range(0, 1024):
        name = lib.pcap_datalink_val_to_name(dlt)
        if name is None:
            with pytest.raises(LookupError):
                linktypes.lookup(dlt)
            continue
        lt = linktypes.lookup(dlt)
        assert lt.name == name.decode()
        assert lt.description == lib.pcap_datalink_val_to_description(dlt).decode()
        assert linktypes.lookup(lt.name.lower()).dlt == lib.pcap_datalink_name_to_val(name)


@pytest.mark.parametrize("text, dlt", [
    ("EN10MB", 1), ("en10mb", 1), ("DLT_EN10MB", 1), ("dlt_linux_sll", 113), ("1", 1),
    (276, 276), ("IPV6", 229), ("loop", 108),
], ids=str)
def test_lookup_forms(text, dlt):
    assert linktypes.lookup(text).dlt == dlt


@pytest.mark.parametrize("text", ["", "ETHERNET", "DLT_", 9999, "-1"], ids=str)
def test_lookup_unknown(text):
    with pytest.raises(LookupError):
        linktypes.lookup(text)


def test_str_is_tcpdumps_form():
    assert str(linktypes.lookup("EN10MB")) == "EN10MB (Ethernet)"
    assert {lt.name for lt in linktypes.supported()} == {
        "EN10MB", "LINUX_SLL", "LINUX_SLL2", "RAW", "IPV4", "IPV6", "NULL", "LOOP"}
