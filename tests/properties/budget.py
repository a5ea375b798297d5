"""How hard the property tests try: enough examples to find the usual slips, few enough to stay well under a second
per property, and a deadline far above what one example needs, so a loaded CI machine does not fail them. No example
database: nothing is written into the work tree (a failure prints how to reproduce it)."""
from datetime import timedelta

from hypothesis import settings

PROPERTY = settings(max_examples=200, deadline=timedelta(seconds=1), database=None, print_blob=True)
HEAVY = settings(PROPERTY, max_examples=100)  # each example validates a whole draft
