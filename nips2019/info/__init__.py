"""Information measures: similarity-sensitive entropy, total correlation, InfoNCE, QUE.

Introduced in the chapter :doc:`/book/distributions` (in progress).
"""

__all__: list[str] = []
