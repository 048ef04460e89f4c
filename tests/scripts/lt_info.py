#!/usr/bin/python3
"""Load every file in a directory with libtorrent's torrent_info and print
one JSON object per file (one per line), for the metainfo differential test.

Usage: /usr/bin/python3 lt_info.py DIR

Each line: {"file": NAME, "ok": bool, "error": str?, "info_hash": hex or
null (v2-only), "info_hash_v2": hex or null (v1-only),
"name": str, "total_size": int, "num_pieces": int, "piece_length": int,
"files": [{"path": "a/b", "size": int, "pad": bool}]}.
A torrent that loads but has no metadata (a "magnet-uri" file) counts as
refused: riffle reads only complete .torrent files.
"""
import json
import os
import sys

import libtorrent as lt


def describe(path):
    try:
        ti = lt.torrent_info(path)
    except Exception as e:  # libtorrent raises RuntimeError for bad files
        return {"ok": False, "error": str(e)}
    if not ti.is_valid():
        return {"ok": False, "error": "no metadata"}
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        flags = fs.file_flags(i)
        files.append({
            "path": fs.file_path(i),
            "size": fs.file_size(i),
            "pad": bool(flags & lt.file_storage.flag_pad_file),
        })
    return {
        "ok": True,
        "info_hash": str(ti.info_hashes().v1) if ti.info_hashes().has_v1() else None,
        "info_hash_v2": str(ti.info_hashes().v2) if ti.info_hashes().has_v2() else None,
        "name": ti.name(),
        "total_size": ti.total_size(),
        "num_pieces": ti.num_pieces(),
        "piece_length": ti.piece_length(),
        "files": files,
    }


def main():
    d = sys.argv[1]
    for name in sorted(os.listdir(d)):
        out = describe(os.path.join(d, name))
        out["file"] = name
        print(json.dumps(out))


if __name__ == "__main__":
    main()
