"""A small registry of our own that serves crafted (or tampered) images, for
the tests that a real registry cannot play: flipped bytes, wrong sizes and
media types, indexes without this platform, connections cut mid-blob."""

import gzip
import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Image:
    """An image in the shape a registry serves it: blobs and a manifest."""

    def __init__(self, layers, arch, compress="gzip"):
        self.blobs = {}
        descs, diff_ids = [], []
        for files in layers:
            tar = layer_tar(files)
            diff_ids.append(digest(tar))
            if compress == "zstd":
                import zstandard
                blob, media = zstandard.ZstdCompressor().compress(tar), ZSTD_LAYER
            else:
                blob, media = gzip.compress(tar, mtime=0), GZIP_LAYER
            self.blobs[digest(blob)] = blob
            descs.append({"mediaType": media, "digest": digest(blob), "size": len(blob)})
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        self.blobs[digest(config)] = config
        self.manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                         "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                    "digest": digest(config), "size": len(config)},
                         "layers": descs}

    @property
    def layers(self):
        return self.manifest["layers"]

    def manifest_bytes(self):
        return json.dumps(self.manifest).encode()


class TamperRegistry:
    """Serves ``repo`` with ``manifests`` (ref -> bytes) and ``blobs``.

    ``cut`` maps a blob digest to how many times its transfer is cut after
    half of its bytes; ``stall`` names a blob whose transfer stops after
    half until ``release`` is set. ``ranges`` records each blob request's
    start offset.
    """

    def __init__(self):
        self.manifests = {}     # ref -> (bytes, media type)
        self.blobs = {}
        self.cut = {}
        self.stall = None
        self.release = threading.Event()
        self.ranges = []
        self.tags = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head=False):
                path = self.path.split("?")[0]
                if path == "/v2/":
                    return self._send(200, b"{}", "application/json", head)
                parts = path.split("/")
                if "tags" in parts:
                    return self._tags()
                kind, ref = parts[-2], parts[-1]
                if kind == "manifests" and ref in outer.manifests:
                    data, media = outer.manifests[ref]
                    return self._send(200, data, media, head, digest(data))
                if kind == "blobs" and ref in outer.blobs:
                    return self._blob(ref, head)
                body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN" if kind ==
                                               "manifests" else "BLOB_UNKNOWN",
                                               "message": "unknown"}]}).encode()
                return self._send(404, body, "application/json", head)

            def _tags(self):
                q = dict(x.split("=") for x in self.path.split("?")[1].split("&")) \
                    if "?" in self.path else {}
                tags = sorted(outer.tags)
                if "last" in q:
                    tags = [t for t in tags if t > q["last"]]
                n = int(q.get("n", 1000))
                page, rest = tags[:n], tags[n:]
                body = json.dumps({"name": "x", "tags": page}).encode()
                self.send_response(200)
                if rest:
                    self.send_header("Link", f'</v2/pyc/app/tags/list?n={n}&last={page[-1]}>'
                                     '; rel="next"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _blob(self, ref, head):
                data = outer.blobs[ref]
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                if not head:
                    outer.ranges.append((ref, start))
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Docker-Content-Digest", ref)
                self.end_headers()
                if head:
                    return
                body = data[start:]
                half = len(body) // 2
                if outer.cut.get(ref, 0) > 0 and half > 0:
                    outer.cut[ref] -= 1
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if outer.stall == ref and half > 0:
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    outer.release.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def _send(self, code, body, media, head, dig=None):
                self.send_response(code)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                if dig:
                    self.send_header("Docker-Content-Digest", dig)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        socks = self.socks = []

        class Server(ThreadingHTTPServer):
            daemon_threads = False      # server_close() joins the handlers

            def get_request(self):
                sock, addr = super().get_request()
                socks.append(sock)
                return sock, addr

        self.server = Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, image, tag="1", manifest=None, media=OCI_MANIFEST):
        self.blobs.update(image.blobs)
        data = manifest if manifest is not None else image.manifest_bytes()
        self.manifests[tag] = (data, media)
        self.manifests[digest(data)] = (data, media)
        return digest(data)

    def stop(self):
        import socket
        self.release.set()
        self.server.shutdown()
        for sock in self.socks:          # wake handlers blocked on a kept-alive read
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server.server_close()
        self.thread.join()
