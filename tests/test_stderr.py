"""Catching what C code writes to file descriptor 2 for a block, and nothing more."""

import ctypes
import os
import sys
import tempfile
import threading

import pytest

from hdpmusic.runtime.stderr import capture_stderr


def c_fprintf(text):
    """Write as a C library does: through the C runtime's own stderr, past Python."""
    libc = ctypes.CDLL(None)
    stream = ctypes.c_void_p.in_dll(libc, "stderr")
    libc.fputs(text.encode(), stream)
    libc.fflush(stream)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's stderr symbol")
def test_c_output_is_caught_and_the_terminal_restored(capfd):
    print("before", file=sys.stderr)
    with capture_stderr() as said:
        c_fprintf("Note: Trying to resync...\n")
        os.write(2, b"  \n[parse.c:1349] error: Giving up\n")
    c_fprintf("after\n")
    assert said.lines() == ["Note: Trying to resync...", "[parse.c:1349] error: Giving up"]
    assert capfd.readouterr().err == "before\nafter\n"


def test_the_text_is_kept_and_fd_2_restored_when_the_block_raises(capfd):
    with pytest.raises(KeyError), capture_stderr() as said:
        os.write(2, b"complaint\n")
        raise KeyError("x")
    os.write(2, b"visible\n")
    assert said.text == "complaint\n" and capfd.readouterr().err == "visible\n"


def test_a_second_capture_meanwhile_is_left_uncaptured(capfd):
    """Descriptor 2 is the process's: one capture at a time, never two switches nested
    (which could leave it pointing at a closed file); another thread's block runs, its
    writes land in the capture that holds the descriptor."""
    inner = {}

    def other():
        with capture_stderr() as said:
            os.write(2, b"from the thread\n")
        inner["said"] = said

    with capture_stderr() as outer:
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        with capture_stderr() as nested:            # same thread: also uncaptured
            os.write(2, b"nested\n")
    assert inner["said"].text == "" and nested.text == ""
    assert outer.lines() == ["from the thread", "nested"]
    with capture_stderr() as again:                  # released: captures again
        os.write(2, b"again\n")
    assert again.text == "again\n" and capfd.readouterr().err == ""


def test_without_a_temporary_file_the_block_runs_uncaptured(monkeypatch, capfd):
    """A read-only temporary folder must not stop a decode: nothing is caught, the
    writes reach the terminal as before."""
    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with capture_stderr() as said:
        os.write(2, b"still shown\n")
    assert said.text == "" and capfd.readouterr().err == "still shown\n"
    monkeypatch.undo()
    with capture_stderr() as again:                  # the lock was released
        os.write(2, b"caught\n")
    assert again.text == "caught\n"
