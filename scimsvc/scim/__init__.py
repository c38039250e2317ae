"""The SCIM 2.0 protocol (RFC 7643, RFC 7644), pure: no Flask, no SQLAlchemy, no models."""
