"""Domain operations shared by the SCIM views and the CLI.

Services know nothing about HTTP or click: they take plain values, own their
transactions, and raise ``scimsvc.errors`` exceptions.
"""
