"""Search and discovery: FTS5 keyword search with TF-IDF reranking, similar videos and names."""
