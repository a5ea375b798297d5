"""Qianyue's engine and domain: process definitions, instances, tasks, history, contracts.

Nothing in this package imports Flask: every service works from a plain script or test.
"""
