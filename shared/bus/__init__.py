"""The NATS bus: one subject constant per message and the stream names (:mod:`.subjects`),
serving request-reply subjects (:mod:`.rpc`), the broker, the reply envelope, the RPC client
and the JetStream streams (:mod:`.messaging`), and the transactional outbox that relays
events stored in Redis to JetStream (:mod:`.outbox`).
"""
