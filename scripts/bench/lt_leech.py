"""libtorrent's own leecher for the benchmark: a fresh process per run.

Usage: lt_leech.py TORRENT SAVE_PATH ADDR:PORT

Adds the torrent (default libtorrent settings, pinned to loopback), dials
the seeder, and exits 0 once every piece is downloaded, verified and written
out (libtorrent hashes each piece as it completes). Same work as
`riffle download`.
"""
import sys
import time

import libtorrent as lt

from lt_common import loopback


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: lt_leech.py TORRENT SAVE_PATH ADDR:PORT")
    torrent, save_path, peer = argv
    host, port = peer.rsplit(":", 1)
    ses = lt.session(loopback(lt.default_settings()))
    h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save_path})
    h.connect_peer((host, int(port)))
    deadline = time.time() + 600
    while True:
        alert = ses.wait_for_alert(1000)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_error_alert):
                sys.exit(f"libtorrent: {a.message()}")
        if h.status().is_seeding:
            break
        if time.time() > deadline:
            sys.exit("leecher: timed out")
        if alert is None and h.status().num_peers == 0:
            h.connect_peer((host, int(port)))
    # Wait for the disk threads to write everything out before leaving, as
    # the session destructor would; pausing flushes the disk cache.
    h.pause()
    h.flush_cache()
    del h
    del ses


if __name__ == "__main__":
    main(sys.argv[1:])
