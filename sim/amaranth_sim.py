"""Run a prepared GEMM job in Amaranth's own simulator: no C++ compiler, fine for small arrays
(~7k cycles/s for 4x4). Same host-port protocol as :class:`sim.tb.AcceleratorTB`."""

import time

from amaranth.sim import Simulator

from hw.accelerator import HOST_ACT, HOST_OUT, HOST_WEIGHT

from .run import SimulationError, prepare_gemm


def simulate_gemm_amaranth(design, operands):
    """Run one GEMM (``operands`` from ``design.kind.operands``) on ``design`` in Amaranth's
    simulator; the same :class:`sim.run.SimResult` as the Verilator run."""
    job = prepare_gemm(design, operands)
    accel = design.accelerator()
    layout = job.layout
    state = {}

    async def testbench(ctx):
        for sel, words in ((HOST_ACT, job.act_words), (HOST_WEIGHT, job.weight_words),
                           *job.extra_words):
            ctx.set(accel.host_sel, sel)
            ctx.set(accel.host_we, 1)
            for addr, word in enumerate(words):
                ctx.set(accel.host_addr, addr)
                ctx.set(accel.host_wdata, word)
                await ctx.tick()
        ctx.set(accel.host_we, 0)
        ctx.set(accel.cfg_stream_len, layout.stream_len)
        ctx.set(accel.cfg_fold_outer, layout.fold_outer)
        ctx.set(accel.cfg_fold_inner, layout.fold_inner)
        ctx.set(accel.start, 1)
        await ctx.tick()
        ctx.set(accel.start, 0)
        began = time.perf_counter()
        for _ in range(job.watchdog_cycles):
            if ctx.get(accel.done):
                break
            await ctx.tick()
        else:
            raise SimulationError(f"watchdog: done not raised within {job.watchdog_cycles} cycles")
        state["seconds"] = time.perf_counter() - began
        state["cycles"] = ctx.get(accel.cycles)
        ctx.set(accel.host_sel, HOST_OUT)
        words = []
        for addr in range(layout.out_depth):
            ctx.set(accel.host_addr, addr)
            await ctx.tick()
            words.append(ctx.get(accel.host_rdata))
        state["words"] = words

    sim = Simulator(accel)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    t0 = time.perf_counter()
    sim.run()
    return job.result(state["words"], state["cycles"], sim_seconds=state["seconds"],
                      wall_seconds=time.perf_counter() - t0, build_seconds=0.0)
