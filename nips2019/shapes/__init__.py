"""Shapes as unions of smooth convexes (a 2-D CvxNet).

Introduced in the chapter :doc:`/book/generative` (in progress).
"""

__all__: list[str] = []
