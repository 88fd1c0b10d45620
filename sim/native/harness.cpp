// Native Verilator harness for the accelerator top (benchmark reference for the cocotb path).
//
// Usage: harness JOB RESULT
//
// JOB is a text file written by sim/native.py:
//   stream_len <n>
//   fold_outer <n>
//   fold_inner <n>
//   out_words <n>          (output buffer words to read back)
//   watchdog_cycles <n>
//   act_words <count>      followed by <count> lines of hex words (no 0x prefix)
//   weight_words <count>   followed by <count> lines of hex words
//
// The sequence follows sim/tb.py exactly: inputs change after a falling edge and are sampled at
// the next rising edge; reset for 2 cycles; one buffer word written per clock; cfg_* set, start
// pulsed for one cycle; then clock until `done` rises (watchdog); one more falling edge; read the
// output buffer (one-cycle read latency). Only the start..done phase is timed
// (std::chrono::steady_clock), matching sim_seconds of the cocotb path.
//
// RESULT is written as:
//   cycles <cycles register>
//   run_seconds <seconds>
//   run_clocks <clock cycles stepped between start and done>
//   out_words <count>      followed by <count> lines of hex words
//
// Exit code 0 on success, 2 on a watchdog timeout, 1 on other errors (message on stderr).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

using Word = std::vector<uint32_t>;  // little-endian 32-bit limbs

// Called by $time in Verilog (not used by this design, but required by older runtimes).
double sc_time_stamp() { return 0; }

[[noreturn]] static void fail(const std::string& msg, int code = 1) {
    std::fprintf(stderr, "harness: %s\n", msg.c_str());
    std::exit(code);
}

static Word parse_hex(const std::string& text) {
    Word word;
    size_t end = text.size();
    while (end > 0) {
        size_t begin = end >= 8 ? end - 8 : 0;
        word.push_back(static_cast<uint32_t>(std::stoul(text.substr(begin, end - begin), nullptr, 16)));
        end = begin;
    }
    if (word.empty()) word.push_back(0);
    return word;
}

static std::string format_hex(const Word& word) {
    size_t top = word.size();
    while (top > 1 && word[top - 1] == 0) --top;
    std::string text;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%x", word[top - 1]);
    text += buf;
    for (size_t i = top - 1; i-- > 0;) {
        std::snprintf(buf, sizeof buf, "%08x", word[i]);
        text += buf;
    }
    return text;
}

// Ports up to 64 bits are plain integers (CData/SData/IData/QData) ...
template <typename T>
static void set_port(T& port, const Word& word) {
    static_assert(sizeof(T) <= 8, "narrow port");
    uint64_t value = word.empty() ? 0 : word[0];
    if (sizeof(T) > 4 && word.size() > 1) value |= static_cast<uint64_t>(word[1]) << 32;
    port = static_cast<T>(value);
}

template <typename T>
static Word get_port(const T& port) {
    static_assert(sizeof(T) <= 8, "narrow port");
    uint64_t value = static_cast<uint64_t>(port);
    return Word{static_cast<uint32_t>(value), static_cast<uint32_t>(value >> 32)};
}

// ... wider ones are VlWide<N>: N 32-bit EData limbs, least significant first.
template <std::size_t N>
static void set_port(VlWide<N>& port, const Word& word) {
    for (std::size_t i = 0; i < N; ++i) port[i] = i < word.size() ? word[i] : 0;
}

template <std::size_t N>
static Word get_port(const VlWide<N>& port) {
    Word word(N);
    for (std::size_t i = 0; i < N; ++i) word[i] = port[i];
    return word;
}

struct Job {
    uint64_t stream_len = 0, fold_outer = 0, fold_inner = 0, out_words = 0, watchdog_cycles = 0;
    std::vector<Word> act_words, weight_words;
};

static uint64_t read_key(std::istream& in, const char* key) {
    std::string name;
    uint64_t value;
    if (!(in >> name >> value) || name != key) fail(std::string("job file: expected ") + key);
    return value;
}

static std::vector<Word> read_words(std::istream& in, const char* key) {
    uint64_t count = read_key(in, key);
    std::vector<Word> words;
    words.reserve(count);
    std::string hex;
    for (uint64_t i = 0; i < count; ++i) {
        if (!(in >> hex)) fail(std::string("job file: too few ") + key);
        words.push_back(parse_hex(hex));
    }
    return words;
}

