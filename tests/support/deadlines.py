"""How long tests wait for real processes to start, on a machine other work may load.

A deadline bounds a failure and never measures speed: a healthy process answers long
before it, so a generous one costs nothing when all is well. Seen on a 2-core machine
shared with other test runs: at a load average of 13, importing one service took 13 to
30 s; at 25, the executor's three toolkits took 51 s to load (11 s of CPU) and the
executor had not answered after 120 s. pytest's own timeout (pyproject.toml) is longer
still, so a slow start fails here, with the services' logs, not as a bare timeout.
"""

PROCESS_START_S = 240.0
