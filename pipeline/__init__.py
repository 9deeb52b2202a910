"""The launcher: options and their rules, settings, the job graph, and running it (locally or on Dataflow)."""
