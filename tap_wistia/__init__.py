"""tap-wistia: a Singer tap for Wistia viewing activity."""
