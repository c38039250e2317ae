"""The use cases shared by the HTTP API and the CLI.

Services know nothing about HTTP or click: they take plain values, own their
transactions, and raise ``scimsvc.errors`` exceptions.
"""
