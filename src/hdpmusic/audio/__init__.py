"""From audio to frames: file information, the 52-d frame features, and the resumable
parallel extraction of a collection into a corpus file."""
