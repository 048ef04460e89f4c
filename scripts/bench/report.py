"""Turn the benchmark's raw timings into the markdown table for
docs/performance.md.

Usage: report.py TIMES SIZES

TIMES has one line per run: `CASE CLIENT STATUS WALL USER SYS MAXRSS_KIB
[SEEDER_CPU]` (STATUS is `ok` or `failed`; the numbers come from
/usr/bin/time; SEEDER_CPU is the seeder's user + sys seconds during the run). SIZES has
one line per case: `CASE BYTES`. Every figure is the median over the
successful runs of that case and client, each metric taken separately.
"""
import statistics
import sys

MIB = 1 << 20
GIB = 1 << 30

CASES = {
    "single": "{gib} single file from the libtorrent seeder",
    "r2r": "{gib} single file, `riffle seed` to `riffle download`",
    "multi": "{gib} in {files} files from the libtorrent seeder",
}
CLIENTS = {
    "riffle": "riffle",
    "libtorrent": "libtorrent 2.0.8 leecher",
    "null": "null leecher (seeder ceiling)",
}
# (name, compare, bound): speed ratio at least, CPU ratio at most, etc.
TARGET_SPEED_RATIO = 1.25
TARGET_RSS_MIB = 64
TARGET_R2R_MIBS = 600


def load(times_path, sizes_path):
    runs = {}
    for line in open(times_path):
        f = line.split()
        if len(f) == 7:
            f.append("nan")
        if len(f) != 8:
            continue
        case, client, status, *nums = f
        runs.setdefault((case, client), []).append((status, [float(x) for x in nums]))
    sizes = {}
    for line in open(sizes_path):
        case, size = line.split()
        sizes[case] = int(size)
    return runs, sizes


def summarize(runs, size):
    ok = [n for s, n in runs if s == "ok"]
    failed = len(runs) - len(ok)
    if not ok:
        return None, failed
    wall = statistics.median(n[0] for n in ok)
    cpu = statistics.median(n[1] + n[2] for n in ok)
    rss = statistics.median(n[3] for n in ok) / 1024
    seeder = statistics.median(n[4] for n in ok)
    return {
        "n": len(ok),
        "wall": wall,
        "mibs": size / MIB / wall,
        "cpu": cpu,
        "cpu_gib": cpu / (size / GIB),
        "rss": rss,
        "seeder_gib": seeder / (size / GIB),
    }, failed


def paired(runs, a, b):
    """Median over rounds of b's wall / a's wall, pairing the i-th run of
    each (they ran back to back), or None. Less sensitive than the ratio of
    medians to load that comes and goes on a shared machine."""
    ra, rb = runs.get(a, []), runs.get(b, [])
    ratios = [nb[0] / na[0] for (sa, na), (sb, nb) in zip(ra, rb)
              if sa == sb == "ok" and na[0] > 0]
    return statistics.median(ratios) if ratios else None


def verdict(ok):
    return "met" if ok else "**missed**"


def main(argv):
    runs, sizes = load(argv[0], argv[1])
    stats = {}
    print("| case | client | speed | wall | CPU (user + sys) | CPU per GiB | peak RSS | seeder CPU per GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for case, case_name in CASES.items():
        if case not in sizes:
            continue
        size = sizes[case]
        gib = f"{size / GIB:.2f} GiB" if size % GIB else f"{size // GIB} GiB"
        if size < GIB:
            gib = f"{size / MIB:.0f} MiB"
        label = case_name.format(gib=gib, files=sizes.get("multi_files", "?"))
        first = True
        for client, client_name in CLIENTS.items():
            if (case, client) not in runs:
                continue
            s, failed = summarize(runs[(case, client)], sizes[case])
            stats[(case, client)] = s
            head = label if first else ""
            first = False
            if s is None:
                print(f"| {head} | {client_name} | failed ({failed} runs) | | | | | |")
                continue
            note = f" ({failed} failed)" if failed else ""
            print(f"| {head} | {client_name}{note} | {s['mibs']:.0f} MiB/s | {s['wall']:.2f} s "
                  f"| {s['cpu']:.2f} s | {s['cpu_gib']:.2f} s | {s['rss']:.1f} MiB "
                  f"| {s['seeder_gib']:.2f} s |")

    rows = []
    for case in ("single", "multi"):
        r, l, n = (stats.get((case, c)) for c in ("riffle", "libtorrent", "null"))
        name = "single file" if case == "single" else "multi-file"
        if r and l:
            speed = r["mibs"] / l["mibs"]
            cpu = r["cpu_gib"] / l["cpu_gib"] if l["cpu_gib"] else float("nan")
            pair = paired(runs, (case, "riffle"), (case, "libtorrent"))
            pair = f" (paired by round: {pair:.2f}x)" if pair else ""
            rows.append((f"{name}: riffle / libtorrent speed", f"{speed:.2f}x{pair}",
                         f">= {TARGET_SPEED_RATIO}x", verdict(speed >= TARGET_SPEED_RATIO)))
            rows.append((f"{name}: riffle / libtorrent CPU per GiB", f"{cpu:.2f}x",
                         "<= 1.00x", verdict(cpu <= 1.0)))
        if r:
            rows.append((f"{name}: riffle peak RSS", f"{r['rss']:.1f} MiB",
                         f"<= {TARGET_RSS_MIB} MiB", verdict(r["rss"] <= TARGET_RSS_MIB)))
        if r and n:
            rows.append((f"{name}: riffle / null leecher speed",
                         f"{r['mibs'] / n['mibs']:.2f}x", "", ""))
        if l and n:
            rows.append((f"{name}: libtorrent / null leecher speed",
                         f"{l['mibs'] / n['mibs']:.2f}x", "", ""))
    r2r = stats.get(("r2r", "riffle"))
    if r2r:
        rows.append(("riffle to riffle speed", f"{r2r['mibs']:.0f} MiB/s",
                     f">= {TARGET_R2R_MIBS} MiB/s", verdict(r2r["mibs"] >= TARGET_R2R_MIBS)))
        rn = stats.get(("r2r", "null"))
        if rn:
            rows.append(("riffle to riffle: download / null leecher speed",
                         f"{r2r['mibs'] / rn['mibs']:.2f}x", "", ""))
    if rows:
        print()
        print("| ratio | value | target | |")
        print("|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
