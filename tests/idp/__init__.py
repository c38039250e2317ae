"""Identity-provider traffic, transcribed from the vendors' published material and replayed."""
