"""JSON state files: written to a temp file and renamed, so a reader sees the
old or the new content, never half of it."""
import json
import os


def write_json_atomic(path, data):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)
