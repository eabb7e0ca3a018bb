"""Building survey (``wmbus survey``): coverage, reception ratio, collisions, gateway placement.

- ``stats``: per-meter reception statistics from decoded telegrams (recordings or logs)
- ``collisions``: channel statistics from the signal and the cause of each lost telegram
- ``inputs``: reading recordings (decoded and measured in one pass) and JSON-lines logs
- ``mqtt_input``: receivers on an MQTT broker, one location each (``wmbus survey --mqtt``)
- ``analysis``: the survey across locations and its stable JSON form
- ``report`` / ``export``: self-contained HTML, text and CSV
- ``truth``: scoring a survey against the building simulator's truth (``sdr.sim``)
"""
