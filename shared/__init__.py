"""valetkey's shared code, as packages that say what they are: message contracts
(:mod:`.contracts`), the NATS bus (:mod:`.bus`), OAuth tokens (:mod:`.tokens`), providers and
their registry (:mod:`.providers`), what a service process runs on (:mod:`.runtime`), and the
one error tree with stable codes (:mod:`.errors`).
"""
