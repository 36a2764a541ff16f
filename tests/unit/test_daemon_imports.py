"""The daemon imports aiohttp without its default TLS contexts loading the
system's CAs (api/server.py): those trust nothing, and every context built
after the import loads the CAs as ever."""
import ssl
import subprocess
import sys

PROBE = """
import ssl, sys
from pycontainer.api import server
server.import_aiohttp()
from aiohttp import connector
print(connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"],
      ssl.create_default_context().cert_store_stats()["x509_ca"],
      "set_default_verify_paths" in ssl.SSLContext.__dict__)
"""


def test_aiohttp_imported_without_the_ca_bundle():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout.split()
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert out == ["0", str(system), "False"]
