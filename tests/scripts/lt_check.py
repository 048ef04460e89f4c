"""Load a .torrent with libtorrent, check the data beside it, print JSON.

usage: lt_check.py TORRENT SAVE_PATH

Prints {"info_hash", "info_hash_v2", "name", "num_pieces", "total_size",
"files", "trackers", "private", "pieces_verified"} where pieces_verified is
how many pieces libtorrent's own hash check accepted in SAVE_PATH (v2 and
hybrid pieces against their merkle trees too) and info_hash_v2 is the full
v2 hash (null for a v1 torrent).
"""
import json
import sys
import time

import libtorrent as lt


def main():
    torrent, save_path = sys.argv[1], sys.argv[2]
    ti = lt.torrent_info(torrent)
    fs = ti.files()
    files = [
        {"path": fs.file_path(i).replace("\\", "/"), "length": fs.file_size(i)}
        for i in range(fs.num_files())
        if not (fs.file_flags(i) & lt.file_storage.flag_pad_file)
    ]
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "alert_mask": 0,
    })
    h = ses.add_torrent({"ti": ti, "save_path": save_path})
    done = (lt.torrent_status.seeding, lt.torrent_status.finished,
            lt.torrent_status.downloading)
    deadline = time.time() + 60
    while time.time() < deadline and h.status().state not in done:
        time.sleep(0.05)
    st = h.status()
    print(json.dumps({
        # The swarm identity: v1 when there is one (info_hash() would give
        # a hybrid's truncated v2 hash).
        "info_hash": str(ti.info_hashes().v1) if ti.info_hashes().has_v1()
        else str(ti.info_hashes().v2)[:40],
        "info_hash_v2": str(ti.info_hashes().v2) if ti.info_hashes().has_v2() else None,
        "name": ti.name(),
        "num_pieces": ti.num_pieces(),
        "piece_length": ti.piece_length(),
        "total_size": ti.total_size(),
        "private": ti.priv(),
        "files": files,
        "trackers": [[t.url, t.tier] for t in ti.trackers()],
        "pieces_verified": st.num_pieces,
    }))


if __name__ == "__main__":
    main()
