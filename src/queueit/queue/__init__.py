"""Queue: adding songs, votes, removal, the one ordering rule, and advancing playback."""
