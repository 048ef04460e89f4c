"""The benchmark's libtorrent seeder.

Usage: lt_seed.py TORRENT SAVE_PATH [TORRENT SAVE_PATH]...

One session with lt.high_performance_seed() settings on loopback seeds every
torrent given (each checked against its data first). Once all are seeding it
prints `port N` on stdout (flushed) and seeds until SIGTERM/SIGINT or until
the process that started it is gone (so a killed bench leaves no seeder).
"""
import os
import signal
import sys
import threading
import time

import libtorrent as lt

from lt_common import loopback


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        sys.exit("usage: lt_seed.py TORRENT SAVE_PATH [TORRENT SAVE_PATH]...")
    ses = lt.session(loopback(lt.high_performance_seed()))
    handles = []
    for torrent, save_path in zip(argv[0::2], argv[1::2]):
        handles.append(ses.add_torrent({"ti": lt.torrent_info(torrent),
                                        "save_path": save_path}))
    deadline = time.time() + 300
    while not all(h.status().is_seeding for h in handles):
        for a in ses.pop_alerts():
            if a.category() & lt.alert.category_t.error_notification:
                print("libtorrent:", a.message(), file=sys.stderr)
        if time.time() > deadline:
            sys.exit("seeder: data never became complete")
        time.sleep(0.05)
    print("port", ses.listen_port(), flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.wait(0.5) and os.getppid() == parent:
        ses.pop_alerts()
    up = sum(h.status().all_time_upload for h in handles)
    print(f"seeder: uploaded {up} bytes", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
