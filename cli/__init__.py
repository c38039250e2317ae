"""The ``scimsvc`` admin command line: thin click wrappers over ``scimsvc.services``."""
