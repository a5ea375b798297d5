"""Pure contract domain rules: money, credit codes, the service catalog, draft validation, pre-review lint.

Nothing here touches the database or Flask, so every rule can be tested in isolation.
"""
