"""Use cases that span domains, and the only place that calls several domains' services:
deleting an account (users + party), the views of a party a socket or a TV gets (users +
party, implementing the realtime transport's ViewSource), adding a track (catalog + party),
editing a profile (users + party)."""
