"""Samples in and out: sample codecs, file names, recording files and SigMF, live sources,
rtl_tcp client and server, and the rtl_433 peer run on the same files.

- ``codecs``: bytes <-> complex samples for cu8, cs8, cs16, cf32
- ``addresses``: ``HOST[:PORT]`` of rtl_tcp servers and MQTT brokers, parsed and formatted
- ``names``: quantities (``2.4M``) and rtl_433-style file-name tokens, parsed and formatted
- ``files``: probing and streaming reads of recordings (raw or SigMF)
- ``writers``: raw and SigMF writers, annotations
- ``recorder``: a live stream written to disk with telegram and gap annotations
- ``sources``: live RTL-SDR, SoapySDR and rtl_tcp sources
- ``rtltcp``: the rtl_tcp protocol, client and replay server
- ``rtl433``: running Debian's rtl_433 on the same files (cross-check and benchmarks)
"""
