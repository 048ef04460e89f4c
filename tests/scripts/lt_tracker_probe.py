#!/usr/bin/python3
"""A libtorrent downloader that reports what its tracker answers (for
tests/tests/interop_riffle_tracker.rs).

usage:
  lt_tracker_probe.py SAVE_PATH TORRENT [--hold] [--listen IP] [--num-want N]
      Add TORRENT as a download into SAVE_PATH (session settings as
      lt_swarm.py; listening, announcing and dialling from IP, default
      127.0.0.1; asking trackers for N peers, default libtorrent's) and
      wait up to 20 s for the first answer of its tracker.
      Prints {"reply": bool, "num_peers": N or null, "error": MESSAGE or
      null, "failure_reason": TEXT or null} -- num_peers from the
      tracker_reply_alert, the rest from a tracker_error_alert. Without
      --hold it then exits; with --hold it keeps running (a downloader the
      tracker keeps counting) until stdin closes, at most 5 minutes.

Alerts go to stderr.
"""
import argparse
import json
import sys
import time

import libtorrent as lt

from lt_swarm import session


def main():
    p = argparse.ArgumentParser()
    p.add_argument("save_path")
    p.add_argument("torrent")
    p.add_argument("--hold", action="store_true")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--num-want", type=int, default=None)
    args = p.parse_args()
    extra = {} if args.num_want is None else {"num_want": args.num_want}
    ses = session(args.listen, extra)
    ti = lt.torrent_info(args.torrent)
    ses.add_torrent({"ti": ti, "save_path": args.save_path})
    out = {"reply": False, "num_peers": None, "error": None, "failure_reason": None}
    deadline = time.time() + 20
    done = False
    while time.time() < deadline and not done:
        for a in ses.pop_alerts():
            name = type(a).__name__
            print("%s: %s" % (name, a.message()), file=sys.stderr, flush=True)
            if name == "tracker_reply_alert":
                out["reply"] = True
                out["num_peers"] = a.num_peers
                done = True
            elif name == "tracker_error_alert":
                out["error"] = a.message()
                try:
                    out["failure_reason"] = a.failure_reason()
                except Exception:  # older bindings
                    pass
                done = True
        time.sleep(0.02)
    print(json.dumps(out), flush=True)
    if args.hold:
        import threading
        closed = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
        end = time.time() + 300
        while not closed.is_set() and time.time() < end:
            for a in ses.pop_alerts():
                print("%s: %s" % (type(a).__name__, a.message()), file=sys.stderr, flush=True)
            time.sleep(0.05)


if __name__ == "__main__":
    main()
