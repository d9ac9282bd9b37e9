"""The content-based recommender: one fully convolutional network (FCN) per user."""
