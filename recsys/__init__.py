"""The content-based recommender: one fully convolutional network (FCN) per user.

The entry points (the Sacred scripts, ``lemons``, the page) tune glibc's allocator for it first:
:func:`lemons.allocator.keep_freed_memory`.
"""
