-- When each peer last sent us anything (Unix ms), for "last seen".
ALTER TABLE peers ADD COLUMN seen_ms INTEGER;
