"""Sans-IO Wireless M-Bus protocol stack (EN 13757-3/-4/-7, OMS): bytes in, values out."""
