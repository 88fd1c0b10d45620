"""On-chip buffers: an Amaranth :class:`~amaranth.lib.memory.Memory`, or one register for a
buffer of one word.

A Memory of depth 1 has 0-bit address ports (``ceil_log2(1) == 0``), and so has every address
counter sized from them; the Verilog backend declares a 0-bit wire as ``[-1:0]``, which Verilator
reads as a 2-bit ascending range (``-Wall``: ASCRANGE) and fails to build. An M = 1 GEMV or a
1x1x1 GEMM sizes such a buffer. One word needs no address, so it is a register here, with the
Memory's port interface (1-bit ``addr``, ignored: every address selects the one word, as a wider
address is truncated to a Memory's address bits) so the sequencer does not care which it got.
Buffers of two or more words are plain Memories (their Verilog is unchanged).
"""

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory, ReadPort, WritePort


def buffer_memory(shape, depth):
    """A buffer of ``depth`` words of ``shape``: a :class:`Memory` (depth >= 2) or a
    :class:`WordRegister` (depth 1); both give ``read_port``/``write_port`` with Memory's
    timing (one-cycle synchronous read, write at the clock edge)."""
    if depth == 1:
        return WordRegister(shape)
    return Memory(shape=shape, depth=depth, init=[])


class WordRegister(Elaboratable):
    """A one-word buffer with :class:`Memory`'s port interface and timing.

    ``read_port(transparent_for=...)``: ``data`` takes the word at the clock edge where ``en`` is
    high (``en`` defaults to 1), or the data a port of ``transparent_for`` writes in that cycle.
    ``write_port()``: the word takes ``data`` at the clock edge where ``en`` is high (a later
    port wins a same-cycle write; the accelerator gives each buffer one write port). Ports are
    unsigned ``shape``-bit; ``addr`` is 1 bit and ignored. The word resets to 0 with the domain
    (a Memory's contents do not reset; no run reads a buffer word before writing it).
    """

    depth = 1

    def __init__(self, shape):
        self.shape = shape
        self._read_ports, self._write_ports = [], []

    def read_port(self, *, transparent_for=()):
        port = ReadPort(ReadPort.Signature(addr_width=1, shape=self.shape), memory=None,
                        domain="sync", transparent_for=transparent_for,
                        path=(f"rp{len(self._read_ports)}",))
        self._read_ports.append(port)
        return port

    def write_port(self):
        port = WritePort(WritePort.Signature(addr_width=1, shape=self.shape), memory=None,
                         domain="sync", path=(f"wp{len(self._write_ports)}",))
        self._write_ports.append(port)
        return port

    def elaborate(self, platform):
        m = Module()
        word = Signal(self.shape)
        for wp in self._write_ports:
            with m.If(wp.en):
                m.d.sync += word.eq(wp.data)
        for rp in self._read_ports:
            with m.If(rp.en):
                m.d.sync += rp.data.eq(word)
                for wp in rp.transparent_for:
                    with m.If(wp.en):
                        m.d.sync += rp.data.eq(wp.data)
        return m
