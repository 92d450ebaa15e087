"""A faithful local Wistia Data API, for trying the pipeline and for every test."""
