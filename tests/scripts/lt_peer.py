"""A libtorrent peer on 127.0.0.1 for riffle's wire interop tests.

usage:
  lt_peer.py seed TORRENT SAVE_PATH
      Seed the data in SAVE_PATH. Prints {"port": N} once the torrent is
      seeding, then waits (printing nothing more) until stdin closes or
      60 s pass.
  lt_peer.py leech TORRENT SAVE_PATH PORT
      Download into SAVE_PATH from the one peer 127.0.0.1:PORT. When the
      torrent is finished, re-check the data with libtorrent's own hash
      check and print {"finished": bool, "num_pieces": total,
      "pieces_verified": n, "state": str, "errors": [...], "peer_clients":
      [...]} and exit. Gives up after 30 s (finished false).

Both print diagnostics (alerts) to stderr. No DHT, LSD, UPnP or NAT-PMP;
protocol encryption is off (riffle does not speak MSE/PE yet).
"""
import json
import sys
import threading
import time

import libtorrent as lt


def session():
    settings = lt.high_performance_seed()
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
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.peer_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.connect_notification,
    })
    return lt.session(settings)


def drain(ses, errors):
    """Log every pending alert to stderr; return their type names."""
    names = []
    for a in ses.pop_alerts():
        msg = "%s: %s" % (type(a).__name__, a.message())
        print(msg, file=sys.stderr, flush=True)
        names.append(type(a).__name__)
        if a.category() & lt.alert.category_t.error_notification:
            errors.append(msg)
    return names


def wait_port(ses):
    deadline = time.time() + 10
    while ses.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.02)
    return ses.listen_port()


def seed(torrent, save_path):
    ses = session()
    ti = lt.torrent_info(torrent)
    h = ses.add_torrent({"ti": ti, "save_path": save_path})
    errors = []
    deadline = time.time() + 20
    while time.time() < deadline and h.status().state != lt.torrent_status.seeding:
        drain(ses, errors)
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
        drain(ses, errors)
        time.sleep(0.05)


def leech(torrent, save_path, port):
    ses = session()
    ti = lt.torrent_info(torrent)
    h = ses.add_torrent({
        "ti": ti,
        "save_path": save_path,
        "peers": [("127.0.0.1", port)],
    })
    errors = []
    clients = set()
    done = (lt.torrent_status.seeding, lt.torrent_status.finished)
    deadline = time.time() + 30
    last_connect = time.time()
    while time.time() < deadline and h.status().state not in done:
        drain(ses, errors)
        for p in h.get_peer_info():
            clients.add(p.client.decode("utf-8", "replace")
                        if isinstance(p.client, bytes) else p.client)
        if time.time() - last_connect > 2 and not h.get_peer_info():
            # Not connected: dial again rather than wait for the retry timer.
            h.connect_peer(("127.0.0.1", port))
            last_connect = time.time()
        time.sleep(0.02)
    finished = h.status().state in done
    verified = 0
    if finished:
        # libtorrent's own hash check of what it wrote.
        drain(ses, errors)
        h.force_recheck()
        check_deadline = time.time() + 20
        while time.time() < check_deadline:
            if "torrent_checked_alert" in drain(ses, errors):
                break
            time.sleep(0.02)
        verified = h.status().num_pieces
    drain(ses, errors)
    print(json.dumps({
        "finished": finished,
        "num_pieces": ti.num_pieces(),
        "pieces_verified": verified,
        "state": str(h.status().state),
        "errors": errors,
        "peer_clients": sorted(clients),
    }), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "seed":
        seed(sys.argv[2], sys.argv[3])
    elif mode == "leech":
        leech(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
