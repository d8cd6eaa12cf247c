"""OAuth tokens: the token model and its time rules (:mod:`.model`), their encrypted storage
in Redis per (user, provider) connection (:mod:`.store`), and reading a token that is never
served expired (:mod:`.freshness`). The token messages are contracts
(:mod:`shared.contracts.tokens`).
"""
