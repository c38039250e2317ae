"""The SCIM protocol on its own (scimsvc.scim): no app, no database."""
