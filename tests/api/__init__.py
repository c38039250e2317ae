"""The SCIM API through the Flask test client: protocol, listing, PATCH, auth, tenancy, configuration."""
