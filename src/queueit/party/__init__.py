"""The party: one host, guests who joined with its code, a queue ordered by votes, the song
playing, crowd skip. Everything a party does is decided here, in one transaction per change,
starting with the party's row lock (guards.py); the one ordering rule is in
queue_repository.py. What a member sees is built by snapshot.py, for HTTP, the TV and the
socket alike."""
