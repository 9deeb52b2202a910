"""The Beam code of the job: sources, stages and sinks, and what they share (the stage
contract, row records and schema, metric names, clients, the Beam compatibility shims)."""
