"""Where telegrams go: text and JSON lines, MQTT with Home Assistant discovery, de-duplication."""
