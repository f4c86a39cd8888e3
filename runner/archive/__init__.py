"""The raw store as a web archive: captures out as WARC files (with a CDXJ index), and
captures in from anyone's WARC files."""
