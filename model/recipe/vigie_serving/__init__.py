"""Stage 2 of the model recipe: the served graph, compiled from the trained model."""
