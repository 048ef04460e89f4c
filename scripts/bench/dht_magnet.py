#!/usr/bin/python3
"""Time from a bare magnet link to the first verified piece (issue 20):
riffle against libtorrent, in the same run, on the same loopback DHT.

usage: dht_magnet.py RIFFLE RUNS [NODES] [MIB]

A DHT of NODES libtorrent nodes (tests/scripts/lt_dht.py) forms on
127.0.0.1 and node 0 seeds a MIB-MiB file, announced on the DHT only.
Each run starts a newcomer that knows one DHT node (a different one each
run) and nothing else, with no saved routing table:
  - riffle: `riffle download magnet:?xt=urn:btih:HASH --dht-bootstrap NODE`,
    a fresh process; times from its spawn to its log's first `piece
    verified` line (and `metadata fetched` on stderr);
  - libtorrent: a fresh session with the same bootstrap node, the same
    magnet; times from the session's creation to its first
    piece_finished_alert (and metadata_received_alert).
Runs alternate; medians and every run are printed as JSON and a markdown
table.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "scripts"))
import lt_dht  # noqa: E402  (the tests' libtorrent DHT harness)
import libtorrent as lt  # noqa: E402

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def stamp(line):
    m = STAMP.match(line)
    if not m:
        return None
    return datetime.strptime(m.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=timezone.utc).timestamp()


def riffle_run(riffle, magnet, node, scratch):
    out = tempfile.mkdtemp(dir=scratch)
    state = tempfile.mkdtemp(dir=scratch)
    env = dict(os.environ, RIFFLE_LOG="debug", NO_COLOR="1", XDG_STATE_HOME=state,
               RIFFLE_DHT_BOOTSTRAP="")
    log_path = os.path.join(out, "riffle.log")
    start = time.time()
    with open(log_path, "w") as log:
        p = subprocess.Popen([riffle, "download", magnet, "-o", out, "--listen", "127.0.0.1:0",
                              "--dht-bootstrap", node],
                             stdout=subprocess.DEVNULL, stderr=log, env=env)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            raise SystemExit("riffle did not finish within 120 s; log: %s" % log_path)
    metadata = first = None
    with open(log_path) as log:
        for line in log:
            t = stamp(line)
            if metadata is None and "metadata fetched" in line and t is not None:
                metadata = t - start
            if first is None and "piece verified" in line and t is not None:
                first = t - start
    if first is None:
        raise SystemExit("riffle verified no piece; log: %s" % log_path)
    return {"metadata": metadata, "first_piece": first, "exit": p.returncode}


def lt_run(magnet, node, scratch):
    out = tempfile.mkdtemp(dir=scratch)
    start = time.time()
    settings = lt_dht.node_settings([node])
    settings["alert_mask"] = (lt.alert.category_t.status_notification
                              | lt.alert.category_t.piece_progress_notification
                              | lt.alert.category_t.error_notification)
    ses = lt.session(settings)
    atp = lt.parse_magnet_uri(magnet)
    atp.save_path = out
    ses.add_torrent(atp)
    metadata = first = None
    deadline = start + 120
    while first is None and time.time() < deadline:
        ses.wait_for_alert(5)
        for a in ses.pop_alerts():
            name = type(a).__name__
            if name == "metadata_received_alert" and metadata is None:
                metadata = time.time() - start
            elif name == "piece_finished_alert" and first is None:
                first = time.time() - start
    del ses
    if first is None:
        raise SystemExit("libtorrent verified no piece within 120 s")
    return {"metadata": metadata, "first_piece": first}


def main():
    riffle, runs = sys.argv[1], int(sys.argv[2])
    nodes = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    mib = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    scratch = tempfile.mkdtemp(prefix="riffle-dht-bench-")
    seed_dir = os.path.join(scratch, "seed")
    os.makedirs(seed_dir)
    data = os.path.join(seed_dir, "payload.bin")
    with open(data, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    fs = lt.file_storage()
    lt.add_files(fs, data)
    ct = lt.create_torrent(fs, 256 * 1024, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, seed_dir)
    torrent = os.path.join(scratch, "t.torrent")
    with open(torrent, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    info_hash = str(lt.torrent_info(torrent).info_hashes().v1)
    magnet = "magnet:?xt=urn:btih:%s" % info_hash
    swarm = lt_dht.Swarm(nodes, [], quiet=True)
    deadline = time.time() + 60
    swarm.command({"op": "seed", "node": 0, "torrent": torrent, "save": seed_dir})
    while time.time() < deadline and not any(h == info_hash for h, _ in swarm.announces):
        swarm.drain()
        time.sleep(0.05)
    if not any(h == info_hash for h, _ in swarm.announces):
        raise SystemExit("the seeder never announced itself on the DHT")
    results = {"riffle": [], "libtorrent": []}
    for i in range(runs):
        node = "127.0.0.1:%d" % swarm.ports[1 + i % (nodes - 1)]
        for who in (["riffle", "libtorrent"] if i % 2 == 0 else ["libtorrent", "riffle"]):
            swarm.drain()
            r = riffle_run(riffle, magnet, node, scratch) if who == "riffle" \
                else lt_run(magnet, node, scratch)
            r["bootstrap"] = node
            results[who].append(r)
            print("run %d %s: %s" % (i + 1, who, json.dumps(r)), file=sys.stderr, flush=True)
            swarm.drain()
    med = {w: {k: statistics.median(r[k] for r in rs if r[k] is not None)
               for k in ("metadata", "first_piece")} for w, rs in results.items()}
    print(json.dumps({"nodes": nodes, "mib": mib, "runs": runs, "median": med,
                      "all": results}), flush=True)
    print("\n| %d runs, %d-node libtorrent DHT on loopback | metadata (median) | first verified piece (median) |" % (runs, nodes))
    print("|---|---|---|")
    for w in ("riffle", "libtorrent"):
        print("| %s | %.0f ms | %.0f ms |" % (w, med[w]["metadata"] * 1000, med[w]["first_piece"] * 1000))
    ratio = med["libtorrent"]["first_piece"] / med["riffle"]["first_piece"]
    print("\nriffle reaches its first piece %.2fx as fast as libtorrent (libtorrent time / riffle time)" % ratio)


if __name__ == "__main__":
    main()
