"""Web Push: alerts that reach an agent's phone or a closed tab (VAPID, RFC 8030/8291/8292)."""
