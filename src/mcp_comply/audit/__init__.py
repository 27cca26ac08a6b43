"""The tamper-evident audit trail: hash-chained JSON Lines, RFC 6962 Merkle checkpoints in the
C2SP signed-note form, a writer thread with group commit, redaction, and a streaming verifier."""
