"""The services, in three layers (``workflows/platform.py`` wires them): the engine in the spirit of Camunda's API
(repository, runtime, tasks, history, timers, jobs), the contract domain (contracts, letters, documents, customers...)
and the use cases that own their transactions and decide who may act (access, drafting, approval, invitations,
signing). None of them knows HTTP.
"""
