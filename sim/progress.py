"""Progress lines for long runs: ``[i/N] what  elapsed 0:42, ETA 1:10`` on stderr.

The ETA is the mean time of the steps done so far times the steps left: crude for steps of
unequal cost (a Verilator build against a cached one), and honest about it by being recomputed
at every step. Nothing is printed on stdout, which stays for the command's result.
"""

import sys
import time


def _clock(seconds):
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts ``total`` steps of a run named ``prefix``; :meth:`step` announces the next one."""

    def __init__(self, total, prefix, stream=None, clock=time.perf_counter):
        self.total, self.prefix = total, prefix
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.done = 0

    @property
    def elapsed(self):
        return self.clock() - self.started

    def step(self, message):
        """Announce step ``done + 1`` of ``total`` (the previous one has finished)."""
        elapsed = self.elapsed
        eta = (f", ETA {_clock(elapsed / self.done * (self.total - self.done))}" if self.done else "")
        self.done = min(self.done + 1, self.total)
        print(f"{self.prefix}: [{self.done}/{self.total}] {message}  (elapsed {_clock(elapsed)}{eta})",
              file=self.stream, flush=True)

    def note(self, message):
        """A line that is not a step (e.g. the result's path)."""
        print(f"{self.prefix}: {message}  (elapsed {_clock(self.elapsed)})", file=self.stream, flush=True)
