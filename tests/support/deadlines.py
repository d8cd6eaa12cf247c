"""How long tests wait for real processes to start, on a machine other work may load.

A deadline bounds a failure and never measures speed: a healthy process answers long
before it, so a generous one costs nothing when all is well. On a 2-core machine at a
load average of 13, importing one service took 13 to 30 s and four services starting
together missed a 45 s deadline; two minutes leaves room for that.
"""

PROCESS_START_S = 120.0
