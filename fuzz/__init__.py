"""Coverage-guided fuzzing (atheris) of the code that reads untrusted bytes: `make fuzz`."""
