"""HTTP endpoints, grouped by audience."""
