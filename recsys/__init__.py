"""The content-based recommender: one fully convolutional network (FCN) per user."""

from lemons.allocator import keep_freed_memory

keep_freed_memory()  # large tensors are reused instead of re-mapped (about 2x faster on CPU)
