"""Directories that provision users by being read (a pull), not by calling SCIM: Google Workspace."""
