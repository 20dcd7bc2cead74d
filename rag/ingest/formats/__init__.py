"""Readers for the file formats besides text: each turns one file into text lines."""
