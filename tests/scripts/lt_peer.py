"""A libtorrent peer on 127.0.0.1 for riffle's wire interop tests.

usage:
  lt_peer.py seed TORRENT SAVE_PATH [PRESET]
      Seed the data in SAVE_PATH, with libtorrent's settings PRESET
      ("high_performance_seed", the default, or "default"). Prints {"port": N} once the torrent is
      seeding, then waits until stdin closes (or 60 s pass) and prints a
      report (below) with "total_payload_upload".
  lt_peer.py leech TORRENT SAVE_PATH PORT
      Download into SAVE_PATH from the one peer 127.0.0.1:PORT. When the
      torrent is finished, re-check the data with libtorrent's own hash
      check and print a report with "finished", "num_pieces",
      "pieces_verified" (after the re-check) and "state", then exit. Gives
      up after 30 s (finished false).

A report also holds libtorrent's own view of the wire, from its peer log:
"received" (names of the messages it parsed from its peers), and
"ext_handshakes" (the extended handshakes it parsed, as it prints them),
"disconnects" (why peers were disconnected) and "errors" (error alerts).

Alerts go to stderr. No DHT, LSD, UPnP or NAT-PMP; no uTP; protocol
encryption off (riffle does not speak MSE/PE yet). LT_PEER_SETTINGS (JSON)
overrides settings for experiments.
"""
import json
import re
import os
import sys
import threading
import time

import libtorrent as lt


def session(preset):
    if preset == "default":
        settings = lt.default_settings()
    elif preset == "high_performance_seed":
        settings = lt.high_performance_seed()
    else:
        sys.exit("unknown preset %r" % preset)
    settings.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "in_enc_policy": 2,   # pe_disabled
        "out_enc_policy": 2,  # pe_disabled
        "allow_multiple_connections_per_ip": True,
        # The peer log is thousands of alerts a second: none may be dropped.
        "alert_queue_size": 1_000_000,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.peer_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.connect_notification
        | lt.alert.category_t.peer_log_notification,
    })
    # Extra settings for experiments, e.g. LT_PEER_SETTINGS='{"out_enc_policy": 1}'.
    settings.update(json.loads(os.environ.get("LT_PEER_SETTINGS", "{}")))
    return lt.session(settings)


# Peer-log lines too frequent to be worth printing.
NOISY = ("SEND_BUFFER_WATERMARK", "ASYNC_", "CORKED_WRITE", "WROTE", "READ [",
         "ON_RECEIVE_DATA", "ON_SEND_DATA", "AVAILABLE", "SYNC_READ", "FILE_ASYNC",
         "PIECE [", "REQUEST [", "HAVE [", "MESSAGE [", "INVOKE_FN")
INCOMING = re.compile(r"<== ([A-Z_]+) \[ ?(.*) \]$")


class Log:
    """What libtorrent said: alerts to stderr, plus what the tests check."""

    def __init__(self):
        self.errors = []          # error alerts
        self.disconnects = []     # peer_disconnected_alert messages
        self.received = set()     # names of messages libtorrent got from its peers
        self.ext_handshakes = []  # the extended handshakes it got, as it printed them

    def drain(self, ses):
        """Consume pending alerts; return their type names."""
        names = []
        for a in ses.pop_alerts():
            name = type(a).__name__
            names.append(name)
            msg = a.message()
            if name == "peer_log_alert":
                m = INCOMING.search(msg)
                if m:
                    self.received.add(m.group(1))
                    if m.group(1) == "EXTENDED_HANDSHAKE":
                        self.ext_handshakes.append(m.group(2))
                if any(n in msg for n in NOISY):
                    continue
            elif name == "peer_disconnected_alert":
                self.disconnects.append(msg)
            print("%s: %s" % (name, msg), file=sys.stderr, flush=True)
            if a.category() & lt.alert.category_t.error_notification:
                self.errors.append("%s: %s" % (name, msg))
        return names

    def report(self):
        return {
            "errors": self.errors,
            "disconnects": self.disconnects,
            "received": sorted(self.received),
            "ext_handshakes": self.ext_handshakes,
        }


def wait_port(ses):
    deadline = time.time() + 10
    while ses.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.02)
    return ses.listen_port()


def seed(torrent, save_path, preset):
    ses = session(preset)
    ti = lt.torrent_info(torrent)
    params = {"ti": ti, "save_path": save_path}
    # LT_PEER_SUPER_SEED=1: BEP 16 super-seeding (reveals pieces one by one).
    if os.environ.get("LT_PEER_SUPER_SEED"):
        params["flags"] = lt.torrent_flags.super_seeding | lt.torrent_flags.auto_managed
    h = ses.add_torrent(params)
    log = Log()
    deadline = time.time() + 20
    while time.time() < deadline and h.status().state != lt.torrent_status.seeding:
        log.drain(ses)
        time.sleep(0.02)
    st = h.status()
    if st.state != lt.torrent_status.seeding:
        print("not seeding: state %s, %d/%d pieces" % (st.state, st.num_pieces, ti.num_pieces()),
              file=sys.stderr, flush=True)
        sys.exit(1)
    print(json.dumps({"port": wait_port(ses)}), flush=True)
    # Stay up until the test closes our stdin (or a minute passes).
    closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
    deadline = time.time() + 60
    while not closed.is_set() and time.time() < deadline:
        log.drain(ses)
        time.sleep(0.02)
    time.sleep(0.1)
    log.drain(ses)
    report = log.report()
    report["total_payload_upload"] = h.status().total_payload_upload
    print(json.dumps(report), flush=True)


def leech(torrent, save_path, port):
    ses = session("high_performance_seed")
    ti = lt.torrent_info(torrent)
    h = ses.add_torrent({
        "ti": ti,
        "save_path": save_path,
        "peers": [("127.0.0.1", port)],
    })
    log = Log()
    done = (lt.torrent_status.seeding, lt.torrent_status.finished)
    deadline = time.time() + 30
    last_connect = time.time()
    while time.time() < deadline and h.status().state not in done:
        log.drain(ses)
        if time.time() - last_connect > 2 and not h.get_peer_info():
            # Not connected: dial again rather than wait for the retry timer.
            h.connect_peer(("127.0.0.1", port))
            last_connect = time.time()
        time.sleep(0.02)
    finished = h.status().state in done
    # Before the re-check, which resets the counters.
    downloaded = h.status().total_payload_download
    verified = 0
    if finished:
        # libtorrent's own hash check of what it wrote.
        log.drain(ses)
        h.force_recheck()
        check_deadline = time.time() + 20
        while time.time() < check_deadline:
            if "torrent_checked_alert" in log.drain(ses):
                break
            time.sleep(0.02)
        verified = h.status().num_pieces
    log.drain(ses)
    report = log.report()
    report.update({
        "finished": finished,
        "num_pieces": ti.num_pieces(),
        "pieces_verified": verified,
        "state": str(h.status().state),
        "total_payload_download": downloaded,
    })
    print(json.dumps(report), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "seed":
        seed(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "high_performance_seed")
    elif mode == "leech":
        leech(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
