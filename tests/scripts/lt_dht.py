#!/usr/bin/python3
"""A DHT of libtorrent nodes on 127.0.0.1 for riffle's tests (tests/tests/dht.rs)
and benchmark (scripts/bench-dht.sh).

usage:
  lt_dht.py NODES [--bootstrap HOST:PORT]...
      Start NODES libtorrent sessions, each with its DHT on, listening on
      127.0.0.1 (TCP and the DHT's UDP on one port); node 0 bootstraps
      from the --bootstrap nodes, every other node from node 0 and them.
      Once every node knows another, prints {"ports": [...]}; then reads
      one JSON command per line on stdin and answers each with one JSON
      line (events of running downloads come as lines of their own):

        {"op": "seed", "node": I, "torrent": PATH, "save": DIR}
            seed TORRENT (its trackers dropped: the DHT is the only route)
        {"op": "magnet", "node": I, "uri": URI, "save": DIR}
            join a swarm from a magnet link; events {"event": "metadata"},
            {"event": "first_byte"}, {"event": "finished", "pieces_verified",
            "num_pieces"}, each with "t": seconds since the command
        {"op": "add_node", "node": I, "addr": "127.0.0.1:PORT"}
        {"op": "seen"}
            what the nodes were asked, from outside: {"get_peers": [hex],
            "announces": [[hex, port]]}
        {"op": "dht_nodes"}
            {"nodes": [routing table size of each node]}

      Runs until stdin closes (at most 15 minutes).

libtorrent's DHT is made to work on one address: it keeps one node per IP
in its routing table and one per /24 in lookups (dht_restrict_routing_ips,
dht_restrict_search_ips), blocks an address that sends more than 5 packets a
second (dht_block_ratelimit) and sends at most 8 kB/s (dht_upload_rate_limit);
all are relaxed here. No LSD, UPnP, NAT-PMP or uTP; encryption off.
"""
import argparse
import json
import queue
import sys
import threading
import time

import libtorrent as lt


def node_settings(bootstrap):
    return {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(bootstrap),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_ignore_dark_internet": False,
        "dht_block_ratelimit": 100000,
        "dht_upload_rate_limit": 10_000_000,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "in_enc_policy": 2,
        "out_enc_policy": 2,
        "allow_multiple_connections_per_ip": True,
        "ssrf_mitigation": False,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.dht_notification,
    }


def out(obj):
    print(json.dumps(obj), flush=True)


class Swarm:
    def __init__(self, n, bootstrap, quiet=False):
        self.quiet = quiet
        self.sessions = []
        self.get_peers = set()
        self.announces = set()
        self.downloads = []  # (handle, started, flags dict)
        first = lt.session(node_settings(bootstrap))
        self.sessions.append(first)
        port = self.wait_port(first)
        for _ in range(1, n):
            self.sessions.append(lt.session(node_settings(["127.0.0.1:%d" % port] + bootstrap)))
        self.ports = [self.wait_port(s) for s in self.sessions]
        # Node 0 learns of the others as they bootstrap from it.
        for s in self.sessions[1:]:
            s.add_dht_node(("127.0.0.1", port))

    @staticmethod
    def wait_port(ses):
        deadline = time.time() + 10
        while ses.listen_port() == 0 and time.time() < deadline:
            time.sleep(0.02)
        return ses.listen_port()

    def dht_nodes(self):
        return [s.status().dht_nodes for s in self.sessions]

    def drain(self):
        for ses in self.sessions:
            for a in ses.pop_alerts():
                name = type(a).__name__
                if not self.quiet:
                    print("%s: %s" % (name, a.message()), file=sys.stderr, flush=True)
                if name == "dht_get_peers_alert":
                    self.get_peers.add(str(a.info_hash))
                elif name == "dht_announce_alert":
                    self.announces.add((str(a.info_hash), a.port))
        for d in self.downloads:
            h, started, seen = d
            st = h.status()
            now = time.time() - started
            if "metadata" not in seen and st.has_metadata:
                seen["metadata"] = now
                out({"event": "metadata", "t": now})
            if "first_byte" not in seen and st.total_payload_download > 0:
                seen["first_byte"] = now
                out({"event": "first_byte", "t": now})
            done = st.state in (lt.torrent_status.seeding, lt.torrent_status.finished)
            if "finished" not in seen and done:
                seen["finished"] = now
                h.force_recheck()
                seen["checking_since"] = time.time()
            if "finished" in seen and "reported" not in seen:
                st = h.status()
                checked = st.state in (lt.torrent_status.seeding, lt.torrent_status.finished)
                if checked and time.time() - seen["checking_since"] > 0.5:
                    seen["reported"] = True
                    out({"event": "finished", "t": seen["finished"],
                         "pieces_verified": st.num_pieces,
                         "num_pieces": h.torrent_file().num_pieces()})

    def command(self, c):
        op = c.get("op")
        if op == "seed":
            ti = lt.torrent_info(c["torrent"])
            atp = lt.add_torrent_params()
            atp.ti = ti
            atp.save_path = c["save"]
            atp.trackers = []
            h = self.sessions[c["node"]].add_torrent(atp)
            h.replace_trackers([])
            out({"ok": True, "info_hash": str(ti.info_hashes().v1)})
        elif op == "magnet":
            atp = lt.parse_magnet_uri(c["uri"])
            atp.save_path = c["save"]
            h = self.sessions[c["node"]].add_torrent(atp)
            self.downloads.append((h, time.time(), {}))
            out({"ok": True})
        elif op == "add_node":
            host, port = c["addr"].rsplit(":", 1)
            self.sessions[c["node"]].add_dht_node((host, int(port)))
            out({"ok": True})
        elif op == "seen":
            out({"get_peers": sorted(self.get_peers),
                 "announces": sorted([h, p] for h, p in self.announces)})
        elif op == "dht_nodes":
            out({"nodes": self.dht_nodes()})
        else:
            out({"error": "unknown op %r" % op})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("nodes", type=int)
    p.add_argument("--bootstrap", action="append", default=[])
    args = p.parse_args()
    swarm = Swarm(args.nodes, args.bootstrap)
    deadline = time.time() + 30
    want = 1 if args.nodes > 1 else 0
    while time.time() < deadline and min(swarm.dht_nodes()) < want:
        swarm.drain()
        time.sleep(0.05)
    if min(swarm.dht_nodes()) < want:
        print("DHT never formed: %s" % swarm.dht_nodes(), file=sys.stderr, flush=True)
        sys.exit(1)
    out({"ports": swarm.ports})
    commands = queue.Queue()

    def read():
        for line in sys.stdin:
            line = line.strip()
            if line:
                commands.put(json.loads(line))
        commands.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 900
    while time.time() < deadline:
        swarm.drain()
        try:
            c = commands.get(timeout=0.02)
        except queue.Empty:
            continue
        if c is None:
            break
        swarm.command(c)


if __name__ == "__main__":
    main()
