"""Singer tap for chatbot vendors' message reports, conversation logs and statistics."""
