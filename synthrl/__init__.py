"""synthrl: turn a task definition into a better model, with no human-labelled data."""
__version__ = "0.1.0"
