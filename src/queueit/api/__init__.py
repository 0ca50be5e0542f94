"""The HTTP API (`/api/v1`): one router per area. A route parses, authorises, calls one
service or flow and returns; every rule lives below, in the domains and flows."""
