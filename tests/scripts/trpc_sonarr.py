"""Drive a Transmission RPC server with PyPI's transmission-rpc the way
Sonarr and Radarr do: add a torrent, poll torrent-get with their field
list until it is complete, read its files, remove it.

Usage: trpc_sonarr.py HOST PORT TORRENT_FILE DOWNLOAD_DIR [USER PASS]
Prints one JSON object with what it saw; exits non-zero on any error.
"""
import json
import sys
import time

import transmission_rpc

# The fields Sonarr's and Radarr's Transmission client asks for.
SONARR_FIELDS = [
    "id", "hashString", "name", "downloadDir", "totalSize", "leftUntilDone",
    "percentDone", "isFinished", "eta", "status", "rateDownload", "rateUpload",
    "secondsDownloading", "secondsSeeding", "errorString", "error",
    "downloadedEver", "uploadedEver", "uploadRatio", "seedRatioLimit",
    "seedRatioMode", "seedIdleLimit", "seedIdleMode", "fileCount", "labels",
    "addedDate", "doneDate", "peersConnected",
]


def main():
    host, port, torrent, download_dir = sys.argv[1:5]
    auth = sys.argv[5:7] if len(sys.argv) >= 7 else [None, None]
    client = transmission_rpc.Client(
        host=host, port=int(port), username=auth[0], password=auth[1], timeout=30
    )
    session = client.get_session()
    with open(torrent, "rb") as f:
        added = client.add_torrent(f, download_dir=download_dir, labels=["tv"])
    polls = 0
    deadline = time.time() + 60
    while True:
        t = client.get_torrent(added.hash_string, arguments=SONARR_FIELDS)
        polls += 1
        if t.fields["percentDone"] == 1.0 and t.fields["leftUntilDone"] == 0:
            break
        if time.time() > deadline:
            raise SystemExit(f"not complete in time: {t.fields}")
        time.sleep(0.2)
    fields = dict(t.fields)
    missing = [f for f in SONARR_FIELDS if f not in fields]
    # Every field the library knows (as scripts that call it bare do).
    full = client.get_torrent(added.id)
    files = [{"name": f.name, "size": f.size, "completed": f.completed} for f in full.get_files()]
    all_torrents = client.get_torrents(arguments=["id", "name", "status"])
    client.remove_torrent(added.id, delete_data=False)
    time.sleep(0.5)
    left = client.get_torrents(arguments=["id"])
    print(json.dumps({
        "rpc_version": session.rpc_version,
        "added_id": added.id,
        "added_name": added.name,
        "polls": polls,
        "missing_fields": missing,
        "fields": fields,
        "status": str(t.status),
        "files": files,
        "tracker_stats": len(full.fields.get("trackerStats", [])),
        "listed": [x.name for x in all_torrents],
        "left_after_remove": [x.id for x in left],
    }))


main()
