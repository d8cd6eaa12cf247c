"""Every body a realistic session receives validates strictly against the gateway's /openapi.json.

A client generated from Arcade's document in strict mode (openapi-generator's Java client, its Go
client since 7.1) refuses a ``null`` where a field is not nullable and a field its schema does not
declare. The modules of this package drive what an app does against one engine (``conftest.py``,
package-scoped) and check each answer against the document the gateway serves
(docs/arcade-compatibility.md §1.6). Valetkey's extras come only when asked for, and then the
same routes answer them.
"""

SPLINES = "Hooli.ReticulateSplines"
WORKER_SECRET = "wire-worker-secret-0123456789abcdef"
MODEL = "stub-model"
