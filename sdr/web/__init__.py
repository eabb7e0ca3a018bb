"""The live view of ``wmbus listen --web``: meters, spectrum and waterfall, telegrams and radio
health in a browser (docs/web.md)."""