static Job read_job(const char* path) {
    std::ifstream in(path);
    if (!in) fail(std::string("cannot open job file ") + path);
    Job job;
    job.stream_len = read_key(in, "stream_len");
    job.fold_outer = read_key(in, "fold_outer");
    job.fold_inner = read_key(in, "fold_inner");
    job.out_words = read_key(in, "out_words");
    job.watchdog_cycles = read_key(in, "watchdog_cycles");
    job.act_words = read_words(in, "act_words");
    job.weight_words = read_words(in, "weight_words");
    return job;
}

static constexpr int HOST_ACT = 0, HOST_WEIGHT = 1, HOST_OUT = 2;  // hw/accelerator.py

struct Harness {
    std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    std::unique_ptr<Vtop> top{new Vtop{context.get(), ""}};

    // The cocotb clock starts high; inputs are driven while it is low (after a falling edge).
    void rise() { top->clk = 1; top->eval(); }
    void fall() { top->clk = 0; top->eval(); }
    void cycle() { rise(); fall(); }  // == `await FallingEdge(dut.clk)` in sim/tb.py

    void reset(int cycles = 2) {
        top->clk = 1;
        top->start = 0;
        top->host_we = 0;
        top->host_sel = 0;
        top->host_addr = 0;
        set_port(top->host_wdata, Word{0});
        top->rst = 1;
        top->eval();  // t=0: the clock starts high
        fall();       // first falling edge (t=5 ns in cocotb)
        for (int i = 1; i < cycles; ++i) cycle();
        top->rst = 0;
        cycle();
    }

    void load(int sel, const std::vector<Word>& words) {
        top->host_sel = sel;
        top->host_we = 1;
        for (size_t addr = 0; addr < words.size(); ++addr) {
            top->host_addr = addr;
            set_port(top->host_wdata, words[addr]);
            cycle();
        }
        top->host_we = 0;
    }

    std::vector<Word> read(int sel, uint64_t count) {
        top->host_sel = sel;
        std::vector<Word> words;
        words.reserve(count);
        for (uint64_t addr = 0; addr < count; ++addr) {
            top->host_addr = addr;
            cycle();
            words.push_back(get_port(top->host_rdata));
        }
        return words;
    }
};

int main(int argc, char** argv) {
    if (argc != 3) fail("usage: harness JOB RESULT");
    Job job = read_job(argv[1]);
    Harness h;
    h.reset();
    h.load(HOST_ACT, job.act_words);
    h.load(HOST_WEIGHT, job.weight_words);

    auto* top = h.top.get();
    top->cfg_stream_len = job.stream_len;
    top->cfg_fold_outer = job.fold_outer;
    top->cfg_fold_inner = job.fold_inner;
    top->start = 1;
    h.cycle();
    top->start = 0;

    // Timed phase: clock until `done` rises (cocotb: `await First(RisingEdge(dut.done), timer)`).
    const auto began = std::chrono::steady_clock::now();
    uint64_t clocks = 0;
    bool done = false;
    while (clocks < job.watchdog_cycles) {
        h.rise();
        ++clocks;
        if (top->done) { done = true; break; }
        h.fall();
    }
    const auto ended = std::chrono::steady_clock::now();
    if (!done) {
        fail("watchdog: done not raised within " + std::to_string(job.watchdog_cycles) + " cycles", 2);
    }
    h.fall();
    const uint64_t cycles = top->cycles;
    const double seconds = std::chrono::duration<double>(ended - began).count();

    std::vector<Word> out = h.read(HOST_OUT, job.out_words);
    top->final();

    std::ofstream result(argv[2]);
    if (!result) fail(std::string("cannot write result file ") + argv[2]);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9f", seconds);
    result << "cycles " << cycles << "\n"
           << "run_seconds " << buf << "\n"
           << "run_clocks " << clocks << "\n"
           << "out_words " << out.size() << "\n";
    for (const Word& word : out) result << format_hex(word) << "\n";
    result.close();
    if (!result) fail(std::string("error writing result file ") + argv[2]);
    return 0;
}
