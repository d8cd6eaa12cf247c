"""Tools around the engine, not part of any service: the ``valetkey`` command that starts
it (:mod:`.launcher`) and the generator of the AsyncAPI documents (:mod:`.asyncapi`).
"""
