"""Log integrity: stored events and the audit log sealed in a hash chain, and its verification.

``chain`` holds the seal format (pure functions the stores use to seal); ``verify`` walks a
store's chain and reports the first broken batch.
"""
