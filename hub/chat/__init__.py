"""Live conversations: fan-out to local sockets, sequencing, resume, AI replies."""
