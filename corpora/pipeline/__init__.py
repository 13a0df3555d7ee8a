"""Import pipeline: readers (bytes -> raw records), records (raw -> validated), images."""
