"""Radio I/O and the `wmbus` application: sources, sinks, command line, surveys."""
