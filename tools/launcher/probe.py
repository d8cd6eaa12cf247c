"""``python -m tools.launcher.probe <service>``: exit 0 when this instance answers its health ping.

Kubernetes liveness/readiness for the services without HTTP: the pod's own instance id
(``VALETKEY_INSTANCE``, set to the pod name) is pinged over NATS, as the service's own NATS
user (the pod's ``VALETKEY_NATS_*``), which may ping its own replicas.
"""

from __future__ import annotations

import asyncio
import os
import sys

import nats

from shared.bus import subjects
from shared.bus.access import nats_connect_options
from shared.runtime.settings import RuntimeSettings, load_runtime_settings


async def _probe(service: str, instance: str, runtime: RuntimeSettings) -> bool:
    try:
        options = nats_connect_options(runtime, service=service)
        nc = await nats.connect(runtime.nats_servers, connect_timeout=2, allow_reconnect=False, **options)
    except Exception:
        return False
    try:
        msg = await nc.request(subjects.instance_health_subject(service, instance), b"{}", timeout=2)
        return b'"ok": true' in msg.data or b'"ok":true' in msg.data
    except Exception:
        return False
    finally:
        await nc.close()


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m tools.launcher.probe <service>", file=sys.stderr)
        return 2
    service = sys.argv[1]
    instance = os.environ.get("VALETKEY_INSTANCE", "")
    return 0 if asyncio.run(_probe(service, instance, load_runtime_settings())) else 1


if __name__ == "__main__":
    raise SystemExit(main())
